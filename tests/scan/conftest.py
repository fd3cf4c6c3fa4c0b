"""The scan tests' builds: the small bank for a roster of three and as two anonymous
versions (PDF only), built once per session; and a helper that scans them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # synth.py
SMALL_BANK = HERE.parent / "fixtures" / "banks" / "small"
ROSTER = "id,name\ns1001,Ann One\ns1002,Bo Two\ns1003,Cy Three\n"


@pytest.fixture(scope="session")
def roster_build(tmp_path_factory) -> Path:
    from mmexam.build import build_exam

    root = tmp_path_factory.mktemp("scan-roster")
    (root / "roster.csv").write_text(ROSTER)
    out = root / "build"
    build_exam(
        SMALL_BANK, out, seed=1, roster=root / "roster.csv", formats=["pdf"], key=False, jobs=1
    )
    return out


@pytest.fixture(scope="session")
def versions_build(tmp_path_factory) -> Path:
    from mmexam.build import build_exam

    out = tmp_path_factory.mktemp("scan-versions") / "build"
    build_exam(SMALL_BANK, out, seed=1, variants=2, formats=["pdf"], key=False, jobs=1)
    return out


@pytest.fixture(scope="session")
def other_exam(tmp_path_factory) -> Path:
    """The same bank built with another seed: another exam id."""
    from mmexam.build import build_exam

    out = tmp_path_factory.mktemp("scan-other") / "build"
    build_exam(SMALL_BANK, out, seed=2, formats=["pdf"], key=False, jobs=1)
    return out

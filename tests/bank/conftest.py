"""Fixtures of the bank tests: broken banks built from the good one, an isolated cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
VALIDATE = FIXTURES / "banks" / "validate"
GOOD = VALIDATE / "good"
BROKEN = VALIDATE / "broken"
GRADERS = FIXTURES / "graders"


@pytest.fixture(scope="session")
def _math_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("math-cache")


@pytest.fixture(autouse=True)
def isolated_cache(monkeypatch, _math_cache) -> Path:
    """Formula verdicts go to a per-session folder, never to the user's cache."""
    monkeypatch.setenv("MMEXAM_CACHE_DIR", str(_math_cache))
    return _math_cache


@pytest.fixture
def make_bank(tmp_path):
    """The good test bank with a broken fixture's files laid over it."""

    def make(broken: str | None = None) -> Path:
        root = tmp_path / "bank"
        shutil.copytree(GOOD, root)
        if broken is not None:
            for path in (BROKEN / broken).iterdir():
                if path.name == ".keep":
                    continue
                shutil.copy(path, root / path.name)
            if broken == "blueprint-missing":
                (root / "exam.yaml").unlink()
        return root

    return make

"""Shared fixtures of the build tests: the small bank, built once per module."""

from __future__ import annotations

import shutil

import pytest
from small_bank import SMALL_BANK


@pytest.fixture(scope="module")
def small_build(tmp_path_factory):
    """The small bank built once (seed 1, PDF + HTML, with keys): (bank copy, result)."""
    from mmexam.build import build_exam

    root = tmp_path_factory.mktemp("small-build")
    bank = root / "small"
    shutil.copytree(SMALL_BANK, bank)
    result = build_exam(bank, root / "out", seed=1)
    return bank, result

"""A small graded synthetic class, made once per session by the benchmark's own generator."""

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def synthetic_class(tmp_path_factory) -> tuple[Path, dict[tuple[str, str], str]]:
    """40 students with one injected pair of each kind: (folder, injected pairs)."""
    bench = load(REPO / "benchmarks" / "integrity_class.py", "integrity_class")
    work = tmp_path_factory.mktemp("class")
    injected = bench.make_class(work, students=40, seed=3, per_kind=1)
    return work, injected

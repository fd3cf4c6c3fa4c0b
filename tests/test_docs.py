"""The manual: docs/ builds with `mkdocs build --strict`, and the README stays a front door."""

import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README_LIMIT = 6 * 1024


def test_the_docs_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install -e '.[test]')")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(REPO / "mkdocs.yml"),
            "--site-dir",
            str(tmp_path / "site"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "index.html").is_file()


def test_the_readme_is_a_front_door():
    readme = (REPO / "README.md").read_bytes()
    assert len(readme) <= README_LIMIT, f"README.md is {len(readme)} bytes, over {README_LIMIT}"


def test_the_readme_keeps_the_two_commands_and_the_ci_runs_the_test_command():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", readme, re.DOTALL)
    setup, tests = blocks[0].strip(), blocks[1].strip()
    assert "mmexam validate" in setup and "mmexam build" in setup and "mmexam grade" in setup
    assert tests in (REPO / ".ci" / "run").read_text(encoding="utf-8")


def test_every_local_link_of_the_readme_exists():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    assert any(link.startswith("docs/") for link in links)
    missing = [link for link in links if "://" not in link and not (REPO / link).exists()]
    assert not missing, missing


def test_the_writing_checks_example_declares_checks_with_mmexam_checks(tmp_path):
    page = (REPO / "docs" / "checks.md").read_text(encoding="utf-8")
    block = re.search(r"```python\n(.*?)```", page, re.DOTALL)
    assert block is not None, "docs/checks.md has no python example"
    assert "from mmexam.checks import" in block.group(1)
    (tmp_path / "checks.py").write_text(block.group(1), encoding="utf-8")
    names = [check.name for check in runpy.run_path(str(tmp_path / "checks.py"))["CHECKS"]]
    assert "gated_fusion.values" in names and "gated_fusion.gates_sum_to_one" in names

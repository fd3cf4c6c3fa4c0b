"""The shipped bank's student bundle, exported once per test session."""

import pytest
from typer.testing import CliRunner

from mmexam.cli import app


@pytest.fixture(scope="session")
def shipped_bundle(tmp_path_factory):
    """(folder, export output) of `mmexam practice export` on the shipped bank."""
    out = tmp_path_factory.mktemp("bundle") / "practice"
    result = CliRunner().invoke(
        app, ["practice", "export", "--out", str(out), "--include-exam-items"]
    )
    assert result.exit_code == 0, result.output
    return out, result.output

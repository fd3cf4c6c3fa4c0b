"""Every mmexam command has help text, and the docs (docs/*.md) tell users about it."""

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mmexam.cli import app

REPO = Path(__file__).resolve().parent.parent


def command_paths(command, prefix=()):
    """("build",), ("bank", "stats"), ... for every command under the app."""
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        path = (*prefix, name)
        yield path
        yield from command_paths(sub, path)


COMMANDS = list(command_paths(typer.main.get_command(app)))


def test_the_app_has_the_verbs_of_all_three_users():
    verbs = {path[0] for path in COMMANDS}
    assert {"validate", "schema", "bank", "build", "check", "grade", "practice"} <= verbs


def docs_text() -> str:
    """Every page of the manual, as one text."""
    return "\n".join(
        page.read_text(encoding="utf-8") for page in sorted((REPO / "docs").glob("*.md"))
    )


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_has_help_and_a_docs_entry(path):
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    summary = result.output.split("Usage:", 1)[1].split("\n", 2)[2].strip()
    assert summary, f"mmexam {' '.join(path)} has no help text"
    command = f"mmexam {' '.join(path)}"
    assert command in docs_text(), f"no page of docs/ mentions {command}"

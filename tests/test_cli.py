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


# ---------------------------------------------------------------- help, version, exit status


def help_of(*path: str) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("path", [(), *COMMANDS], ids=lambda p: " ".join(p) or "mmexam")
def test_help_has_no_type_placeholders(path):
    output = help_of(*path)
    for placeholder in ("<bool>", "<str>", "<int", "<path>", "<list", "<float>", "<dir>"):
        assert placeholder not in output, f"mmexam {' '.join(path)} --help:\n{output}"
    help_row = next(line for line in output.splitlines() if "--help" in line)
    assert "Show this message and exit." in help_row.split("--help", 1)[1].strip(" │")


def test_options_show_readable_metavars():
    output = help_of("grade", "run")
    rows = {line.split()[1]: line for line in output.splitlines() if line.startswith("│ --")}
    assert " N " in rows["--jobs"] and " cpu|cuda " in rows["--device"]
    assert " FILE " in rows["--variants"] and " DIR " in rows["--out"]
    assert " K/N " in rows["--shard"]
    usage = [line.strip() for line in output.splitlines() if "Usage:" in line]
    assert usage[0].endswith(" grade run [OPTIONS] [SUBMISSIONS]"), usage
    assert " init [OPTIONS] FOLDER " in help_of("init")


def test_docstrings_reflow_into_paragraphs():
    # init's docstring breaks "…ship in the package. / Put a real exam's…" across lines
    output = help_of("init")
    assert "ship in the package. Put a real exam's questions" in output, output
    for path in COMMANDS:
        command = typer.main.get_command(app)
        for name in path:
            command = command.commands[name]
        for paragraph in (command.help or "").split("\n\n"):
            lines = paragraph.splitlines()
            listed = any(line[:1] in "-* " for line in lines[1:])
            assert len(lines) == 1 or listed, f"mmexam {' '.join(path)}: {paragraph!r}"


@pytest.mark.parametrize(
    ("group", "options"),
    [("grade", ["--jobs", "--force", "--device"]), ("scan", ["--dpi", "--build"])],
)
def test_a_group_help_shows_its_default_actions_options(group, options):
    output = help_of(group)
    for option in options:
        assert f"│ {option} " in output, output
    assert "Commands" in output


def test_version():
    from importlib.metadata import version

    for flag in ("--version", "-V"):
        result = CliRunner().invoke(app, [flag])
        assert result.exit_code == 0, result.output
        assert result.output.strip() == f"mmexam {version('mmexam')}"


def test_the_exit_codes_are_documented():
    output = help_of()
    assert "Exit status: 0 done" in output and "130" in output
    assert "130" in (REPO / "docs" / "index.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "args",
    [
        ["--nosuch"],
        ["nosuchcommand"],
        ["grade", "--nosuch"],
        ["grade", "run", "--jobs", "many"],
        ["grade", "run", "--device", "tpu", "subs"],
        ["grade", "run"],  # no SUBMISSIONS and no --database
        ["grade", "export", "--to", "d2l"],
        ["bank", "export", "--to", "blackboard"],
        ["build", "--variants", "0"],
        ["validate", "--bogus"],
        ["init"],
        ["scan", "--dpi", "1", "x.pdf"],
    ],
    ids=" ".join,
)
def test_usage_errors_exit_2(args, tmp_path):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_errors_in_the_input_exit_1(tmp_path):
    bank = tmp_path / "bank"
    (bank).mkdir()
    (bank / "exam.yaml").write_text("title: [unclosed\n")
    result = CliRunner().invoke(app, ["validate", str(bank)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, tmp_path):
    import mmexam.bank

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(mmexam.bank, "check_bank", interrupted)
    result = CliRunner().invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 130, result.output
    assert result.output.strip() == "interrupted; run again to resume"

"""The Typer application that every command module registers on.

One place decides what the user sees when a command does not simply finish:

- exit status and the line on stderr (`MmexamGroup.invoke`): 0 done; 1 the input
  is wrong (`MmexamError`: a malformed bank, a bad submission, a missing file),
  one line `error: ...`; 2 the command line is wrong (Click's own usage errors,
  and `mmexam.errors.UsageError`, also one line `error: ...`); 130 interrupted
  (Ctrl-C), one line;
- the help (`tidy_help`, `_metavar`): paragraphs that reflow, Click's metavars
  (FILE, DIR, N, cpu|cuda, none after a flag), a default action's options in its
  group's help (`DefaultCommandGroup`).
"""

import inspect
import re
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any, ClassVar

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

from mmexam.errors import MmexamError, UsageError

EXIT_CODES = (
    "Exit status: 0 done; 1 the input is wrong (a bank, roster or submission: one line "
    "'error: ...' with file:line), or for check and practice check a check failed; 2 the "
    "command line is wrong (unknown option, missing argument, bad value); 130 interrupted "
    "by Ctrl-C."
)
INTERRUPTED = "interrupted; run again to resume"

NoSandboxOption = Annotated[
    bool,
    typer.Option(
        "--no-sandbox",
        help="Run student code WITHOUT bubblewrap (rlimits only: it can read your files and "
        "use the network). Without this flag a machine lacking bubblewrap refuses to run it; "
        "with it, every output says so.",
    ),
]
CourseOption = Annotated[
    Path | None,
    typer.Option(
        "--course",
        help="A course folder from `mmexam init` (default: the one holding the working "
        "directory, else the shipped sample).",
        file_okay=False,
    ),
]
IdColumnOption = Annotated[
    str | None,
    typer.Option("--id-column", metavar="COLUMN", help="The roster column with the student ids."),
]
NameColumnOption = Annotated[
    str | None,
    typer.Option("--name-column", metavar="COLUMN", help="The roster column with the names."),
]


# ---------------------------------------------------------------- help
#
# Typer 0.29 renders its rich help from `display_type_rich`, which gives a
# `<type>` label for every parameter, flags included (`--help <bool>`), lists
# as `<list[str]>`, ranges as `<int range>`: its plain formatter skips flags,
# the rich one does not. mmexam's help follows Click's convention instead: no
# placeholder after a flag, a metavar (the option's own, else FILE, DIR, PATH,
# N, NUMBER, TEXT or the choices) after an option that takes a value, and an
# argument shown by its upper-case name.


def _metavar(param: Any) -> str | None:
    """What the help shows after an option: None for a flag, else a readable metavar."""
    if param.metavar is not None:
        return param.metavar
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    desc = param.type_descriptor
    if desc.is_choice:
        return "|".join(str(getattr(c, "value", c)) for c in desc.choices or ())
    if desc.is_path:
        return {"file": "FILE", "directory": "DIR", "dir": "DIR"}.get(desc.path_type, "PATH")
    annotation = _element(desc.annotation) if desc.is_list else desc.annotation
    name = {int: "N", float: "NUMBER", bool: "BOOLEAN"}.get(annotation, "TEXT")
    return f"{name}..." if desc.is_list or param.nargs != 1 else name


def _element(annotation: Any) -> Any:
    """The element type of `list[X]`."""
    args = getattr(annotation, "__args__", None) or (str,)
    return args[0]


def _argument_usage(param: Any) -> str:
    name = param.display_name_raw + ("..." if param.nargs != 1 else "")
    return name if param.required else f"[{name}]"


TyperOption.display_type_rich = lambda self, ctx: _metavar(self)  # type: ignore[method-assign]
TyperArgument.display_type_rich = lambda self, ctx: None  # type: ignore[method-assign]
TyperArgument.display_name_raw = property(  # type: ignore[method-assign,assignment]
    lambda self: self.metavar or (self.name or "").upper()
)
TyperArgument._usage_display_name = _argument_usage  # type: ignore[method-assign,assignment]

_KEEP_LINES = re.compile(r"^(\s|[-*•] |\d+\. )")


def reflow(text: str | None) -> str | None:
    """A docstring's paragraphs, each on one line: the help wraps them to the terminal,
    instead of keeping the docstring's hard line breaks mid-sentence. A paragraph whose
    lines are a list or indented (an example block) keeps its lines."""
    if not text:
        return text
    paragraphs = inspect.cleandoc(text).split("\n\n")
    out = []
    for paragraph in paragraphs:
        lines = paragraph.splitlines()
        keep = paragraph.startswith("\b") or any(_KEEP_LINES.match(line) for line in lines[1:])
        out.append(paragraph if keep else " ".join(line.strip() for line in lines))
    return "\n\n".join(out)


def tidy_help(command: Any) -> None:
    """Reflow the help of a command and, for a group, of every command below it."""
    command.help = reflow(command.help)
    for sub in getattr(command, "commands", {}).values():
        tidy_help(sub)


class DefaultCommandGroup(TyperGroup):
    """A group with a default action: `mmexam grade ARGS` means `mmexam grade run ARGS`
    unless ARGS starts with a subcommand; its help shows that action's options too."""

    default_command: ClassVar[str] = "run"
    run_without_args: ClassVar[bool] = False  # `mmexam serve` alone runs; `mmexam grade` helps

    # Typed loosely: the base class's Context lives in typer's private click copy.
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        help_names = ctx.help_option_names
        if (not args and self.run_without_args) or (
            args and args[0] not in self.commands and args[0] not in help_names
        ):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        if not ctx.meta.get(_SHOWING_HELP):
            return params
        default = self.commands[self.default_command]
        ours = {name for p in params for name in p.opts}
        extra = [p for p in default.get_params(ctx) if not ours.intersection(p.opts)]
        return [*extra, *params]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        ctx.meta[_SHOWING_HELP] = True
        try:
            super().format_help(ctx, formatter)
        finally:
            ctx.meta[_SHOWING_HELP] = False

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        if not ctx.meta.get(_SHOWING_HELP):
            return super().collect_usage_pieces(ctx)
        default = self.commands[self.default_command]
        return [*default.collect_usage_pieces(ctx), "| COMMAND [ARGS]..."]


_SHOWING_HELP = "mmexam.showing_help"


# ---------------------------------------------------------------- errors


class MmexamGroup(TyperGroup):
    """The root: every command's errors become one line and an exit status (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        tidy_help(self)

    # Typed loosely: the base class's Context lives in typer's private click copy.
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except MmexamError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(2 if isinstance(error, UsageError) else 1) from None
        except KeyboardInterrupt:
            typer.echo(INTERRUPTED, err=True)
            raise typer.Exit(130) from None


def package_version() -> str:
    """mmexam's installed version ('unknown' when run from a source tree never installed)."""
    try:
        return version("mmexam")
    except PackageNotFoundError:
        return "unknown"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"mmexam {package_version()}")
        raise typer.Exit(0)


app = typer.Typer(
    cls=MmexamGroup,
    help="Author, render and autograde the Multimodal AI midterm.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            callback=_show_version,
            is_eager=True,
            help="Print mmexam's version and exit.",
        ),
    ] = False,
) -> None:
    """Author, render and autograde the Multimodal AI midterm."""


def main() -> None:
    app(prog_name="mmexam")
    sys.exit(0)

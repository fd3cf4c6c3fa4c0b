"""`mmexam schema`: the JSON Schema of a bank file (or of exam.yaml) for editors."""

from __future__ import annotations

from typing import Annotated

import typer

from mmexam.cli.app import app


@app.command()
def schema(
    blueprint: Annotated[
        bool, typer.Option("--blueprint", help="The schema of exam.yaml instead of a bank file.")
    ] = False,
) -> None:
    """Print the JSON Schema of a bank file, for editors with a YAML language server.

    Example: mmexam schema > bank.schema.json, then put
    '# yaml-language-server: $schema=bank.schema.json' at the top of a bank file.
    """
    import json

    from mmexam.bank.schema import bank_schema

    typer.echo(json.dumps(bank_schema(blueprint=blueprint), indent=2, ensure_ascii=False))

"""JSON Schema of the bank's YAML files, for editors (draft-07: what YAML language servers read)."""

from __future__ import annotations

from typing import Any

from mmexam.bank.models import BankFile, Blueprint


def bank_schema(*, blueprint: bool = False) -> dict[str, Any]:
    """The JSON Schema of a question file, or of exam.yaml with `blueprint=True`."""
    model = Blueprint if blueprint else BankFile
    schema = model.model_json_schema(ref_template="#/definitions/{model}")
    definitions = schema.pop("$defs", {})
    out: dict[str, Any] = {"$schema": "http://json-schema.org/draft-07/schema#"}
    out.update(schema)
    out["title"] = "mmexam exam blueprint (exam.yaml)" if blueprint else "mmexam question file"
    if definitions:
        out["definitions"] = definitions
    return out

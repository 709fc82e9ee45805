"""Checks on the answer's form rather than its content: JSON schema and length.

Structured output is only validated when the request asked for it (``response_format`` of
type ``json_schema`` or ``json_object``); a client that asked for JSON and gets something it
cannot parse is better served by a fallback than by a crash on its side.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from guard.checks.base import CheckInput, CheckOutcome


def requested_schema(response_format: dict[str, Any] | None) -> tuple[str | None, dict[str, Any] | None]:
    """The kind of structured output asked for and its schema (None when there is none)."""
    if not response_format:
        return None, None
    kind = response_format.get("type")
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return kind, schema if isinstance(schema, dict) else None
    if kind == "json_object":
        return kind, None
    return None, None


def schema_errors(answer: str, kind: str, schema: dict[str, Any] | None) -> list[str]:
    try:
        value = json.loads(answer)
    except json.JSONDecodeError as e:
        return [f"answer is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}"]
    if kind == "json_object" and not isinstance(value, dict):
        return ["answer is JSON but not an object"]
    if schema is None:
        return []
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    return [
        "schema: " + ("/".join(str(p) for p in e.absolute_path) or "(root)") + ": " + e.message
        for e in errors[:5]
    ]


class JsonSchemaCheck:
    name = "json_schema"

    def run(self, inp: CheckInput) -> CheckOutcome:
        kind, schema = requested_schema(inp.response_format)
        if kind is None:
            return CheckOutcome(self.name, passed=True, details={"skipped": "no structured output requested"})
        errors = schema_errors(inp.answer, kind, schema)
        return CheckOutcome(self.name, passed=not errors, violations=errors, details={"kind": kind})


class LengthCheck:
    name = "length"

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars

    def run(self, inp: CheckInput) -> CheckOutcome:
        n = len(inp.prior) + len(inp.answer)
        if n <= self.max_chars:
            return CheckOutcome(self.name, passed=True, details={"chars": n})
        return CheckOutcome(
            self.name,
            passed=False,
            violations=[f"answer has {n} characters, the limit is {self.max_chars}"],
            details={"chars": n},
        )

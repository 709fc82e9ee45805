"""Validation against OpenAI's own OpenAPI document (a trimmed copy in tests/fixtures/openai/).

The copy keeps the ``components.schemas`` that the completion, error and model-list responses
reach, as published (source, commit and version are in the file). The document is OpenAPI 3.1
but still marks nullable fields the 3.0 way (``nullable: true``); that is translated here into
JSON Schema (``null`` added to the type or enum) so ``jsonschema`` reads it as the SDKs do.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_FILE = Path(__file__).parent / "fixtures" / "openai" / "schemas.json"


def _nullable(node: Any) -> Any:
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        if "$ref" in out:
            ref = {"$ref": out.pop("$ref")}
            return {**out, "anyOf": [ref, {"type": "null"}]}
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


@lru_cache(maxsize=1)
def spec() -> dict[str, Any]:
    return json.loads(SPEC_FILE.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _registry() -> tuple[Registry, dict[str, Any]]:
    doc = {"components": {"schemas": _nullable(copy.deepcopy(spec()["schemas"]))}}
    resource = Resource.from_contents(doc, default_specification=DRAFT202012)
    return Registry().with_resource("openai", resource), doc


def validate(name: str, instance: Any) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``instance`` is a valid ``name``."""
    registry, doc = _registry()
    schema = {"$ref": f"openai#/components/schemas/{name}"}
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        path = "/".join(str(p) for p in e.absolute_path)
        raise AssertionError(f"not a valid {name} at /{path}: {e.message}\n{json.dumps(instance)[:2000]}")
    assert name in doc["components"]["schemas"]

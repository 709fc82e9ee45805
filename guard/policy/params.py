"""Which backend-specific body parameters a policy's ``input.forbid_params`` refuses.

Servers spell the same capability several ways: vLLM has ``guided_json``, ``guided_regex``,
``guided_choice``, ``guided_grammar`` and now ``structured_outputs``; SGLang takes ``regex``,
``json_schema`` and ``ebnf``; llama.cpp ``grammar`` and ``json_schema``; the OpenAI API itself
``response_format``. Forbidding one name only would leave the others open, so a name stands for
its family, and a name ending in ``*`` is a prefix (``guided_*``).
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

# Constrained decoding: the client dictates the shape of the answer token by token.
_CONSTRAINED = frozenset({
    "guided_json", "guided_regex", "guided_choice", "guided_grammar", "guided_decoding_backend",
    "guided_whitespace_pattern", "guided_decoding", "structured_outputs", "regex", "ebnf", "grammar",
    "json_schema", "response_format",
})
# Steering the token distribution directly.
_LOGITS = frozenset({"logit_bias", "logits_processors", "allowed_token_ids", "bad_words"})

FAMILIES: tuple[frozenset[str], ...] = (_CONSTRAINED, _LOGITS)


def covered(name: str) -> frozenset[str]:
    """The parameter names one ``forbid_params`` entry stands for (exact names; globs aside)."""
    for family in FAMILIES:
        if name in family:
            return family
    return frozenset({name})


def _active(name: str, value: Any) -> bool:
    """Whether a parameter asks for anything: ``null`` and ``response_format: {"type": "text"}``
    are the default behaviour. An empty value still counts (``guided_json: {}`` constrains the
    output to JSON), so a forbidden parameter cannot be slipped through as ``{}``."""
    if value is None:
        return False
    if name == "response_format" and isinstance(value, dict) and value.get("type") in (None, "text"):
        return False
    return True


def forbidden_param(forbid: list[str], body: dict[str, Any]) -> str | None:
    """The first body parameter the policy refuses, or None."""
    if not forbid:
        return None
    exact: set[str] = set()
    globs: list[str] = []
    for entry in forbid:
        if any(c in entry for c in "*?["):
            globs.append(entry)
        else:
            exact |= covered(entry)
    for key, value in body.items():
        if (key in exact or any(fnmatchcase(key, g) for g in globs)) and _active(key, value):
            return key
    return None

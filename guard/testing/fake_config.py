"""What the fake backend should do: one frozen model, set per server and overridable per request.

Per-request overrides exist so one running backend can serve a test that needs a fault next to
tests that need a normal answer. They come from two places, so they survive whichever of the
two a proxy under test forwards:

- headers ``x-fake-<option>`` with dashes for underscores (``x-fake-ttft-ms: 200``);
- a body field ``"fake": {"ttft_ms": 200}`` (the OpenAI SDK's ``extra_body={"fake": {...}}``).

The body wins over headers, and both win over the server's configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Fault = Literal["hang", "slow_headers", "drop", "garbage", "status", "no_usage"]
ReasoningMode = Literal["none", "field", "think"]
ErrorStyle = Literal["dialect", "plain", "html"]

HEADER_PREFIX = "x-fake-"
BODY_FIELD = "fake"


class FakeConfig(BaseModel):
    """Behaviour of the fake backend for one request."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ttft_ms: float = Field(0.0, ge=0, description="delay before the first token")
    tpot_ms: float = Field(0.0, ge=0, description="delay between tokens")
    tokens: int = Field(16, ge=0, description="answer length in tokens (ignored when text is set)")
    text: str | None = Field(None, description="fixed answer text instead of deterministic lorem")
    reasoning: ReasoningMode = Field("none", description="field: reasoning_content; think: <think> in content")
    reasoning_tokens: int = Field(8, ge=0)
    reasoning_text: str | None = None
    dialect: str = Field("openai", description="response shape, a key of guard.testing.dialects.DIALECTS")
    model: str = Field("fake-model", description="model id listed by /v1/models and used when the request has none")
    fault: Fault | None = None
    status: int = Field(500, ge=100, le=599, description="status code for fault=status")
    error_style: ErrorStyle = Field("dialect", description="dialect: OpenAI-shaped error JSON of the dialect")
    error_message: str = "fake backend error"
    slow_headers_ms: float = Field(1000.0, ge=0, description="delay before the headers for fault=slow_headers")
    drop_after: int | None = Field(None, ge=0, description="tokens sent before fault=drop closes (default half)")
    choice_texts: tuple[str, ...] | None = Field(
        None, description="a whole answer honours the request's n: choice i answers choice_texts[i % len] (text otherwise)"
    )


class OverrideError(ValueError):
    """A per-request override that does not validate; answered with 400 so the test sees why."""


def header_overrides(headers: Mapping[str, str]) -> dict[str, Any]:
    """Options from ``x-fake-*`` headers, names normalised to field names."""
    found: dict[str, Any] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower.startswith(HEADER_PREFIX):
            found[lower[len(HEADER_PREFIX):].replace("-", "_")] = value
    return found


def body_overrides(body: Any) -> dict[str, Any]:
    """Options from the ``fake`` body field, if the body is an object that has one."""
    if not isinstance(body, dict):
        return {}
    value = body.get(BODY_FIELD)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise OverrideError(f"body field {BODY_FIELD!r} must be an object")
    return dict(value)


def apply_overrides(base: FakeConfig, overrides: Mapping[str, Any]) -> FakeConfig:
    """``base`` with ``overrides`` applied and validated (strings from headers are coerced)."""
    if not overrides:
        return base
    try:
        return FakeConfig.model_validate({**base.model_dump(), **overrides})
    except ValidationError as e:
        raise OverrideError(str(e)) from e


def effective_config(base: FakeConfig, headers: Mapping[str, str], body: Any) -> FakeConfig:
    """The configuration one request runs with: server config, then headers, then body."""
    overrides = header_overrides(headers)
    overrides.update(body_overrides(body))
    return apply_overrides(base, overrides)

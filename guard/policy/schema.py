"""The policy file format: pydantic models, validated once at start-up.

A policy says what a request may look like (input template, sampling bounds), what is
checked in the answer (output checks) and what happens for each confidence band (decision).
Every model forbids unknown keys so a typo in YAML is an error, not a silently ignored rule.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- matching


class Match(Strict):
    """Which requests a policy applies to. Glob patterns; the most specific match wins."""

    models: list[str] = ["*"]
    tenants: list[str] = ["*"]


# ---------------------------------------------------------------- input template


class Example(Strict):
    question: str
    answer: str


class Template(Strict):
    """The parts of a well-formed prompt. Strings may use ``{variables}`` from the request."""

    role: str | None = None
    instruction: str | None = None
    context: str | None = None
    examples: list[Example] = []
    question: str = "{question}"
    styles: dict[str, str] = {}
    default_style: str | None = None

    @model_validator(mode="after")
    def _default_style_known(self) -> "Template":
        if self.default_style is not None and self.default_style not in self.styles:
            raise ValueError(f"default_style {self.default_style!r} is not one of styles")
        return self


class InputPolicy(Strict):
    mode: Literal["off", "wrap", "enforce"] = "off"
    template: Template = Template()
    # What to do with a system message the client sent.
    client_system: Literal["allow", "forbid", "replace"] = "allow"
    # Template variables that must be present (from `metadata` or extra body fields).
    required: list[str] = []
    max_input_chars: int | None = Field(default=None, gt=0)
    max_messages: int | None = Field(default=None, gt=0)
    deny_patterns: list[str] = []
    # Extra (backend-specific) body parameters this policy refuses, e.g. guided_json.
    forbid_params: list[str] = []

    @field_validator("deny_patterns")
    @classmethod
    def _patterns_compile(cls, v: list[str]) -> list[str]:
        return _regexes(v)


def _regexes(v: list[str]) -> list[str]:
    """Refuse a bad regular expression at load time rather than on the first request."""
    import re

    for p in v:
        try:
            re.compile(p)
        except re.error as e:
            raise ValueError(f"invalid regular expression {p!r}: {e}") from e
    return v


# ---------------------------------------------------------------- sampling

SamplingMode = Literal["clamp", "reject", "force"]


class NumberRule(Strict):
    min: float | None = None
    max: float | None = None
    default: float | None = None
    # force: always use `default` (or the bound) whatever the client sent.
    mode: SamplingMode = "clamp"

    @model_validator(mode="after")
    def _consistent(self) -> "NumberRule":
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is greater than max")
        if self.mode == "force" and self.default is None:
            raise ValueError("mode force needs a default")
        return self


class StopRule(Strict):
    """`stop` is a list, not a number: bounds are on how many sequences, plus defaults."""

    max: int | None = Field(default=None, ge=0)
    default: list[str] | None = None
    mode: SamplingMode = "clamp"


class Sampling(Strict):
    temperature: NumberRule | None = None
    top_p: NumberRule | None = None
    frequency_penalty: NumberRule | None = None
    presence_penalty: NumberRule | None = None
    max_tokens: NumberRule | None = None
    n: NumberRule | None = None
    seed: NumberRule | None = None
    stop: StopRule | None = None


# ---------------------------------------------------------------- reasoning


class ReasoningPolicy(Strict):
    # keep: the client receives the reasoning (as `reasoning_content`); strip: it does not.
    client: Literal["keep", "strip"] = "keep"


# ---------------------------------------------------------------- output checks


class GroundingCheck(Strict):
    enabled: bool = True
    top_k: int = Field(default=4, ge=1, le=50)
    # How evidence is found. auto: keywords (BM25), and embeddings only for a sentence whose
    # keyword candidates share less than a quarter of its words; lexical: never embed (no model);
    # hybrid: keywords and embeddings for every sentence; semantic: embeddings only.
    retrieval: Literal["auto", "lexical", "hybrid", "semantic"] = "auto"
    refusals_safe: bool = True
    nli_model: str | None = None  # name or path of a CrossEncoder; None = off
    judge_model: str | None = None  # a public model name served by this guard; None = off
    min_sentence_chars: int = Field(default=8, ge=0)
    # The combiner's weights file (guard calibrate); None = the package default, or the
    # verifier's own weights.json when a verifier is set. "builtin" verifier = the shipped one.
    weights: str | None = None
    verifier: str | None = None  # a folder made by guard train verifier, or "builtin"; None = off


class PatternCheck(Strict):
    deny: list[str] = []  # regular expressions
    require: list[str] = []  # regular expressions, each must match somewhere
    deny_keywords: list[str] = []
    fuzzy_threshold: float = Field(default=90, ge=0, le=100)  # rapidfuzz partial_ratio

    @field_validator("deny", "require")
    @classmethod
    def _patterns_compile(cls, v: list[str]) -> list[str]:
        return _regexes(v)


class PiiCheck(Strict):
    enabled: bool = False
    kinds: list[Literal["email", "phone", "cn_id", "bank_card"]] = [
        "email",
        "phone",
        "cn_id",
        "bank_card",
    ]
    action: Literal["mask", "flag"] = "mask"


class OutputChecks(Strict):
    grounding: GroundingCheck | None = None
    patterns: PatternCheck | None = None
    pii: PiiCheck | None = None
    json_schema: bool = True  # validate when the request asks for structured output
    max_chars: int | None = Field(default=None, gt=0)


Action = Literal["pass", "annotate", "fallback", "hold", "block"]


class Band(Strict):
    """Answers with confidence >= `min` (and below the next band) get `action`."""

    min: float = Field(ge=0, le=1)
    action: Action


def _default_bands() -> list[Band]:
    return [
        Band(min=0.75, action="pass"),
        Band(min=0.4, action="annotate"),
        Band(min=0.0, action="block"),
    ]


class DecisionPolicy(Strict):
    bands: list[Band] = Field(default_factory=_default_bands)
    timeout_ms: int = Field(default=2000, gt=0)
    on_error: Literal["open", "closed"] = "closed"
    fallback_message: str = (
        "I can't give a reliable answer to that from the knowledge I have."
    )
    block_message: str = "The answer was withheld because it could not be verified."
    # What a non-grounding failure (deny pattern, schema, length) does.
    on_violation: Action = "block"

    @field_validator("bands")
    @classmethod
    def _bands_cover(cls, v: list[Band]) -> list[Band]:
        if not v:
            raise ValueError("at least one band is needed")
        mins = [b.min for b in v]
        if len(set(mins)) != len(mins):
            raise ValueError("two bands have the same min")
        if min(mins) != 0:
            raise ValueError("the lowest band must start at 0 so every confidence has an action")
        return sorted(v, key=lambda b: b.min, reverse=True)


class StreamingPolicy(Strict):
    mode: Literal["buffer", "sentence", "observe"] = "buffer"
    notice: str = "[guard: the rest of this answer was withheld because it could not be verified]"


class HoldPolicy(Strict):
    wait_s: float = Field(default=0, ge=0, le=600)
    # {review_id} is replaced by the id the caller fetches the outcome with
    message: str = "Your answer is being reviewed by a person (review {review_id}): GET /v1/guard/reviews/{review_id}"
    deadline_s: float = Field(default=3600, gt=0)
    on_expire: Literal["release", "fallback"] = "fallback"
    webhook_url: str | None = None
    webhook_secret_env: str | None = None


class AuditPolicy(Strict):
    sample_rate: float = Field(default=0, ge=0, le=1)


class ReusePolicy(Strict):
    enabled: bool = False
    similarity: float = Field(default=0.92, ge=0, le=1)


class Policy(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    match: Match = Match()
    input: InputPolicy = InputPolicy()
    sampling: Sampling = Sampling()
    reasoning: ReasoningPolicy = ReasoningPolicy()
    checks: OutputChecks = OutputChecks()
    decision: DecisionPolicy = DecisionPolicy()
    streaming: StreamingPolicy = StreamingPolicy()
    hold: HoldPolicy = HoldPolicy()
    audit: AuditPolicy = AuditPolicy()
    reuse_approved: ReusePolicy = ReusePolicy()

    @property
    def checks_enabled(self) -> bool:
        c = self.checks
        return bool(
            (c.grounding and c.grounding.enabled)
            or c.patterns
            or (c.pii and c.pii.enabled)
            or c.max_chars
        )


PolicyDoc = Annotated[dict[str, Any], "raw YAML mapping"]

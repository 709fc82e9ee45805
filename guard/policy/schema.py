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
    # Extra (backend-specific) body parameters this policy refuses, e.g. guided_json. A name
    # ending in * is a prefix (guided_*); see guard.policy.params for the families a name covers.
    forbid_params: list[str] = []
    # A template variable (from metadata or an extra body field) is client text written into
    # the prompt: at most this many characters, on one line, checked like the messages.
    max_variable_chars: int = Field(default=200, gt=0)

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
    # How reasoning the client receives is checked. patterns: personal data masked, deny rules
    # and the length limit applied, as to the answer; all: grounding too; none: sent unchecked.
    # A blocked or replaced answer never ships its reasoning, whatever this says.
    check: Literal["patterns", "all", "none"] = "patterns"


# ---------------------------------------------------------------- output checks


class VerifierWeight(Strict):
    """How far the verifiers' probability counts beside the lexical support (0: not at all,
    1: alone), for claims answering a question and for claims with none. Two numbers because a
    question-reading verifier (``guard train verifier --with-question``) learnt the labelled
    rows with their questions; without one it has only the synthetic pairs to go on and
    measures worse (docs/calibration.md)."""

    with_question: float = Field(default=0.5, ge=0, le=1)
    without_question: float = Field(default=0.5, ge=0, le=1)


class GroundingCheck(Strict):
    enabled: bool = True
    top_k: int = Field(default=4, ge=1, le=50)
    # How evidence is found. auto: keywords (BM25), and embeddings only for a sentence whose
    # keyword candidates share less than a quarter of its words; lexical: never embed (no model);
    # hybrid: keywords and embeddings for every sentence; semantic: embeddings only.
    retrieval: Literal["auto", "lexical", "hybrid", "semantic"] = "auto"
    refusals_safe: bool = True
    # An answer with no check-worthy claim (only greetings, thanks, agreement, questions back,
    # opinions, hedges) is safe: confidence 1.0. Off: such an answer is graded sentence by
    # sentence against the evidence, as claims (for deployments where every answer must be grounded).
    chitchat_safe: bool = True
    # Grade every clause of a sentence that states something ("X has 671B parameters, but Y...")
    # as its own claim. Off: talk is still split off, but the claims of one sentence are graded
    # together (measured better on the development sets; see docs/checks.md).
    separate_clauses: bool = False
    nli_model: str | None = None  # name or path of a CrossEncoder; None = off
    judge_model: str | None = None  # a public model name served by this guard; None = off
    min_sentence_chars: int = Field(default=8, ge=0)
    # What answers are checked against. None (the default): the request's documents when it
    # has any, plus the knowledge index (and reviewed corrections) when one is configured.
    # ``context`` is the policy template's rendered context, ``tools`` the role: tool messages;
    # earlier assistant turns never count.
    sources: list[Literal["documents", "context", "tools", "knowledge"]] | None = None
    # Refuse (400) a request that brings no documents instead of checking it against nothing.
    require_documents: bool = False
    # With ``context`` in sources: also the text inside these XML-style tags in the request's
    # system messages, where RAG apps that cannot send ``documents`` put their retrieved passages
    # (Dify's default prompt: <context>...</context>). Never user or assistant messages.
    context_tags: list[str] = []

    @field_validator("context_tags")
    @classmethod
    def _tags_plain(cls, v: list[str]) -> list[str]:
        import re

        bad = [t for t in v if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]{0,39}", t)]
        if bad:
            raise ValueError(f"context_tags must be plain tag names (letters, digits, _ . -): {bad}")
        return v

    @field_validator("sources")
    @classmethod
    def _sources_unique(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and not v:
            raise ValueError("sources must name at least one of documents, context, tools, knowledge")
        return list(dict.fromkeys(v)) if v else v
    # The combiner's weights file (guard calibrate); None = the hand-set model, or the
    # verifier's own weights.json when a verifier is set. "builtin" verifier = the shipped one.
    weights: str | None = None
    verifier: str | None = None  # a folder made by guard train verifier, or "builtin"; None = off
    # None: the lexical support and each verifier's probability are averaged alike.
    verifier_weight: VerifierWeight | None = None


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


DEFAULT_HOLD_MESSAGES = {
    "en": "A person is checking this answer before it is sent. Please check back in a few minutes.",
    "zh": "该回答需经人工审核后才能发送，请稍后再来查看。",
}

DEFAULT_TRANSLATIONS = {
    "fallback_message": {"zh": "根据现有资料，我无法可靠地回答这个问题。"},
    "block_message": {"zh": "该回答无法核实，已被拦截。"},
}


class DecisionPolicy(Strict):
    bands: list[Band] = Field(default_factory=_default_bands)
    timeout_ms: int = Field(default=2000, gt=0)
    on_error: Literal["open", "closed"] = "closed"
    fallback_message: str = (
        "I can't give a reliable answer to that from the knowledge I have."
    )
    block_message: str = "The answer was withheld because it could not be verified."
    # What a caller reads while a person reviews the answer, per language ("en", "zh", ...):
    # chosen by the request's Accept-Language, else by the question's script, else "en". The
    # review id goes in the response's `guard` object, not in this text.
    hold_message: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_HOLD_MESSAGES))
    # "summary": a withheld (blocked or fallback) answer's `guard.reasons` count the unsupported
    # sentences without quoting them; "full" quotes them (for trusted callers and debugging).
    expose_reasons: Literal["summary", "full"] = "summary"
    # fallback_message / block_message in other languages: {"block_message": {"zh": "..."}}. The
    # built-in texts have Chinese ones; a policy that rewrites a message gives its own (or none).
    translations: dict[str, dict[str, str]] = Field(default_factory=lambda: {k: dict(v) for k, v in DEFAULT_TRANSLATIONS.items()})
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


class VisiblePolicy(Strict):
    """The verdict in the text itself, for clients that drop the ``guard`` object (guard.visible)."""

    footnotes: bool = False  # annotate: citation markers and the list of sources
    held_notice: str | None = None  # observe: a line after an answer that was held or blocked
    withheld_finish_reason: Literal["content_filter", "stop"] = "content_filter"  # block, fallback, hold


class HoldPolicy(Strict):
    wait_s: float = Field(default=0, ge=0, le=600)
    # Overrides decision.hold_message for every language when set; {review_id} is replaced by
    # the id (which is also in the response's guard object). Kept for existing policy files.
    message: str | None = None
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
    visible: VisiblePolicy = VisiblePolicy()
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

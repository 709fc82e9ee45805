"""The shapes every output check takes and returns.

A check is any object with a ``name`` and ``run(CheckInput) -> CheckOutcome``. The runner
(``guard.checks.runner``) calls them in order and folds their outcomes into one ``CheckReport``;
``guard.decision`` turns that report into an action. Checks never do network I/O themselves
except through callables handed to them (the LLM judge gets an ``ask`` function).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from guard.knowledge.types import Retriever


@dataclass(frozen=True, slots=True)
class Evidence:
    passage_id: str
    source: str
    span: str  # the part of the passage that supports the sentence
    score: float
    # For evidence from the request's own documents (``guard.checks.citations``): which
    # document (its position in ``documents``, its id and title) and where the span is in it.
    document: int | None = None
    document_id: str | None = None
    title: str | None = None
    span_start: int | None = None  # character offsets of ``span`` in the document's text
    span_end: int | None = None
    kind: str | None = None  # document, context, tool; None for the knowledge index


@dataclass(slots=True)
class SentenceScore:
    text: str
    start: int  # character offsets into the answer
    end: int
    support: float  # in [0, 1]
    evidence: list[Evidence] = field(default_factory=list)
    unsupported: bool = False
    reasons: list[str] = field(default_factory=list)  # e.g. "number 670B not in evidence"
    # The same reasons as codes with parameters, for pages that render them per language:
    # [{"code": "number_missing", "params": {"value": "670B"}}]. English text stays in ``reasons``.
    codes: list[dict[str, Any]] = field(default_factory=list)
    # What the piece is: "claim" (graded against the evidence) or talk that is reported but not
    # graded and never lowers confidence: "chitchat", "hedge", "question", "opinion", "refusal".
    kind: str = "claim"


@dataclass(slots=True)
class CheckInput:
    question: str
    answer: str  # the answer only, never the reasoning
    reasoning: str | None = None
    retriever: Retriever | None = None
    response_format: dict[str, Any] | None = None  # the request's response_format, if any
    # Which checks also run on the reasoning (policy reasoning.check; "none" when the client
    # does not receive it): none, patterns (pii, deny rules, length) or all (and grounding).
    check_reasoning: str = "none"
    # The same answer's text already released before this piece (sentence streaming), so the
    # length limit bounds the whole answer and a denied phrase split across pieces still hits.
    prior: str = ""
    deadline: float | None = None  # time.monotonic() after which the remaining checks are skipped


@dataclass(slots=True)
class CheckOutcome:
    name: str
    passed: bool
    confidence: float | None = None  # only checks that grade support set this
    sentences: list[SentenceScore] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    answer: str | None = None  # a rewritten answer (e.g. personal data masked), else None
    details: dict[str, Any] = field(default_factory=dict)


class Check(Protocol):
    name: str

    def run(self, inp: CheckInput) -> CheckOutcome: ...


@dataclass(slots=True)
class CheckReport:
    """Everything the checks found, in the form recorded with reviews and sent to clients."""

    confidence: float  # overall, in [0, 1]; 1.0 when no check grades support
    answer: str  # the answer after rewrites (masking)
    outcomes: list[CheckOutcome] = field(default_factory=list)
    index_version: str | None = None
    latency_ms: float = 0.0
    error: str | None = None  # set when a check raised or timed out
    # (check name, start, end) in epoch nanoseconds, for trace spans recorded after the fact
    timings: list[tuple[str, int, int]] = field(default_factory=list)
    # The reasoning as it may be delivered (masked when checked); None: none, or not deliverable
    # (a report that failed as a whole carries none, so reasoning is never sent unchecked).
    reasoning: str | None = None
    reasoning_outcomes: list[CheckOutcome] = field(default_factory=list)

    @property
    def violations(self) -> list[str]:
        return [v for o in [*self.outcomes, *self.reasoning_outcomes] for v in o.violations]

    @property
    def sentences(self) -> list[SentenceScore]:
        return [s for o in self.outcomes for s in o.sentences]

    @property
    def unsupported(self) -> list[SentenceScore]:
        return [s for s in self.sentences if s.unsupported]

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


@dataclass(slots=True)
class CheckInput:
    question: str
    answer: str  # the answer only, never the reasoning
    reasoning: str | None = None
    retriever: Retriever | None = None
    response_format: dict[str, Any] | None = None  # the request's response_format, if any
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

    @property
    def violations(self) -> list[str]:
        return [v for o in self.outcomes for v in o.violations]

    @property
    def sentences(self) -> list[SentenceScore]:
        return [s for o in self.outcomes for s in o.sentences]

    @property
    def unsupported(self) -> list[SentenceScore]:
        return [s for s in self.sentences if s.unsupported]

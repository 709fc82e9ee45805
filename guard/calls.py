"""What one request carries through the stages (``Call``), who sent it (``Caller``) and what was
decided about one answer (``Verdict``).

Plain data, below every stage: the pipeline builds a ``Call``, and the stages that receive
one (actions, evidence, streaming, holding, metrics) import these types from here, never
from the pipeline that calls them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from guard.checks.base import CheckReport
from guard.policy.sampling import Change
from guard.policy.schema import Policy
from guard.settings import ModelConfig
from guard.telemetry import NO_TRACE


@dataclass(frozen=True, slots=True)
class Caller:
    tenant: str
    key_id: str  # a short, non-secret id of the API key ("none" in no-auth mode)
    policies: tuple[str, ...] = ()


@dataclass(slots=True)
class Call:
    request_id: str
    caller: Caller
    endpoint: str
    body: dict[str, Any]
    model: ModelConfig
    policy: Policy
    question: str
    changes: list[Change] = field(default_factory=list)
    wrapped: bool = False
    response_id: str | None = None  # the backend's response id, once known
    accept_language: str | None = None  # the request's Accept-Language: end-user messages' language
    started: float = field(default_factory=time.perf_counter)
    documents: list[Any] = field(default_factory=list)  # request evidence (guard.evidence.gather)
    trace: Any = NO_TRACE  # the request's OpenTelemetry span (guard.telemetry), a no-op when off

    @property
    def public_model(self) -> str:
        return self.body["model"]

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    def headers(self) -> dict[str, str]:
        h = {"x-request-id": self.request_id, "x-guard-policy": self.policy.name}
        if self.changes:
            h["x-guard-changes"] = ";".join(f"{c.param}={c.reason}" for c in self.changes)
        return h

    def guard_field(self) -> dict[str, Any]:
        g: dict[str, Any] = {"request_id": self.request_id, "policy": self.policy.name}
        if self.changes:
            g["changes"] = [c.as_dict() for c in self.changes]
        if self.wrapped:
            g["template"] = "wrapped"
        return g


@dataclass(slots=True)
class Verdict:
    """The decision on one answer and what the client gets instead, if anything."""

    action: str
    confidence: float
    report: CheckReport
    text: str  # the text to send (the answer, masked answer, fallback or notice)
    finish_reason: str | None = None  # overrides the backend's when the answer was replaced
    review_id: str | None = None
    review_status: str | None = None
    reasons: list[str] = field(default_factory=list)
    reasoning: str | None = None  # the reasoning the client may receive (checked), if any

    def as_dict(self, annotate: bool) -> dict[str, Any]:
        from guard.decision import annotation

        d: dict[str, Any] = {"decision": self.action, "confidence": round(self.confidence, 4)}
        if self.report.index_version:
            d["index_version"] = self.report.index_version
        if self.reasons:
            d["reasons"] = self.reasons
        if self.review_id:
            d["review_id"] = self.review_id
        if self.review_status:
            d["review_status"] = self.review_status
        if annotate:
            d.update({k: v for k, v in annotation(self.report).items() if k not in d})
        return d


def most_severe(verdicts: list[Verdict]) -> Verdict:
    """The verdict a response with several choices reports: the most severe action (a reviewer's
    or a reused answer counts as a pass), and among equals the lowest confidence. (The lowest
    confidence alone is wrong: a rule violation keeps confidence 1.0 and would report ``pass``
    beside a blocked choice.)"""
    from guard.decision import SEVERITY

    return max(verdicts, key=lambda v: (SEVERITY.get(v.action, 0), -v.confidence))

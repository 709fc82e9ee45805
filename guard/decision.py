"""Turn a check report into an action, and into the ``guard`` object clients receive.

Pure functions only: the same report and policy always give the same decision, which is what
makes decisions replayable from the audit log and easy to test. Three things can decide:
the confidence band, a rule violation (``on_violation``) and a check error (``on_error``);
the most severe of them wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from guard.checks.base import CheckReport, Evidence, SentenceScore
from guard.policy.schema import Action, Band, Policy

# From least to most severe. A held answer may still be released by a reviewer, a fallback
# or block answer never is.
SEVERITY: dict[str, int] = {"pass": 0, "annotate": 1, "hold": 2, "fallback": 3, "block": 4}
# Actions whose caller never receives the answer's text.
WITHHELD = frozenset({"fallback", "block"})


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    confidence: float
    band: Band | None  # the confidence band that applied
    reasons: list[str] = field(default_factory=list)
    unchecked: bool = False  # a check failed and on_error "open" let the answer through

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "confidence": round(self.confidence, 4),
            "band": self.band.min if self.band else None,
            "reasons": list(self.reasons),
            "unchecked": self.unchecked,
        }


def band_for(confidence: float, bands: list[Band]) -> Band:
    """The band with the highest ``min`` not above ``confidence`` (bands always reach 0)."""
    for band in sorted(bands, key=lambda b: b.min, reverse=True):
        if confidence >= band.min:
            return band
    return min(bands, key=lambda b: b.min)


def _most_severe(actions: list[Action]) -> Action:
    return max(actions, key=lambda a: SEVERITY[a])


def decide(report: CheckReport, policy: Policy) -> Decision:
    d = policy.decision
    confidence = max(0.0, min(1.0, report.confidence))
    band = band_for(confidence, d.bands)
    actions: list[Action] = [band.action]
    reasons = [f"confidence {confidence:.2f} is in the band from {band.min:.2f}: {band.action}"]
    if report.violations:
        actions.append(d.on_violation)
        reasons += [f"violation: {v}" for v in report.violations]
    unchecked = False
    if report.error:
        if d.on_error == "closed":
            actions.append("block")
            reasons.append(f"check error (on_error closed): {report.error}")
        else:
            unchecked = True
            reasons.append(f"check error (on_error open, passed unchecked): {report.error}")
            if not any(o.confidence is not None for o in report.outcomes):
                # nothing graded the answer: its confidence is unknown, not low, so the band
                # from a placeholder 0 must not decide; on_error open means let it through
                actions.remove(band.action)
                actions.append("pass")
    action = _most_severe(actions)
    reasons += unsupported_reasons(report, policy, withheld=action in WITHHELD)
    return Decision(action, confidence, band, reasons, unchecked)


def unsupported_reasons(report: CheckReport, policy: Policy, withheld: bool) -> list[str]:
    """The "unsupported: ..." reasons: quoting the sentences, unless the caller gets no answer.

    A blocked answer's caller must not read the withheld text in ``guard.reasons``; it gets the
    count, unless the policy says ``decision.expose_reasons: full``.
    """
    if withheld and policy.decision.expose_reasons != "full" and report.unsupported:
        n = len(report.unsupported)
        return [f"unsupported: {n} sentence{'s' if n != 1 else ''} (withheld)"]
    return [f"unsupported: {s.text[:120]}" for s in report.unsupported[:5]]


def _sentence(s: SentenceScore) -> dict[str, Any]:
    return {
        "text": s.text,
        "start": s.start,
        "end": s.end,
        "support": round(s.support, 4),
        "unsupported": s.unsupported,
        "kind": s.kind,
        "reasons": list(s.reasons),
        "codes": list(s.codes),
        "evidence": [_evidence(e) for e in s.evidence],
    }


def _evidence(e: Evidence) -> dict[str, Any]:
    d: dict[str, Any] = {"passage_id": e.passage_id, "source": e.source, "span": e.span, "score": round(e.score, 4)}
    if e.kind is not None:  # request evidence: name the document (the fields are additive)
        d.update(kind=e.kind, document=e.document, document_id=e.document_id, title=e.title,
                 span_start=e.span_start, span_end=e.span_end)
    return d


def annotation(report: CheckReport, decision: Decision | None = None) -> dict[str, Any]:
    """The JSON-safe ``guard`` object added to responses (and stored with reviews)."""
    return {
        "decision": decision.action if decision else None,
        "confidence": round(report.confidence, 4),
        "index_version": report.index_version,
        "sentences": [_sentence(s) for s in report.sentences],
        "unsupported": [s.text for s in report.unsupported],
        "violations": report.violations,
        "checks": {o.name: o.passed for o in report.outcomes},
        "error": report.error,
        "unchecked": bool(decision and decision.unchecked),
        "latency_ms": round(report.latency_ms, 2),
    }

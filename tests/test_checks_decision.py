import json

import pytest

from guard.checks.base import CheckOutcome, CheckReport, Evidence, SentenceScore
from guard.decision import annotation, band_for, decide
from guard.policy.schema import Band, DecisionPolicy, Policy

BANDS = [
    Band(min=0.7, action="pass"),
    Band(min=0.45, action="annotate"),
    Band(min=0.2, action="hold"),
    Band(min=0.0, action="block"),
]


def policy(**decision) -> Policy:
    return Policy(name="p", decision=DecisionPolicy(bands=BANDS, **decision))


def report(confidence: float, violations=(), error=None, sentences=()) -> CheckReport:
    outcomes = [CheckOutcome("grounding", passed=True, confidence=confidence, sentences=list(sentences))]
    if violations:
        outcomes.append(CheckOutcome("patterns", passed=False, violations=list(violations)))
    return CheckReport(confidence=confidence, answer="a", outcomes=outcomes, index_version="v1", error=error)


@pytest.mark.parametrize("confidence,action", [
    (1.0, "pass"), (0.7, "pass"), (0.69, "annotate"), (0.45, "annotate"),
    (0.3, "hold"), (0.2, "hold"), (0.19, "block"), (0.0, "block"),
])
def test_bands(confidence, action):
    d = decide(report(confidence), policy())
    assert d.action == action
    assert d.band == band_for(confidence, BANDS)
    assert d.confidence == confidence


def test_violation_uses_on_violation_but_never_softens():
    assert decide(report(0.9, ["denied keyword: x"]), policy(on_violation="fallback")).action == "fallback"
    # a violation's action does not lower a worse band action
    assert decide(report(0.1, ["denied keyword: x"]), policy(on_violation="annotate")).action == "block"
    d = decide(report(0.9, ["denied keyword: x"]), policy())
    assert d.action == "block" and "violation: denied keyword: x" in d.reasons


def test_error_open_passes_marked_and_closed_blocks():
    open_ = decide(report(1.0, error="grounding: RuntimeError: boom"), policy(on_error="open"))
    assert open_.action == "pass" and open_.unchecked
    assert any("on_error open" in r for r in open_.reasons)
    closed = decide(report(1.0, error="grounding: RuntimeError: boom"), policy(on_error="closed"))
    assert closed.action == "block" and not closed.unchecked


def test_annotation_is_json_safe_and_complete():
    s_ok = SentenceScore("A is 1.", 0, 7, 0.9, [Evidence("p1", "doc.md", "A is 1.", 0.8)])
    s_bad = SentenceScore("B is 2.", 8, 15, 0.1, [], unsupported=True, reasons=["number 2 not in evidence"])
    rep = report(0.3, sentences=[s_ok, s_bad])
    d = decide(rep, policy())
    ann = annotation(rep, d)
    json.dumps(ann)
    assert ann["decision"] == "hold"
    assert ann["confidence"] == 0.3
    assert ann["index_version"] == "v1"
    assert ann["unsupported"] == ["B is 2."]
    assert ann["sentences"][0]["evidence"] == [
        {"passage_id": "p1", "source": "doc.md", "span": "A is 1.", "score": 0.8}
    ]
    assert ann["sentences"][1]["reasons"] == ["number 2 not in evidence"]
    assert any(r.startswith("unsupported: B is 2.") for r in d.reasons)

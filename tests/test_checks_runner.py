import pytest

from guard.checks.base import CheckInput, CheckOutcome
from guard.checks.grounding import GroundingCheck
from guard.checks.patterns import PatternCheck
from guard.checks.pii import PiiCheck
from guard.checks.runner import build_checks, run_checks
from guard.checks.structure import JsonSchemaCheck, LengthCheck
from guard.decision import decide
from guard.policy.schema import GroundingCheck as GroundingPolicy
from guard.policy.schema import OutputChecks, PatternCheck as PatternPolicy, PiiCheck as PiiPolicy, Policy
from checks_helpers import MemoryRetriever

KB = ["Support is open Monday to Friday, 9:00 to 18:00.", "Refunds are paid within 14 days."]


def full_policy(**grounding) -> Policy:
    return Policy(name="p", checks=OutputChecks(
        grounding=GroundingPolicy(**grounding),
        patterns=PatternPolicy(deny_keywords=["internal only"]),
        pii=PiiPolicy(enabled=True),
        max_chars=200,
    ))


def test_build_checks_follows_policy_order():
    checks = build_checks(full_policy(), MemoryRetriever(KB))
    assert [type(c) for c in checks] == [PiiCheck, PatternCheck, JsonSchemaCheck, LengthCheck, GroundingCheck]
    assert build_checks(Policy(name="none", checks=OutputChecks(json_schema=False)), None) == []


def test_judge_needs_ask():
    with pytest.raises(ValueError):
        build_checks(full_policy(judge_model="judge"), MemoryRetriever(KB))
    checks = build_checks(full_policy(judge_model="judge"), MemoryRetriever(KB), ask=lambda p: "1: SUPPORTED")
    assert [v.name for v in checks[-1].verifiers] == ["judge"]


def test_masked_answer_flows_to_later_checks_and_report():
    r = MemoryRetriever(KB)
    answer = "Refunds are paid within 14 days. Write to help@example.com."
    report = run_checks(build_checks(full_policy(), r), CheckInput(question="refunds?", answer=answer, retriever=r))
    assert report.answer == "Refunds are paid within 14 days. Write to h***@example.com."
    grounding = report.outcomes[-1]
    assert grounding.sentences[1].text == "Write to h***@example.com."
    assert report.index_version == "memory-1"
    assert report.confidence == grounding.confidence
    assert report.error is None and report.latency_ms > 0


def test_violations_collected_and_decided():
    r = MemoryRetriever(KB)
    report = run_checks(build_checks(full_policy(), r),
                        CheckInput(question="q", answer="Refunds are paid within 14 days. Internal-only note.", retriever=r))
    assert report.violations == ["denied keyword: internal only"]
    assert decide(report, full_policy()).action == "block"


class Boom:
    name = "boom"

    def run(self, inp: CheckInput) -> CheckOutcome:
        raise RuntimeError("model server down")


def test_a_failing_check_is_reported_not_raised():
    ok = LengthCheck(5)
    report = run_checks([Boom(), ok], CheckInput(question="q", answer="toolong"))
    assert report.error == "boom: RuntimeError: model server down"
    assert [o.name for o in report.outcomes] == ["length"]
    assert report.confidence == 1.0
    assert decide(report, Policy(name="p")).action == "block"  # on_error closed by default


def test_confidence_is_the_lowest_graded_outcome():
    class Graded:
        def __init__(self, name, c):
            self.name, self.c = name, c

        def run(self, inp):
            return CheckOutcome(self.name, passed=True, confidence=self.c)

    report = run_checks([Graded("a", 0.8), Graded("b", 0.3), LengthCheck(100)], CheckInput(question="", answer="x"))
    assert report.confidence == 0.3

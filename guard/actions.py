"""Turning a decision into what the caller receives. The one place each action is defined.

pass and annotate send the answer (with personal data masked when a check rewrote it);
fallback and block replace it with the policy's message; hold hands the answer to the review
queue and sends either the reviewed answer (within ``hold.wait_s``) or the holding message.
An answer guard replaced finishes with ``visible.withheld_finish_reason`` (``content_filter``),
so a client that reads nothing else still learns that text was withheld.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from guard.checks.base import CheckReport
from guard.decision import unsupported_reasons
from guard.policy.messages import end_user_message, hold_message

if TYPE_CHECKING:
    from guard.calls import Call, Verdict


async def apply(call: "Call", decision: Any, report: CheckReport, answer: str, reasoning: str | None, review: Any) -> "Verdict":
    from guard.calls import Verdict

    policy = call.policy
    action = decision.action
    reasons = list(getattr(decision, "reasons", []) or [])
    text = report.answer if report.answer is not None else answer
    withheld = policy.visible.withheld_finish_reason
    if action == "annotate" and policy.visible.footnotes and (not call.stream or policy.streaming.mode == "buffer"):
        from guard.visible import footnotes

        text = footnotes(text, report)  # a sentence stream judges pieces: it cannot number them
    if action in ("pass", "annotate"):
        # the reasoning as checked (masked); a replaced answer never ships its reasoning
        return Verdict(action, decision.confidence, report, text, reasons=reasons, reasoning=report.reasoning)
    language = getattr(call, "accept_language", None)
    if action == "fallback":
        fallback = end_user_message(policy, "fallback_message", language, call.question)
        return Verdict(action, decision.confidence, report, fallback, withheld, reasons=reasons)
    if action == "hold":
        if review is None:
            # No queue configured: nobody could ever release it, so holding means withholding.
            reasons = [r for r in reasons if not r.startswith("unsupported: ")]
            reasons += unsupported_reasons(report, policy, withheld=True)
            reasons.append("hold requested but no review queue is configured")
            blocked = end_user_message(policy, "block_message", language, call.question)
            return Verdict("block", decision.confidence, report, blocked, withheld, reasons=reasons)
        # the reviewer sees the reasoning as checked (masked) when it was checked
        shown = report.reasoning if report.reasoning is not None else reasoning
        review_id, final = await review.hold(call, decision, report, text, shown)
        if final is not None:
            return Verdict(final.action, decision.confidence, report, final.text, "stop", review_id=review_id, review_status=final.status, reasons=reasons)
        message = hold_message(policy, review_id, language, call.question)
        return Verdict("hold", decision.confidence, report, message, withheld, review_id=review_id, reasons=reasons)
    blocked = end_user_message(policy, "block_message", language, call.question)
    return Verdict("block", decision.confidence, report, blocked, withheld, reasons=reasons)

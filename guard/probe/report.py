"""Scoring probe outcomes: was the answer right, what did guard decide, what slipped through.

Pure functions. "Right" is checked without a model: a fact or false-premise answer is right
when it contains the expected number (by value, so "128K" matches "128,000") or name; an
unknown-topic answer is right when it declines or states no number. An answer that is wrong
while guard passed it is the failure a probe exists to find.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from guard.checks.grounding.refusal import is_refusal
from guard.probe.generate import KINDS
from guard.probe.run import Outcome
from guard.text.numbers import extract_quantities, same_value
from guard.text.sentences import split_sentences

HELD = ("hold", "block", "fallback")


def declines(answer: str) -> bool:
    return any(is_refusal(s.text) for s in split_sentences(answer))


def is_right(o: Outcome) -> bool:
    answer = o.answer
    if o.probe.kind == "unknown":
        return declines(answer) or not extract_quantities(answer)
    if o.probe.expected_value is not None:
        if any(same_value(q.value, o.probe.expected_value) for q in extract_quantities(answer)):
            return True
    lowered = answer.lower()
    return any(e.lower() in lowered for e in o.probe.expected)


def got_through_wrong(o: Outcome) -> bool:
    return o.status == 200 and o.decision in ("pass", None) and not is_right(o)


def _rate(n: int, total: int) -> float:
    return round(n / total, 4) if total else 0.0


def summarize(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Per model: counts and rates overall and per probe kind, and the wrong answers guard passed."""
    report: dict[str, Any] = {}
    for model in dict.fromkeys(o.model for o in outcomes):
        mine = [o for o in outcomes if o.model == model]
        report[model] = {
            "all": _tally(mine),
            "by_kind": {k: _tally([o for o in mine if o.probe.kind == k]) for k in KINDS},
            "through_wrong": [
                {"id": o.probe.id, "kind": o.probe.kind, "question": o.probe.question,
                 "expected": o.probe.expected, "answer": o.answer[:300], "decision": o.decision}
                for o in mine if got_through_wrong(o)
            ],
        }
    return report


def _tally(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    total = len(outcomes)
    decisions = Counter(o.decision or ("error" if o.status != 200 else "no_guard") for o in outcomes)
    answered = [o for o in outcomes if o.status == 200]
    return {
        "probes": total,
        "errors": sum(1 for o in outcomes if o.status != 200 and o.decision is None),
        "grounded": _rate(decisions["pass"], total),
        "annotated": _rate(decisions["annotate"], total),
        "held_or_blocked": _rate(sum(decisions[d] for d in HELD), total),
        "right": _rate(sum(is_right(o) for o in answered), total),
        "through_wrong": sum(got_through_wrong(o) for o in outcomes),
        "decisions": dict(decisions),
    }


def table(report: dict[str, Any]) -> str:
    """A plain-text table: one row per model and probe kind."""
    header = ("model", "kind", "probes", "grounded", "annotated", "held/blocked", "right", "wrong+passed", "errors")
    rows = [header]
    for model, r in report.items():
        for kind, t in [("all", r["all"]), *r["by_kind"].items()]:
            if not t["probes"]:
                continue
            rows.append((model, kind, str(t["probes"]), _pct(t["grounded"]), _pct(t["annotated"]),
                         _pct(t["held_or_blocked"]), _pct(t["right"]), str(t["through_wrong"]), str(t["errors"])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for model, r in report.items():
        for item in r["through_wrong"][:10]:
            lines.append(f"\n[{model}] wrong but passed ({item['kind']}): {item['question'][:160]}")
            lines.append(f"  expected {item['expected'] or 'a refusal'}; got: {item['answer'][:160]!r}")
    return "\n".join(lines)


def _pct(x: float) -> str:
    return f"{x * 100:.0f}%"

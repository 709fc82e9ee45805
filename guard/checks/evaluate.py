"""Measure the output checks on labelled rows (``guard eval``).

Each row is checked against its own ``context``, indexed on the fly with
``KnowledgeIndex.from_texts``, through ``build_checks``/``run_checks``: exactly what the proxy
runs, so the numbers describe the deployed checker and not a copy of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from guard.checks.base import CheckInput
from guard.checks.grounding.judge import Ask
from guard.checks.metrics import auroc, balanced_accuracy, best_f1, edge_for_caught, percentile, review_curve
from guard.checks.runner import build_checks, run_checks
from guard.policy.schema import GroundingCheck, OutputChecks, Policy

CURVE_THRESHOLDS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
TARGET_CAUGHT = 0.8  # the share of hallucinations a hold edge should catch (guard eval --target-caught)


class EvalRow(BaseModel):
    """One line of an eval file (the format of examples/eval/README.md); unknown keys are ignored."""

    model_config = ConfigDict(extra="ignore")

    id: str = ""
    context: str
    question: str = ""
    answer: str
    label: int  # 1 = hallucinated, 0 = grounded


@dataclass(slots=True)
class RowResult:
    id: str
    label: int
    confidence: float
    latency_ms: float
    error: str | None


def default_policy() -> Policy:
    """Grounding only, default bands. ``from_texts`` cuts a context into sentence-sized
    passages (about half a knowledge-file passage), so eight of them give the evidence that
    four give in a built index."""
    return Policy(name="eval", checks=OutputChecks(grounding=GroundingCheck(top_k=8)))


def read_rows(path: Path, limit: int | None = None) -> list[EvalRow]:
    rows: list[EvalRow] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(EvalRow.model_validate_json(line))
                if limit is not None and len(rows) >= limit:
                    break
    return rows


def context_index(context: str, embedder: Any, passages: str = "sentences") -> Any:
    """A row's context as an index: sentence-sized passages (the eval policy's top_k 8 stands
    for four knowledge passages), or ``"index"``: cut as ``guard index build`` cuts a knowledge
    file, so a shipped policy's own top_k is measured as it runs."""
    from guard.knowledge.chunking import MAX_TOKENS, MIN_TOKENS
    from guard.knowledge.index import KnowledgeIndex

    if passages == "index":
        return KnowledgeIndex.from_texts([context], embedder, max_tokens=MAX_TOKENS, min_tokens=MIN_TOKENS)
    return KnowledgeIndex.from_texts([context], embedder)


def check_row(row: EvalRow, policy: Policy, embedder: Any, ask: Ask | None = None, passages: str = "sentences") -> RowResult:
    index = context_index(row.context, embedder, passages)
    checks = build_checks(policy, index, embedder, ask)
    report = run_checks(checks, CheckInput(question=row.question, answer=row.answer, retriever=index))
    return RowResult(row.id, row.label, report.confidence, report.latency_ms, report.error)


def pass_threshold(policy: Policy) -> float:
    """The confidence an answer needs to pass unflagged: the lowest band that passes.

    Below it the answer is annotated, held, replaced or blocked, i.e. flagged.
    """
    passing = [b.min for b in policy.decision.bands if b.action == "pass"]
    return min(passing) if passing else 1.01


def hold_threshold(policy: Policy) -> float:
    """The confidence below which an answer is held or worse (hold, fallback, block): the
    lowest band that lets the answer through (pass or annotate). The shipped bands are chosen
    so that, on every development set, this catches at least 80% of the hallucinations while
    holding at most 25% of the grounded answers (docs/calibration.md)."""
    through = [b.min for b in policy.decision.bands if b.action in ("pass", "annotate")]
    return min(through) if through else 1.01


def _held(confidences: list[float], labels: list[int], edge: float) -> dict[str, float]:
    bad = [c for c, y in zip(confidences, labels) if y == 1]
    good = [c for c, y in zip(confidences, labels) if y != 1]
    return {
        "edge": edge,
        "caught_share": sum(1 for c in bad if c < edge) / (len(bad) or 1),
        "grounded_share": sum(1 for c in good if c < edge) / (len(good) or 1),
    }


def summarize(name: str, results: list[RowResult], policy: Policy, target_caught: float = TARGET_CAUGHT) -> dict[str, Any]:
    labels = [r.label for r in results]
    confidences = [r.confidence for r in results]
    scores = [1.0 - c for c in confidences]
    latencies = [r.latency_ms for r in results]
    f1, f1_threshold = best_f1(scores, labels)
    threshold = pass_threshold(policy)
    return {
        "file": name,
        "rows": len(results),
        "hallucinated": sum(labels),
        "auroc": auroc(scores, labels),
        "f1": f1,
        "f1_confidence_threshold": 1.0 - f1_threshold,
        "balanced_accuracy": balanced_accuracy(scores, labels, 1.0 - threshold + 1e-12),
        "pass_threshold": threshold,
        # flagging everything below each band's lower edge, e.g. {"0.4": ..., "0.75": ...}
        "balanced_accuracy_by_band": {
            f"{b.min:g}": balanced_accuracy(scores, labels, 1.0 - b.min + 1e-12)
            for b in policy.decision.bands
            if b.min > 0
        },
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "errors": sum(1 for r in results if r.error),
        "curve": review_curve(confidences, labels, CURVE_THRESHOLDS),
        # the band edge below which target_caught of the hallucinations fall, and its cost
        "target": edge_for_caught(confidences, labels, target_caught),
        # what the policy's own bands hold or block: hallucinations caught, grounded answers held
        "held": _held(confidences, labels, hold_threshold(policy)),
    }


def format_table(summaries: list[dict[str, Any]]) -> str:
    """The terminal report: one line per file, then the review/caught curve per file."""
    head = f"{'file':<28}{'rows':>6}{'AUROC':>8}{'F1':>7}{'BalAcc':>8}{'p50 ms':>9}{'p95 ms':>9}{'err':>5}"
    lines = [head, "-" * len(head)]
    for s in summaries:
        lines.append(
            f"{s['file'][:27]:<28}{s['rows']:>6}{s['auroc']:>8.3f}{s['f1']:>7.3f}"
            f"{s['balanced_accuracy']:>8.3f}{s['p50_ms']:>9.1f}{s['p95_ms']:>9.1f}{s['errors']:>5}"
        )
    for s in summaries:
        lines.append("")
        lines.append(f"{s['file']}: answers below a confidence threshold (to review) / hallucinations caught")
        lines.append("  threshold " + "".join(f"{c['threshold']:>7.1f}" for c in s["curve"]))
        lines.append("  review    " + "".join(f"{c['review_share']:>7.0%}" for c in s["curve"]))
        lines.append("  caught    " + "".join(f"{c['caught_share']:>7.0%}" for c in s["curve"]))
        h = s.get("held")
        if h:
            lines.append(f"  held or blocked by the policy (below {h['edge']:g}): {h['caught_share']:.0%} of"
                         f" hallucinations, {h['grounded_share']:.0%} of grounded answers")
        t = s.get("target")
        if t and t["edge"] == t["edge"]:  # not NaN
            lines.append(f"  to catch {t['target']:.0%}: flag below {t['edge']:.3f} (catches {t['caught_share']:.0%};"
                         f" flags {t['review_share']:.0%} of answers, {t['grounded_share']:.0%} of grounded ones)")
    return "\n".join(lines)


def format_common_edge(c: dict[str, Any]) -> str:
    """The hold edge for all files at once (``common_edge``): how policies' bands are chosen."""
    verdict = "met on every file" if c["met"] else "NOT met on every file: the highest edge within the grounded limit"
    lines = ["", f"one hold edge for all files, to catch {c['target']:.0%} holding at most {c['max_grounded']:.0%}"
                 f" of grounded answers: {c['edge']:.3f} ({verdict})"]
    for name, f in c["files"].items():
        lines.append(f"  {name:<28} caught {f['caught_share']:>5.0%}   grounded held {f['grounded_share']:>5.0%}")
    return "\n".join(lines)


def json_line(summary: dict[str, Any]) -> str:
    return json.dumps(summary, ensure_ascii=False, allow_nan=True)

"""Detection metrics for ``guard eval``, written out to avoid a scikit-learn dependency.

Scores are hallucination scores (``1 - confidence``): higher means more likely made up, and
label 1 means hallucinated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def auroc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Area under the ROC curve by the rank-sum (Mann-Whitney) formula; ties count half.

    Returns NaN when only one class is present, since the area is undefined then.
    """
    if len(scores) != len(labels):
        raise ValueError("scores and labels differ in length")
    n_pos = sum(1 for y in labels if y == 1)
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    rank_sum = 0.0
    i = 0
    while i < len(order):
        j = i
        while j < len(order) and scores[order[j]] == scores[order[i]]:
            j += 1
        mid_rank = (i + 1 + j) / 2  # ranks i+1..j share their average
        rank_sum += mid_rank * sum(1 for k in order[i:j] if labels[k] == 1)
        i = j
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _counts(scores: Sequence[float], labels: Sequence[int], threshold: float) -> tuple[int, int, int, int]:
    """(tp, fp, tn, fn) when ``score >= threshold`` is predicted hallucinated."""
    tp = fp = tn = fn = 0
    for s, y in zip(scores, labels):
        flagged = s >= threshold
        if flagged and y == 1:
            tp += 1
        elif flagged:
            fp += 1
        elif y == 1:
            fn += 1
        else:
            tn += 1
    return tp, fp, tn, fn


def f1_at(scores: Sequence[float], labels: Sequence[int], threshold: float) -> float:
    tp, fp, _, fn = _counts(scores, labels, threshold)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def best_f1(scores: Sequence[float], labels: Sequence[int]) -> tuple[float, float]:
    """The best F1 over all thresholds, and the threshold (on the hallucination score)."""
    best = (0.0, 1.0)
    for t in sorted(set(scores)):
        f1 = f1_at(scores, labels, t)
        if f1 > best[0]:
            best = (f1, t)
    return best


def balanced_accuracy(scores: Sequence[float], labels: Sequence[int], threshold: float) -> float:
    tp, fp, tn, fn = _counts(scores, labels, threshold)
    tpr = tp / (tp + fn) if tp + fn else 0.0
    tnr = tn / (tn + fp) if tn + fp else 0.0
    return (tpr + tnr) / 2


def review_curve(
    confidences: Sequence[float], labels: Sequence[int], thresholds: Sequence[float]
) -> list[dict[str, float]]:
    """For each confidence threshold: the share of answers below it (sent to review) and the
    share of hallucinated answers below it (caught)."""
    n = len(confidences) or 1
    n_bad = sum(1 for y in labels if y == 1) or 1
    rows = []
    for t in thresholds:
        below = [y for c, y in zip(confidences, labels) if c < t]
        rows.append({
            "threshold": t,
            "review_share": len(below) / n,
            "caught_share": sum(1 for y in below if y == 1) / n_bad,
        })
    return rows


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def edge_for_caught(confidences: Sequence[float], labels: Sequence[int], target: float) -> dict[str, float]:
    """The band edge that catches ``target`` of the hallucinations: the lowest confidence
    threshold with at least that share of hallucinated answers strictly below it, and what it
    costs (share of all answers, and of grounded answers, below it). ``guard eval`` prints it;
    the shipped policies' hold edges are chosen from it."""
    bad = sorted(c for c, y in zip(confidences, labels) if y == 1)
    good = [c for c, y in zip(confidences, labels) if y != 1]
    if not bad:
        return {"target": target, "edge": math.nan, "caught_share": math.nan, "review_share": math.nan,
                "grounded_share": math.nan}
    k = max(1, math.ceil(target * len(bad) - 1e-9))
    edge = math.floor(bad[k - 1] * 1e4 + 1) / 1e4  # just above the k-th lowest hallucinated confidence
    return {
        "target": target,
        "edge": edge,
        "caught_share": sum(1 for c in bad if c < edge) / len(bad),
        "review_share": sum(1 for c in confidences if c < edge) / (len(confidences) or 1),
        "grounded_share": sum(1 for c in good if c < edge) / (len(good) or 1),
    }


def common_edge(
    per_file: dict[str, tuple[Sequence[float], Sequence[int]]], target: float, max_grounded: float
) -> dict[str, Any]:
    """One hold edge for several labelled sets: the lowest edge that catches ``target`` of the
    hallucinations in *every* set; if that holds more than ``max_grounded`` of some set's
    grounded answers, the highest edge that holds at most that share in every set (the target
    is then missed, and ``met`` says so). Per set: caught and grounded shares at the edge."""
    edges = [edge_for_caught(c, y, target)["edge"] for c, y in per_file.values()]
    edges = [e for e in edges if e == e]

    def grounded(edge: float) -> float:
        shares = [sum(1 for c, l in zip(cs, ys) if l != 1 and c < edge) / (sum(1 for l in ys if l != 1) or 1)
                  for cs, ys in per_file.values()]
        return max(shares, default=0.0)

    edge = max(edges, default=math.nan)
    if edge == edge and grounded(edge) > max_grounded:
        candidates = sorted({c for cs, _ in per_file.values() for c in cs})
        ok = [c for c in candidates if grounded(c) <= max_grounded]
        edge = max(ok) if ok else 0.0
    files = {}
    for name, (cs, ys) in per_file.items():
        bad = [c for c, y in zip(cs, ys) if y == 1]
        good = [c for c, y in zip(cs, ys) if y != 1]
        files[name] = {"caught_share": sum(1 for c in bad if c < edge) / (len(bad) or 1),
                       "grounded_share": sum(1 for c in good if c < edge) / (len(good) or 1)}
    met = all(f["caught_share"] >= target - 1e-9 and f["grounded_share"] <= max_grounded + 1e-9 for f in files.values())
    return {"edge": round(edge, 4), "target": target, "max_grounded": max_grounded, "met": met, "files": files}

"""``guard calibrate``: fit the grounding combiner's weights on labelled rows.

Rows are graded by the check itself, as ``guard eval`` grades them (``check_row``: the row's
context indexed on the fly, the policy's checks run), so the fit sees exactly the features the
check computes, whatever ``SupportFeatures.as_dict()`` returns: every numeric feature (and
every list, as its length) is a column, so a new feature is picked up by refitting, no code.

A label belongs to an answer, a feature vector to a claim. The answer's confidence is bounded
by its weakest claim, so the fit is multiple-instance: each answer is represented by its
claim with the lowest support under the current model (for a hallucinated answer, most likely
the wrong claim; for a grounded one, the claim the model is least sure of), a logistic
regression is fitted on those, and the choice is redone under the new model (three rounds).
Pure numpy (Newton steps with a small L2 penalty on standardised columns): no scikit-learn.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from guard.checks.grounding.combiner import Combiner, FeatureWeight, numeric_names, value
from guard.checks.metrics import auroc

ROUNDS = 3
L2 = 1.0  # on standardised columns, per row: enough to keep collinear features finite
COUNT_CLIP = 3.0  # a list feature (missing numbers, names) counts at most this many items
# Bookkeeping, not evidence: ``units`` counts a claim's content units, and fitted as a feature
# it learns "long answers are hallucinated" from HaluEval, which fails on long true claims (WiCE).
EXCLUDED = ("units",)


@dataclass(slots=True)
class GradedClaim:
    text: str
    premise: str  # the evidence spans joined, as the verifier sees them
    features: dict[str, Any]
    support: float  # the check's support as it ran


@dataclass(slots=True)
class GradedRow:
    file: str
    id: str
    label: int  # 1 = hallucinated
    claims: list[GradedClaim] = field(default_factory=list)
    ungraded: int = 0  # sentences the check did not grade (refusals, chit-chat): support 1.0
    confidence: float = 1.0  # the check's answer confidence as it ran


def grade_row(file: str, row: Any, policy: Any, embedder: Any, index: Any = None) -> GradedRow:
    """Run the policy's checks on one eval row (against its own context, or ``index``) and keep
    each graded claim's features."""
    from guard.checks.base import CheckInput
    from guard.checks.grounding.crossencoder import premise
    from guard.checks.runner import build_checks, run_checks
    from guard.knowledge.index import KnowledgeIndex

    if index is None:
        index = KnowledgeIndex.from_texts([row.context], embedder)
    report = run_checks(build_checks(policy, index, embedder),
                        CheckInput(question=row.question, answer=row.answer, retriever=index))
    out = GradedRow(file, row.id, row.label, confidence=report.confidence)
    outcome = next((o for o in report.outcomes if o.name == "grounding"), None)
    if outcome is None:
        return out
    graded = outcome.details.get("graded", [])
    for i, feats in zip(graded, outcome.details.get("features", [])):
        s = outcome.sentences[i]
        out.claims.append(GradedClaim(s.text, premise([e.span for e in s.evidence]), dict(feats), s.support))
    out.ungraded = len(outcome.sentences) - len(out.claims)
    return out


def dump_rows(rows: Iterable[GradedRow], path: Any) -> None:
    """Graded rows as JSON lines (``--save-graded``): refit without regrading."""
    import json
    from dataclasses import asdict

    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(asdict(r), ensure_ascii=False) + "\n")


def load_graded(path: Any) -> list[GradedRow]:
    import json

    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                d = json.loads(line)
                d["claims"] = [GradedClaim(**c) for c in d["claims"]]
                out.append(GradedRow(**d))
    return out


def subsample(rows: Sequence[Any], limit: int | None, seed: int = 0) -> list[Any]:
    """``limit`` rows drawn at random (the same for a seed), balanced by label where possible."""
    if limit is None or len(rows) <= limit:
        return list(rows)
    rng = random.Random(seed)
    by_label = {y: [r for r in rows if r.label == y] for y in (0, 1)}
    for group in by_label.values():
        rng.shuffle(group)
    half = limit // 2
    take = by_label[1][:half] + by_label[0][: limit - min(half, len(by_label[1]))]
    return take[:limit]


# ---------------------------------------------------------------- fitting


def feature_names(rows: Iterable[GradedRow], exclude: Sequence[str] = EXCLUDED) -> list[str]:
    """Every readable feature name but ``exclude``, in first-seen order."""
    names: dict[str, None] = {}
    for r in rows:
        for c in r.claims:
            names.update(dict.fromkeys(numeric_names(c.features)))
    return [n for n in names if n not in exclude]


def _specs(rows: Sequence[GradedRow], names: Sequence[str]) -> dict[str, FeatureWeight]:
    """Fill (the mean of known values) and clip range (1st-99th percentile; lists 0-3) per feature."""
    specs: dict[str, FeatureWeight] = {}
    for name in names:
        raw = [c.features.get(name) for r in rows for c in r.claims]
        known = [v for v in (value(x) for x in raw) if v is not None]
        if not known:
            continue
        is_count = any(isinstance(x, (list, tuple)) for x in raw)
        lo, hi = (0.0, COUNT_CLIP) if is_count else (float(np.percentile(known, 1)), float(np.percentile(known, 99)))
        fill = float(np.mean(known)) if any(x is None for x in raw) else 0.0
        specs[name] = FeatureWeight(0.0, round(min(max(fill, lo), hi), 4), (round(lo, 4), round(hi, 4)))
    return specs


def _matrix(model: Combiner, claims: Sequence[GradedClaim]) -> np.ndarray:
    return np.array([[model.read(n, c.features) for n in model.features] for c in claims], dtype=np.float64)


def _logistic(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """Weights and bias of an L2-penalised logistic regression (Newton's method)."""
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std < 1e-9] = 1.0
    z = np.hstack([np.ones((len(x), 1)), (x - mean) / std])
    w = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], l2)
    penalty[0] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -30, 30)))
        grad = z.T @ (p - y) + penalty * w
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-7:
            break
    weights = w[1:] / std
    return weights, float(w[0] - (weights * mean).sum())


def _weakest(model: Combiner, rows: Sequence[GradedRow]) -> list[GradedClaim]:
    return [min(r.claims, key=lambda c: model.support(c.features)) for r in rows]


def fit(
    rows: Sequence[GradedRow],
    *,
    names: Sequence[str] | None = None,
    start: Combiner | None = None,
    caps: Mapping[str, float] | None = None,
    l2: float = L2,
) -> Combiner:
    """Weights over ``names`` (default: every numeric feature) fitted on ``rows``."""
    usable = [r for r in rows if r.claims]
    if len({r.label for r in usable}) < 2:
        raise ValueError("calibration needs rows of both labels with at least one graded claim")
    specs = _specs(usable, names or feature_names(usable))
    # A feature the rows never vary (Chinese novel runs in English rows) says nothing here:
    # it keeps the starting model's weight and range rather than a weight of zero.
    probe = Combiner(0.0, specs)
    constant = {n for n in specs if len({probe.read(n, c.features) for r in usable for c in r.claims}) <= 1}
    kept = {n: start.features[n] for n in constant if start and n in start.features}
    specs = {n: s for n, s in specs.items() if n not in constant}
    columns = Combiner(0.0, specs)
    prior = Combiner(0.0, kept) if kept else None
    y = np.array([1.0 - r.label for r in usable])  # the model predicts support
    weakest = _weakest(start, usable) if start else [min(r.claims, key=lambda c: c.support) for r in usable]
    rounds = 0
    while rounds < ROUNDS:
        weights, bias = _logistic(_matrix(columns, weakest), y, l2 * len(usable) / 1000)
        offset = prior.logit(weakest[0].features) if prior else 0.0  # constant on these rows
        model = Combiner(
            round(bias - offset, 4),
            {n: FeatureWeight(round(float(w), 4), s.fill, s.clip) for (n, s), w in zip(specs.items(), weights)}
            | kept,
            dict(caps or {}),
        )
        wrong = _against_prior(model, start, specs)
        if wrong:  # refit without them, from the same weakest claims
            specs = {n: s for n, s in specs.items() if n not in wrong}
            columns = Combiner(0.0, specs)
            continue
        weakest = _weakest(model, usable)
        rounds += 1
    return model


def _against_prior(model: Combiner, start: Combiner | None, specs: Mapping[str, FeatureWeight]) -> set[str]:
    """Features whose fitted weight has the opposite sign to the starting model's: collinear
    columns trading weight ("more coverage, less support"), which do not carry to other data.
    New features (not in the starting model) are free."""
    if start is None:
        return set()
    return {n for n in specs if n in start.features and model.features[n].weight * start.features[n].weight < 0}


def row_confidence(model: Combiner, row: GradedRow, aggregate: Callable[[Sequence[float]], float]) -> float:
    """The answer's confidence under ``model``: the check's own aggregate over its claims."""
    if not row.claims:
        return row.confidence
    return aggregate([model.support(c.features) for c in row.claims] + [1.0] * row.ungraded)


def row_auroc(model: Combiner | None, rows: Sequence[GradedRow]) -> float:
    """AUROC of 1 - confidence against the labels (``None``: the check's confidence as it ran)."""
    from guard.checks.grounding.check import aggregate

    conf = [r.confidence if model is None else row_confidence(model, r, aggregate) for r in rows]
    return auroc([1.0 - c for c in conf], [r.label for r in rows])


@dataclass(slots=True)
class Calibration:
    model: Combiner
    per_file: list[dict[str, Any]]  # file, rows, auroc as run, leave-one-file-out auroc, in-sample auroc
    caps_kept: bool


def calibrate(rows: Sequence[GradedRow], caps: Mapping[str, float], start: Combiner | None = None,
              exclude: Sequence[str] = EXCLUDED) -> Calibration:
    """Fit with and without ``caps``; keep whichever has the better mean held-out AUROC
    (leave-one-file-out when there are several files, else in-sample), report per file."""
    files = list(dict.fromkeys(r.file for r in rows))
    names = feature_names(rows, exclude)
    results: dict[bool, tuple[Combiner, list[dict[str, Any]]]] = {}
    for keep in (True, False):
        chosen = caps if keep else {}
        full = fit(rows, names=names, start=start, caps=chosen)
        table = []
        for f in files:
            mine = [r for r in rows if r.file == f]
            others = [r for r in rows if r.file != f]
            held = fit(others, names=names, start=start, caps=chosen) if len({r.label for r in others if r.claims}) == 2 else None
            table.append({
                "file": f, "rows": len(mine), "hallucinated": sum(r.label for r in mine),
                "auroc_as_run": row_auroc(None, mine),
                "auroc_held_out": row_auroc(held, mine) if held else math.nan,
                "auroc_in_sample": row_auroc(full, mine),
            })
        results[keep] = (full, table)

    def merit(table: list[dict[str, Any]]) -> float:
        held = [t["auroc_held_out"] for t in table if not math.isnan(t["auroc_held_out"])]
        return float(np.mean(held)) if held else float(np.mean([t["auroc_in_sample"] for t in table]))

    keep = merit(results[True][1]) >= merit(results[False][1]) if caps else False
    model, table = results[keep]
    return Calibration(model, table, keep)


def format_calibration(cal: Calibration) -> str:
    head = f"{'file':<44}{'rows':>7}{'halluc':>8}{'as run':>9}{'held out':>10}{'in sample':>11}"
    lines = [head, "-" * len(head)]
    for t in cal.per_file:
        lines.append(f"{t['file'][:43]:<44}{t['rows']:>7}{t['hallucinated']:>8}{t['auroc_as_run']:>9.3f}"
                     f"{t['auroc_held_out']:>10.3f}{t['auroc_in_sample']:>11.3f}")
    lines.append("")
    lines.append("AUROC per file: as run = the check's current weights; held out = fitted on the other files"
                 " (leave-one-file-out); in sample = fitted on all files.")
    lines.append(f"caps {'kept' if cal.caps_kept else 'dropped'}; weights:")
    lines.append(f"  {'bias':<22}{cal.model.bias:>9.3f}")
    for name, f in cal.model.features.items():
        lines.append(f"  {name:<22}{f.weight:>9.3f}   fill {f.fill:g}  clip [{f.clip[0]:g}, {f.clip[1]:g}]")
    return "\n".join(lines)

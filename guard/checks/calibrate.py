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
# ``alignment`` (the share of a claim in its best evidence sentence) decides which claim of an
# answer is its weakest more than how supported that claim is: fitted free on ../shared/train it
# took a weight of -4.6 and in-sample AUROC fell from 0.985 to 0.912 on HaluEval QA.
# ``unstated`` (nothing the claim adds to the question is in the evidence) is a rule that caps
# support whatever the weights (features.hard_cap); fitted as a free column on 40 dialogue rows
# it also took a weight and in-sample AUROC fell from 0.71 to 0.68.
EXCLUDED = ("units", "alignment", "unstated")
CAPS_MARGIN = 0.005  # mean held-out AUROC the fit must gain to drop the hard caps


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
    question: str = ""  # the row's question (a question-reading verifier is trained with it)


def grade_row(file: str, row: Any, policy: Any, embedder: Any, index: Any = None) -> GradedRow:
    """Run the policy's checks on one eval row (against its own context, or ``index``) and keep
    each graded claim's features."""
    from guard.checks.base import CheckInput
    from guard.checks.grounding.crossencoder import premise
    from guard.checks.evaluate import context_index
    from guard.checks.runner import build_checks, run_checks

    if index is None:
        index = context_index(row.context, embedder)
    report = run_checks(build_checks(policy, index, embedder),
                        CheckInput(question=row.question, answer=row.answer, retriever=index))
    out = GradedRow(file, row.id, row.label, confidence=report.confidence, question=row.question or "")
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


def _logistic(x: np.ndarray, y: np.ndarray, l2: float, prior: np.ndarray | None = None,
              offset: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Weights and bias of a logistic regression (Newton's method) whose weights are pulled
    towards ``prior`` (default zero) by an L2 penalty of strength ``l2``; ``offset`` is a fixed
    term added to every row's logit (the starting model's score, in the anchored fit)."""
    off = np.zeros(len(x)) if offset is None else offset
    if x.shape[1] == 0:
        x = np.zeros((len(x), 1))
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std < 1e-9] = 1.0
    z = np.hstack([np.ones((len(x), 1)), (x - mean) / std])
    w = np.zeros(z.shape[1])
    centre = np.zeros(z.shape[1])
    if prior is not None:
        centre[1:] = prior * std  # the prior's weights on standardised columns
        w[1:] = centre[1:]
    penalty = np.full(z.shape[1], l2)
    penalty[0] = 0.0
    def loss(v: np.ndarray) -> float:
        t = z @ v + off
        return float(np.logaddexp(0, t).sum() - y @ t + 0.5 * (penalty * (v - centre) ** 2).sum())

    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w + off, -30, 30)))
        grad = z.T @ (p - y) + penalty * (w - centre)
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        before, scale = loss(w), 1.0
        while scale > 1e-4 and loss(w - scale * step) > before:  # damped: never climb
            scale /= 2
        w -= scale * step
        if np.abs(scale * step).max() < 1e-7:
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
    prior_strength: float = 0.0,
) -> Combiner:
    """Weights over ``names`` (default: every numeric feature) fitted on ``rows``.

    With ``prior_strength`` > 0 the weights are pulled towards ``start``'s (a feature it lacks:
    towards zero) rather than towards zero alone: the data moves the previous weights as far as
    it must, which carries better to data unlike the rows (other languages, other tasks)."""
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
        centre = np.array([start.features[n].weight if start and n in start.features else 0.0 for n in specs])
        strength = (prior_strength if start else l2) * len(usable) / 1000
        weights, bias = _logistic(_matrix(columns, weakest), y, max(strength, l2 * len(usable) / 1000),
                                  centre if prior_strength and start else None)
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


def fit_anchored(
    rows: Sequence[GradedRow],
    start: Combiner,
    *,
    names: Sequence[str] | None = None,
    caps: Mapping[str, float] | None = None,
    l2: float = L2,
) -> Combiner:
    """The starting model's logit as it is, plus a fitted bias shift and a free weight for each
    feature it lacks (a verifier's probability, a new contradiction feature).

    Why: the free fit on HaluEval-like rows learns that data's quirks (negative coverage,
    summaries' length) and loses Chinese and Wikipedia-claim AUROC, which the starting weights
    were chosen on; letting it rescale the old logit squeezes every confidence into 0.05-0.66
    (HaluEval dialogue and summaries are hard for lexical features), which moves every band and
    the unsupported line. Anchored, the data decides how much each *new* channel adds to the
    old score, which is what refitting after a feature lands needs, and the old scale holds."""
    usable = [r for r in rows if r.claims]
    if len({r.label for r in usable}) < 2:
        raise ValueError("calibration needs rows of both labels with at least one graded claim")
    wanted = names or feature_names(usable)
    specs = _specs(usable, [n for n in wanted if n not in start.features])
    probe = Combiner(0.0, specs) if specs else None
    new = [n for n in specs if probe and len({probe.read(n, c.features) for r in usable for c in r.claims}) > 1]
    columns = Combiner(0.0, {n: specs[n] for n in new}) if new else None
    y = np.array([1.0 - r.label for r in usable])
    weakest = _weakest(start, usable)
    model = start
    for _ in range(ROUNDS):
        old = np.array([start.logit(c.features) for c in weakest])
        x = _matrix(columns, weakest) if columns else np.zeros((len(weakest), 0))
        weights, bias = _logistic(x, y, l2 * len(usable) / 1000, offset=old)
        if not columns:
            weights = np.zeros(0)
        model = Combiner(
            round(start.bias + bias, 4),
            dict(start.features)
            | {n: FeatureWeight(round(float(w), 4), specs[n].fill, specs[n].clip) for n, w in zip(new, weights)},
            dict(caps or {}),
        )
        weakest = _weakest(model, usable)
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
              exclude: Sequence[str] = EXCLUDED, prior_strength: float = 0.0, anchored: bool = True) -> Calibration:
    """Fit with and without ``caps``; keep the caps unless dropping them gains ``CAPS_MARGIN``
    of mean held-out AUROC (leave-one-file-out when there are several files, else in-sample);
    report per file. ``anchored`` (default): ``fit_anchored``; else ``fit``, every weight free."""
    files = list(dict.fromkeys(r.file for r in rows))
    names = feature_names(rows, exclude)
    results: dict[bool, tuple[Combiner, list[dict[str, Any]]]] = {}
    for keep in (True, False):
        chosen = caps if keep else {}
        def one(data: Sequence[GradedRow]) -> Combiner:
            if anchored and start is not None:
                return fit_anchored(data, start, names=names, caps=chosen)
            return fit(data, names=names, start=start, caps=chosen, prior_strength=prior_strength)

        full = one(rows)
        table = []
        for f in files:
            mine = [r for r in rows if r.file == f]
            others = [r for r in rows if r.file != f]
            held = one(others) if len({r.label for r in others if r.claims}) == 2 else None
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

    # The caps are documented rules ("a missing number caps support at 0.35"): dropped only
    # when that is clearly better held out, not for a difference within noise.
    keep = merit(results[True][1]) >= merit(results[False][1]) - CAPS_MARGIN if caps else False
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

"""How a claim's features become one support value: a logistic model read from a weights file.

The weights are data, not code: ``guard calibrate`` fits them on labelled rows (or on the
review store's decisions) and writes a JSON file that names every feature it uses, so a policy
can point at its own (``checks.grounding.weights``) and the package default
(``weights.json`` beside this module) is refitted with one command when features change.

A feature value is read from the claim's feature dict (``SupportFeatures.as_dict()`` plus any
verifier probability) as a number: a list counts its items, a bool is 0/1, ``None`` (e.g. no
embedding, no verifier opinion) takes the feature's ``fill``, and the value is clipped to the
feature's ``clip`` range (three missing names are as bad as ten). A feature the dict lacks
takes its ``fill`` too, so weights fitted with more features still load. ``caps`` bound the
support when a feature is positive ("a missing number caps support at 0.35"): hard rules that
the fit keeps only when they measure better.

File format (``format: 1``)::

    {"format": 1, "bias": -2.1,
     "features": {"coverage": {"weight": 2.4, "fill": 0.0, "clip": [0, 1]}, ...},
     "caps": {"missing_numbers": 0.35},
     "fitted": {"command": "...", "rows": 6000, "auroc": {...}}}
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from guard.checks.grounding import features as hand

FORMAT = 1


def default_path() -> Path:
    return Path(__file__).with_name("weights.json")


@dataclass(frozen=True, slots=True)
class FeatureWeight:
    weight: float
    fill: float = 0.0  # the value of a missing or None feature
    clip: tuple[float, float] = (-math.inf, math.inf)


def value(raw: Any) -> float | None:
    """A feature as a number; None for what is not one (None, text, dicts)."""
    if isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, (int, float)):
        return float(raw) if math.isfinite(raw) else None
    if isinstance(raw, (list, tuple, set, frozenset)):
        return float(len(raw))
    return None


def numeric_names(features: Mapping[str, Any]) -> list[str]:
    """The keys of a feature dict that ``value`` can read (None counts: it may be filled)."""
    return [k for k, v in features.items() if v is None or value(v) is not None]


@dataclass(frozen=True, slots=True)
class Combiner:
    bias: float
    features: dict[str, FeatureWeight]
    caps: dict[str, float] = field(default_factory=dict)
    fitted: dict[str, Any] = field(default_factory=dict)

    def read(self, name: str, features: Mapping[str, Any]) -> float:
        spec = self.features[name]
        v = value(features.get(name))
        v = spec.fill if v is None else v
        return min(max(v, spec.clip[0]), spec.clip[1])

    def logit(self, features: Mapping[str, Any]) -> float:
        return self.bias + sum(spec.weight * self.read(name, features) for name, spec in self.features.items())

    def support(self, features: Mapping[str, Any]) -> float:
        """Support in [0, 1]: the logistic of the weighted features, then the caps."""
        z = self.logit(features)
        support = 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0
        for name, cap in self.caps.items():
            v = value(features.get(name))
            if v is not None and v > 0:
                support = min(support, cap)
        return support

    # ------------------------------------------------------------ files

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "bias": self.bias,
            "features": {
                n: {"weight": f.weight, "fill": f.fill, "clip": [_num(f.clip[0]), _num(f.clip[1])]}
                for n, f in self.features.items()
            },
            "caps": dict(self.caps),
            "fitted": self.fitted,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Combiner":
        if data.get("format") != FORMAT:
            raise ValueError(f"weights format {data.get('format')!r} is not {FORMAT}")
        features = {}
        for name, spec in dict(data.get("features") or {}).items():
            lo, hi = spec.get("clip") or [None, None]
            features[str(name)] = FeatureWeight(
                float(spec["weight"]), float(spec.get("fill", 0.0)),
                (-math.inf if lo is None else float(lo), math.inf if hi is None else float(hi)),
            )
        if not features:
            raise ValueError("weights name no features")
        caps = {str(k): float(v) for k, v in dict(data.get("caps") or {}).items()}
        return cls(float(data["bias"]), features, caps, dict(data.get("fitted") or {}))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "Combiner":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls.from_dict(data)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}: not a grounding weights file ({e})") from e


def _num(x: float) -> float | None:
    return None if math.isinf(x) else x


@lru_cache(maxsize=16)
def load_combiner(path: str | None = None) -> Combiner:
    """The combiner of a weights file (the package default for None), read once per process."""
    return Combiner.load(path or default_path())


def hand_model() -> Combiner:
    """``features.score`` (the hand-set default) as a combiner, so ``guard calibrate`` starts
    from the model the check actually runs and its "as run" and "in sample" columns compare the
    same thing. The linear form of its terms: the unbound penalty ``w * (coverage -
    bound_coverage)`` splits into the two coverages, and the novel-run term ``w * max(0, run -
    3)`` is the run clipped at 3 with ``-3w`` moved into the bias. The caps are ``hard_cap``'s.
    (Missing and unbound names are clipped at three each rather than together: the support is
    near zero by then either way.)"""
    w = hand.WEIGHTS
    low = hand._NOVEL_RUN_MIN - 1
    count = (0.0, float(hand._MAX_COUNTED))

    def fw(weight: float, clip: tuple[float, float] = (0.0, 1.0), fill: float = 0.0) -> FeatureWeight:
        return FeatureWeight(weight, fill, clip)

    return Combiner(
        bias=w["bias"] - w["novel_run"] * low,
        features={
            "coverage": fw(-w["unbound"]),
            "bound_coverage": fw(w["coverage"] + w["unbound"]),
            "phrase": fw(w["phrase"]),
            "fuzzy": fw(w["fuzzy"]),
            "semantic": fw(w["semantic"], (-1.0, 1.0), hand.NEUTRAL_SEMANTIC),
            "missing_numbers": fw(w["missing_numbers"], count),
            "misbound_numbers": fw(w["missing_numbers"], count),
            "missing_years": fw(w["missing_years"], count),
            "missing_names": fw(w["missing_names"], count),
            "unbound_names": fw(w["missing_names"], count),
            "novel_run": fw(w["novel_run"], (float(low), math.inf)),
        },
        caps={
            "missing_numbers": hand.CAP_MISSING_NUMBER, "misbound_numbers": hand.CAP_MISSING_NUMBER,
            "missing_years": hand.CAP_MISSING_YEAR, "missing_names": hand.CAP_MISSING_NAME,
            "unbound_names": hand.CAP_MISSING_NAME, "contradiction": hand.CAP_CONTRADICTION,
            "unstated": hand.CAP_UNSTATED,
        },
    )

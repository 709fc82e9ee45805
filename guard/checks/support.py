"""How well one answer sentence is supported by its evidence: features and a score.

Semantic similarity says a sentence is on topic, not that it is supported: a fabricated
number or name leaves the embedding almost unchanged. So the score rests on channels that
see such changes, and uses the embedding as one feature among them:

- coverage: share of the sentence's content units (English word stems, Chinese character
  bigrams) found in the evidence;
- phrasing: share of its word pairs (English) or character trigrams (Chinese) found there,
  which catches recombined words ("专用权" -> "使用权") that unit coverage misses;
- fuzzy containment: rapidfuzz partial ratio of the sentence against the evidence;
- numbers: quantities whose value the evidence never states (671B vs 670B, 1.65万 = 16500);
- names: capitalised terms and Chinese transliterated names absent from the evidence, and
  long runs of Chinese characters the evidence has no bigram of (usually a made-up name);
- semantic: cosine similarity of the retrieval query to its best passage.

The features are combined by a logistic function with fixed weights (``WEIGHTS``). They were
chosen on pooled development data from three public sets (English QA, English Wikipedia
claims, Chinese news) with one shared set of weights, no per-language or per-set rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from guard.checks.evidence import EvidenceText
from guard.text import cjk, tokens
from guard.text.numbers import extract_quantities, unmatched_quantities

# Logistic weights (support = sigmoid(bias + sum w * feature)).
WEIGHTS = {
    "bias": -4.0,
    "coverage": 3.0,
    "phrase": 2.5,
    "fuzzy": 3.5,
    "semantic": 0.0,
    "missing_numbers": -1.6,
    "missing_years": -1.0,
    "missing_names": -0.9,
    "novel_run": -0.15,
}
_MAX_COUNTED = 3  # beyond three missing numbers or names the sentence is unsupported anyway
_NOVEL_RUN_MIN = 4  # CJK runs shorter than this are often inflection or function words


@dataclass(slots=True)
class SupportFeatures:
    coverage: float
    phrase: float
    fuzzy: float
    semantic: float
    missing_numbers: list[str] = field(default_factory=list)  # years not included
    missing_years: list[str] = field(default_factory=list)
    missing_names: list[str] = field(default_factory=list)
    novel_run: int = 0  # length of the longest uncovered CJK stretch
    units: int = 0  # content units the sentence has (0: nothing to check)

    def as_dict(self) -> dict[str, float | int | list[str]]:
        return {
            "coverage": round(self.coverage, 3),
            "phrase": round(self.phrase, 3),
            "fuzzy": round(self.fuzzy, 3),
            "semantic": round(self.semantic, 3),
            "missing_numbers": self.missing_numbers,
            "missing_years": self.missing_years,
            "missing_names": self.missing_names,
            "novel_run": self.novel_run,
        }


def _share(units: list, have: frozenset | set) -> tuple[int, int]:
    return sum(1 for u in units if u in have), len(units)


def _coverage(claim: str, ev: EvidenceText) -> tuple[float, float, int]:
    stems = tokens.content_stems(claim)
    bigrams = cjk.content_ngrams(claim, 2)
    hit_a, n_a = _share(stems, ev.stems)
    hit_b, n_b = _share(bigrams, ev.cjk2)
    units = n_a + n_b
    coverage = (hit_a + hit_b) / units if units else 1.0

    ws = tokens.words(claim)
    pairs = list(zip(ws, ws[1:]))
    trigrams = cjk.content_ngrams(claim, 3)
    hit_c, n_c = _share(pairs, ev.word_pairs)
    hit_d, n_d = _share(trigrams, ev.cjk3)
    phrase = (hit_c + hit_d) / (n_c + n_d) if n_c + n_d else coverage
    return coverage, phrase, units


def overlap(claim: str, ev: EvidenceText) -> float:
    """Share of the claim's content units in one passage; used to rerank retrieved passages."""
    return _coverage(claim, ev)[0]


def _name_found(name: str, ev: EvidenceText) -> bool:
    if name.lower() in ev.lower:
        return True
    parts = tokens.words(name)
    if parts and all(tokens.stem(p) in ev.stems for p in parts):
        return True
    return fuzz.partial_ratio(name.lower(), ev.lower) >= 90


def missing_names(claim: str, ev: EvidenceText) -> list[str]:
    names = tokens.capitalised_terms(claim) + cjk.foreign_names(claim)
    return [n for n in dict.fromkeys(names) if not _name_found(n, ev)]


def measure(claim: str, ev: EvidenceText, semantic: float) -> SupportFeatures:
    """All features of ``claim`` against the (merged) evidence; pure and cheap."""
    coverage, phrase, units = _coverage(claim, ev)
    fuzzy = fuzz.partial_ratio(claim.lower(), ev.lower) / 100 if claim.strip() else 1.0
    numbers = unmatched_quantities(extract_quantities(claim), list(ev.quantities))
    numbers = list({round(q.value, 6): q for q in numbers}.values())  # "2018 ... 2018" counts once
    runs = cjk.novel_runs(claim, set(ev.cjk2))
    return SupportFeatures(
        coverage=coverage,
        phrase=phrase,
        fuzzy=fuzzy,
        semantic=semantic,
        missing_numbers=[q.text for q in numbers if not q.is_year],
        missing_years=[q.text for q in numbers if q.is_year],
        missing_names=missing_names(claim, ev),
        novel_run=max((len(r) for r in runs), default=0),
        units=units,
    )


def score(f: SupportFeatures) -> float:
    """Support in [0, 1] from the features (a fixed logistic model, see ``WEIGHTS``)."""
    w = WEIGHTS
    z = (
        w["bias"]
        + w["coverage"] * f.coverage
        + w["phrase"] * f.phrase
        + w["fuzzy"] * f.fuzzy
        + w["semantic"] * f.semantic
        + w["missing_numbers"] * min(len(f.missing_numbers), _MAX_COUNTED)
        + w["missing_years"] * min(len(f.missing_years), _MAX_COUNTED)
        + w["missing_names"] * min(len(f.missing_names), _MAX_COUNTED)
        + w["novel_run"] * max(0, f.novel_run - _NOVEL_RUN_MIN + 1)
    )
    return 1.0 / (1.0 + math.exp(-z))


def reasons(f: SupportFeatures) -> list[str]:
    """Why a sentence scored low, in words a reviewer can act on."""
    out = [f"number {n} not in evidence" for n in f.missing_numbers + f.missing_years]
    out += [f"name {n} not in evidence" for n in f.missing_names]
    if f.novel_run >= _NOVEL_RUN_MIN:
        out.append(f"{f.novel_run} consecutive characters not in evidence")
    if f.coverage < 0.5:
        out.append(f"only {f.coverage:.0%} of the words are in the evidence")
    return out

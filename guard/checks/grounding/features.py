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
- semantic: cosine similarity of the retrieval query to its best passage, when the query was
  embedded (``auto`` retrieval embeds only sentences keywords could not place); otherwise
  ``NEUTRAL_SEMANTIC``, the typical value, so the other features decide alone.

The features are combined by a logistic function with fixed weights (``WEIGHTS``), then
capped when a number, year or name is missing. One set of weights serves both languages: it
was chosen by a small search maximising the worst per-set AUROC margin on pooled development
data from three public sets (English QA, English Wikipedia claims, Chinese news), and the
bias so that the default bands (pass >= 0.7-0.75) give a similar balanced accuracy on all
three. There are no per-language or per-set rules; phrasing and novel runs carry little
weight there but are kept small rather than dropped, since they flag compound changes that
the sets rarely contain.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz

from guard.checks.grounding.evidence import EvidenceText
from guard.checks.grounding.reasons import code, render
from guard.text import cjk, tokens
from guard.text.numbers import Quantity, extract_quantities, unmatched_quantities

# Logistic weights (support = sigmoid(bias + sum w * feature)).
WEIGHTS = {
    "bias": -2.5,
    "coverage": 2.5,
    "phrase": 0.5,
    "fuzzy": 3.5,
    "semantic": 1.0,
    "missing_numbers": -3.5,
    "missing_years": -2.5,
    "missing_names": -3.0,
    "novel_run": -0.05,
}
# Stands in for the semantic feature when the sentence was not embedded: about the mean cosine
# of a sentence to its best passage on the development data, so scores keep their calibration.
# (Measured there, the feature moves AUROC by under 0.005 either way: it says "on topic".)
NEUTRAL_SEMANTIC = 0.65
# Whatever else matches, a sentence stating a number (or year, or name) that the evidence
# never states is at most this supported: fluent paraphrase around a wrong figure is the
# typical fabrication, and lexical overlap must not outvote it.
CAP_MISSING_NUMBER = 0.35
CAP_MISSING_YEAR = 0.5
CAP_MISSING_NAME = 0.5
_MAX_COUNTED = 3  # beyond three missing numbers or names the sentence is unsupported anyway
_NOVEL_RUN_MIN = 4  # CJK runs shorter than this are often inflection or function words


@dataclass(slots=True)
class SupportFeatures:
    coverage: float
    phrase: float
    fuzzy: float
    semantic: float | None
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
            "semantic": None if self.semantic is None else round(self.semantic, 3),
            "missing_numbers": self.missing_numbers,
            "missing_years": self.missing_years,
            "missing_names": self.missing_names,
            "novel_run": self.novel_run,
            "units": self.units,
        }


@dataclass(frozen=True, slots=True)
class Claim:
    """A sentence cut into the units the features compare, once per sentence."""

    text: str
    lower: str
    stems: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...]
    cjk2: tuple[str, ...]
    cjk3: tuple[str, ...]
    quantities: tuple[Quantity, ...]
    names: tuple[str, ...]

    @classmethod
    def of(cls, text: str) -> "Claim":
        ws = tokens.words(text)
        names = tokens.capitalised_terms(text) + cjk.foreign_names(text)
        return cls(
            text=text,
            lower=text.lower(),
            stems=tuple(tokens.content_stems(text)),
            pairs=tuple(zip(ws, ws[1:])),
            cjk2=tuple(cjk.content_ngrams(text, 2)),
            cjk3=tuple(cjk.content_ngrams(text, 3)),
            quantities=tuple(extract_quantities(text)),
            names=tuple(dict.fromkeys(names)),
        )


def _hits(units: tuple, have: frozenset) -> int:
    return sum(1 for u in units if u in have)


def overlap(claim: Claim, ev: EvidenceText) -> float:
    """Share of the claim's content units (stems, CJK bigrams) found in ``ev``."""
    units = len(claim.stems) + len(claim.cjk2)
    if not units:
        return 1.0
    return (_hits(claim.stems, ev.stems) + _hits(claim.cjk2, ev.cjk2)) / units


def rough_overlap(claim: Claim, passage_lower: str) -> float:
    """``overlap`` by substring search in the raw passage, without tokenising it.

    Used to rerank every retrieved candidate: it costs microseconds per passage, and only
    the passages kept as evidence are then tokenised for the full features.
    """
    units = claim.stems + claim.cjk2
    if not units:
        return 1.0
    return sum(1 for u in units if u in passage_lower) / len(units)


def phrasing(claim: Claim, ev: EvidenceText) -> float:
    """Share of word pairs and CJK trigrams found in ``ev`` (word order and compounds)."""
    units = len(claim.pairs) + len(claim.cjk3)
    if not units:
        return overlap(claim, ev)
    return (_hits(claim.pairs, ev.word_pairs) + _hits(claim.cjk3, ev.cjk3)) / units


def _name_found(name: str, ev: EvidenceText) -> bool:
    if name.lower() in ev.lower:
        return True
    if cjk.has_cjk(name):
        return cjk.name_core(name) in cjk.normalise_name_dots(ev.text)
    parts = tokens.words(name)
    if parts and all(tokens.stem(p) in ev.stems for p in parts):
        return True
    return fuzz.partial_ratio(name.lower(), ev.lower) >= 90


def subject_terms(claim: Claim) -> list[str]:
    """What the sentence is about, as far as words tell: its names, plus a capitalised first
    word ("Qwen2.5 was trained..."), which ``capitalised_terms`` drops as a mere sentence start."""
    first = tokens.words(claim.text[:40])[:1]
    extra = [w for w in first if claim.text.lstrip()[:1].isupper() and w not in tokens.STOPWORDS and len(w) > 2]
    return [n.lower() for n in claim.names] + extra


def number_evidence(claim: Claim, parts: Sequence[EvidenceText], topics: Sequence[str]) -> list[Quantity]:
    """The quantities a sentence's figures may be matched against: those of the passages that
    are about the sentence's subject.

    Evidence is several passages merged, and in a knowledge base on many topics one of them may
    state the very figure about something else ("Llama 3.1 ... 15 trillion tokens" for a claim
    about Qwen2.5). A passage whose section heading (``topics``, from the index) and text both
    leave out the sentence's subject is such a passage; passages without a heading (a row's
    context, JSONL records) always count. When none qualifies, all count (the missing name is
    flagged on its own).
    """
    subject = subject_terms(claim)
    if claim.quantities and subject:
        about = [
            p for p, topic in zip(parts, topics)
            if not topic or any(term in p.lower or term in topic.lower() for term in subject)
        ]
        parts = about or parts
    return [q for p in parts for q in p.quantities]


def measure(
    claim: Claim,
    ev: EvidenceText,
    semantic: float | None,
    parts: Sequence[EvidenceText] = (),
    topics: Sequence[str] = (),
) -> SupportFeatures:
    """All features of ``claim`` against the merged evidence ``ev``; with the passages ``parts``
    and their section ``topics``, figures are matched per passage (``number_evidence``)."""
    stated = number_evidence(claim, parts, topics) if parts else list(ev.quantities)
    numbers = unmatched_quantities(list(claim.quantities), stated)
    numbers = list({round(q.value, 6): q for q in numbers}.values())  # "2018 ... 2018" counts once
    runs = cjk.novel_runs(claim.text, ev.cjk2)
    return SupportFeatures(
        coverage=overlap(claim, ev),
        phrase=phrasing(claim, ev),
        fuzzy=fuzz.partial_ratio(claim.lower, ev.lower) / 100 if claim.lower.strip() else 1.0,
        semantic=semantic,
        missing_numbers=[q.text for q in numbers if not q.is_year],
        missing_years=[q.text for q in numbers if q.is_year],
        missing_names=[n for n in claim.names if not _name_found(n, ev)],
        novel_run=max((len(r) for r in runs), default=0),
        units=len(claim.stems) + len(claim.cjk2),
    )


def score(f: SupportFeatures) -> float:
    """Support in [0, 1] from the features (a fixed logistic model, see ``WEIGHTS``)."""
    w = WEIGHTS
    z = (
        w["bias"]
        + w["coverage"] * f.coverage
        + w["phrase"] * f.phrase
        + w["fuzzy"] * f.fuzzy
        + w["semantic"] * (NEUTRAL_SEMANTIC if f.semantic is None else f.semantic)
        + w["missing_numbers"] * min(len(f.missing_numbers), _MAX_COUNTED)
        + w["missing_years"] * min(len(f.missing_years), _MAX_COUNTED)
        + w["missing_names"] * min(len(f.missing_names), _MAX_COUNTED)
        + w["novel_run"] * max(0, f.novel_run - _NOVEL_RUN_MIN + 1)
    )
    support = 1.0 / (1.0 + math.exp(-z))
    if f.missing_numbers:
        support = min(support, CAP_MISSING_NUMBER)
    if f.missing_years:
        support = min(support, CAP_MISSING_YEAR)
    if f.missing_names:
        support = min(support, CAP_MISSING_NAME)
    return support


def reasons(f: SupportFeatures) -> list[str]:
    """Why a sentence scored low, in words a reviewer can act on (English)."""
    return [render(c) for c in reason_codes(f)]


def reason_codes(f: SupportFeatures) -> list[dict[str, Any]]:
    """The same reasons as codes with parameters (see ``guard.checks.grounding.reasons``)."""
    out = [code("number_missing", value=n) for n in f.missing_numbers + f.missing_years]
    out += [code("name_missing", value=n) for n in f.missing_names]
    if f.novel_run >= _NOVEL_RUN_MIN:
        out.append(code("novel_run", count=f.novel_run))
    if f.coverage < 0.5:
        out.append(code("low_coverage", share=f"{f.coverage:.0%}"))
    return out

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

Facts are bound to what they are about (``binding``): names and figures count only from the
passages about the claim's subject, a figure must sit in the phrase it is claimed for, and
coverage is also measured over those passages alone (``bound_coverage``). The claim is
compared with its best-matching evidence sentence for contradictions (``contradiction``:
polarity, antonyms, exclusive categories, role order). Names and words are normalised first
(``guard.text.normalize``: ordinals, dates, abbreviations, aliases).

The features are combined by a logistic function with fixed weights (``WEIGHTS``), then
capped when a number, year or name is missing or misbound, or the claim is contradicted
(hard evidence: no weighting may let such a claim pass). One set of weights serves both languages: it
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

from guard.checks.grounding.binding import bound_flags, misbound_numbers, passage_subject
from guard.checks.grounding.contradiction import MIN_ALIGNMENT, Conflict, find_conflict, ranked_sentences
from guard.checks.grounding.evidence import EvidenceText
from guard.checks.grounding.names import name_found, names_to_state
from guard.checks.grounding.reasons import code, render
from guard.checks.grounding.units import Claim
from guard.text import cjk, tokens
from guard.text.normalize import Aliases, DateMention, default_aliases, find_dates
from guard.text.numbers import Quantity, extract_quantities, glued_in, unmatched_quantities, unmatched_score_runs

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
    # share of the claim's units found only in passages about another subject (headed passages
    # that do not name the claim's subject): words borrowed from another topic
    "unbound": -3.0,
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
# A claim the best-matching evidence sentence contradicts is unsupported whatever its overlap.
CAP_CONTRADICTION = 0.25
# An answer whose every word beyond the question's is absent from the evidence: held, like a
# missing name (additions.unstated_addition).
CAP_UNSTATED = 0.5
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
    bound_coverage: float | None = None  # coverage over the passages about the claim's subject
    # names found only in passages about another subject: (name, that subject, the claim's)
    unbound_names: list[tuple[str, str, str]] = field(default_factory=list)
    # figures the evidence states for other words: (figure, claimed for, evidence's figure there, evidence word)
    misbound_numbers: list[tuple[str, str, str, str]] = field(default_factory=list)
    conflict: Conflict | None = None  # the contradiction with the best-matching sentence
    alignment: float = 0.0  # share of the claim's units in its best-matching evidence sentence
    # what the claim adds to the question, when the evidence states none of it (claims.py)
    unstated: list[str] = field(default_factory=list)

    @property
    def contradiction(self) -> int:
        return int(self.conflict is not None)

    def as_dict(self) -> dict[str, float | int | list[str] | None]:
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
            "bound_coverage": round(self.coverage if self.bound_coverage is None else self.bound_coverage, 3),
            "unbound_names": [n for n, _, _ in self.unbound_names],
            "misbound_numbers": [v for v, _, _, _ in self.misbound_numbers],
            "contradiction": self.contradiction,  # 0/1; the kind and words are in the reason code
            "alignment": round(self.alignment, 3),
            "unstated": int(bool(self.unstated)),
        }


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


def subject_terms(claim: Claim) -> list[str]:
    """What the sentence is about, as far as words tell: its names, plus a capitalised first
    word ("Qwen2.5 was trained..."), which ``capitalised_terms`` drops as a mere sentence start,
    unless it is an imperative or a sentence adverb ("Roughly 7 GB ...", "Run ...")."""
    first = tokens.words(claim.text[:40])[:1]
    extra = [
        w for w in first
        if claim.text.lstrip()[:1].isupper() and w not in tokens.STOPWORDS and w not in tokens.STARTERS and len(w) > 2
    ]
    return [n.lower() for n in claim.names] + extra


def number_evidence(claim: Claim, parts: Sequence[EvidenceText], topics: Sequence[str]) -> list[Quantity]:
    """The quantities a sentence's figures may be matched against: those of the passages that
    are about the sentence's subject.

    Evidence is several passages merged, and in a knowledge base on many topics one of them may
    state the very figure about something else ("Llama 3.1 ... 15 trillion tokens" for a claim
    about Qwen2.5). A passage whose section heading (``topics``, from the index) and text both
    leave out the sentence's subject is such a passage; passages without a heading (a row's
    context, JSONL records) always count. When no headed passage names the subject, all count:
    the subject is not what the knowledge is filed under (the missing name is flagged on its
    own), or it is no subject ("Roughly 7 GB ..." counted only an FAQ record without a heading).
    """
    subject = subject_terms(claim)
    if claim.quantities and subject:
        named = [bool(topic) and any(t in p.lower or t in topic.lower() for t in subject) for p, topic in zip(parts, topics)]
        if any(named):
            parts = [p for p, topic, n in zip(parts, topics, named) if n or not topic]
    return [q for p in parts for q in p.quantities]


def _alias_stems(claim: Claim, ev: EvidenceText, aliases: Aliases) -> set[str]:
    """Claim stems the evidence states under another spelling ("US" when it says "United States")."""
    found: set[str] = set()
    mentioned = aliases.mentions(claim.text)
    if not mentioned:
        return found
    have = ev.alias_groups(aliases)
    for form, group in mentioned:
        if group in have:
            found.update(tokens.content_stems(form))
    return found


def _coverage(claim: Claim, ev: EvidenceText, extra: set[str]) -> float:
    units = len(claim.stems) + len(claim.cjk2)
    if not units:
        return 1.0
    hits = sum(1 for u in claim.stems if u in ev.stems or u in extra) + _hits(claim.cjk2, ev.cjk2)
    return hits / units


def _dated(claim: Claim, numbers: list[Quantity], ev: EvidenceText) -> list[Quantity]:
    """Drop the figures of claim dates the evidence states in another form ("16 August 1977"
    for "1977-08-16", "1977年8月16日"): a date is supported when an evidence date agrees on
    every part the claim gives."""
    if not claim.dates or not numbers:
        return numbers
    supported = [d for d in claim.dates if any(d.agrees(e) for e in ev.dates)]
    return [q for q in numbers if not any(d.start <= q.start < d.end for d in supported)]


def _wrong_dates(claim: Claim, phrase: Sequence[DateMention], anywhere: Sequence[DateMention]) -> list[str]:
    """Claim dates whose year the sentences stating the claim (``phrase``) date otherwise
    ("September 1977" where the evidence says "August 16, 1977"), and that no evidence date
    (``anywhere``) is compatible with: the year alone would match."""
    out = []
    for d in claim.dates:
        if d.year is None or d.month is None or d.day is None:
            continue  # month-level dates ("May 2018") misfired on web pages full of other dates
        same_year = [e for e in phrase if e.year == d.year and e.month is not None]
        # "03/04/2009" is two readings of one date: it is wrong only when neither fits
        readings = [r for r in claim.dates if r.start == d.start]
        if same_year and not any(r.compatible(e) for r in readings for e in anywhere):
            out.append(claim.text[d.start : d.end])
    return list(dict.fromkeys(out))


def measure(
    claim: Claim,
    ev: EvidenceText,
    semantic: float | None,
    parts: Sequence[EvidenceText] = (),
    topics: Sequence[str] = (),
    aliases: Aliases | None = None,
) -> SupportFeatures:
    """All features of ``claim`` against the merged evidence ``ev``; with the passages ``parts``
    and their section ``topics``, figures, names and coverage are bound to the passages about
    the claim's subject (``binding``) and the claim is checked for contradictions."""
    aliases = aliases or default_aliases()
    parts = list(parts) or [ev]
    flags = bound_flags(claim.subject, parts, topics)
    bound = [p for p, f in zip(parts, flags) if f]
    bound_ev = EvidenceText.merge(bound) if len(bound) < len(parts) else ev
    stated = number_evidence(claim, bound, [t for t, f in zip(topics, flags) if f]) if bound else list(ev.quantities)
    numbers = unmatched_quantities(list(claim.quantities), stated)
    numbers = _dated(claim, numbers, bound_ev)
    numbers = [q for q in numbers if not glued_in(q, bound_ev.text)]
    ranked = ranked_sentences(claim.stems, claim.cjk2, bound)
    phrase = [s.text for s, a in ranked[:3] if a >= MIN_ALIGNMENT]  # sentences stating the claim's fact
    ordinal_words = [q for q in numbers if q.kind == "ordinal" and q.text.isalpha()]
    if ordinal_words and not any(q.kind == "ordinal" for t in phrase for q in extract_quantities(t)):
        # "the third quarter": an ordinal word is checked only where the sentences stating the
        # claim give an ordinal (second-largest vs third-largest); digit forms (15th) always are.
        numbers = [q for q in numbers if not (q.kind == "ordinal" and q.text.isalpha())]
    numbers = list({round(q.value, 6): q for q in numbers}.values())  # "2018 ... 2018" counts once
    wrong_dates = _wrong_dates(claim, [d for t in phrase for d in find_dates(t)], bound_ev.dates) if claim.dates else []
    names = names_to_state(claim.text, claim.names, ev, aliases)
    missing_names = [n for n in names if not name_found(n, ev, aliases)]
    unbound = []
    if bound_ev is not ev:
        for n in names:
            if n in missing_names or (claim.subject and n.lower() == claim.subject.lower()) or name_found(n, bound_ev, aliases):
                continue
            where = next((passage_subject(p, t) for p, t, f in zip(parts, list(topics) + [""] * len(parts), flags)
                          if not f and name_found(n, p, aliases)), "")
            unbound.append((n, where, claim.subject or ""))
    drop = frozenset(s for n in claim.names + ((claim.subject,) if claim.subject else ()) for s in tokens.content_stems(n))
    missing_values = {round(q.value, 6) for q in numbers}
    # Chinese contexts are character bigrams next to measure words and verbs shared by many
    # figures (元, 点, 下跌); measured on Chinese news they bind figures no better than chance.
    misbound = [] if claim.cjk2 else [
        (m.value, m.claim_word, m.other, m.evidence_word)
        for m in misbound_numbers(claim.text, [q for q in claim.quantities if round(q.value, 6) not in missing_values], bound, drop,
                                  frozenset(claim.stems) | frozenset(claim.cjk2))
    ]
    extra = _alias_stems(claim, ev, aliases)
    runs = cjk.novel_runs(claim.text, ev.cjk2)
    conflict, aligned = find_conflict(claim.text, claim.stems, claim.cjk2, claim.names + ((claim.subject,) if claim.subject else ()), bound, ranked)
    return SupportFeatures(
        coverage=_coverage(claim, ev, extra),
        phrase=phrasing(claim, ev),
        fuzzy=fuzz.partial_ratio(claim.lower, bound_ev.lower) / 100 if claim.lower.strip() else 1.0,
        semantic=semantic,
        missing_numbers=[q.label for q in numbers if not q.is_year] + unmatched_score_runs(claim.text, bound_ev.text),
        missing_years=[q.text for q in numbers if q.is_year] + wrong_dates,
        missing_names=missing_names,
        novel_run=max((len(r) for r in runs), default=0),
        units=len(claim.stems) + len(claim.cjk2),
        bound_coverage=_coverage(claim, bound_ev, extra) if bound_ev is not ev else None,
        unbound_names=unbound,
        misbound_numbers=misbound,
        conflict=conflict,
        alignment=aligned,
    )


def score(f: SupportFeatures) -> float:
    """Support in [0, 1] from the features (a fixed logistic model, see ``WEIGHTS``)."""
    w = WEIGHTS
    coverage = f.coverage if f.bound_coverage is None else f.bound_coverage
    z = (
        w["bias"]
        + w["coverage"] * coverage
        + w["phrase"] * f.phrase
        + w["fuzzy"] * f.fuzzy
        + w["semantic"] * (NEUTRAL_SEMANTIC if f.semantic is None else f.semantic)
        + w["missing_numbers"] * min(len(f.missing_numbers), _MAX_COUNTED)
        + w["missing_years"] * min(len(f.missing_years), _MAX_COUNTED)
        + w["missing_names"] * min(len(f.missing_names) + len(f.unbound_names), _MAX_COUNTED)
        + w["missing_numbers"] * min(len(f.misbound_numbers), _MAX_COUNTED)
        + w["novel_run"] * max(0, f.novel_run - _NOVEL_RUN_MIN + 1)
        + w["unbound"] * (f.coverage - coverage)
    )
    return min(1.0 / (1.0 + math.exp(-z)), hard_cap(f))


def hard_cap(f: SupportFeatures) -> float:
    """The most support hard evidence allows, whatever model weighs the features: a figure or
    name the evidence never states (or states for something else), a contradiction."""
    cap = 1.0
    if f.missing_numbers or f.misbound_numbers:
        cap = min(cap, CAP_MISSING_NUMBER)
    if f.missing_years:
        cap = min(cap, CAP_MISSING_YEAR)
    if f.missing_names or f.unbound_names:
        cap = min(cap, CAP_MISSING_NAME)
    if f.conflict is not None:
        cap = min(cap, CAP_CONTRADICTION)
    if f.unstated:
        cap = min(cap, CAP_UNSTATED)
    return cap


def reasons(f: SupportFeatures) -> list[str]:
    """Why a sentence scored low, in words a reviewer can act on (English)."""
    return [render(c) for c in reason_codes(f)]


def reason_codes(f: SupportFeatures) -> list[dict[str, Any]]:
    """The same reasons as codes with parameters (see ``guard.checks.grounding.reasons``)."""
    out = []
    if f.conflict is not None:
        out.append(code(f"contradiction_{f.conflict.kind}", **f.conflict.as_params()))
    out += [code("number_missing", value=n) for n in f.missing_numbers + f.missing_years]
    out += [
        code("number_misbound", value=v, claim_word=cw, other=o, evidence_word=ew)
        for v, cw, o, ew in f.misbound_numbers
    ]
    out += [code("name_missing", value=n) for n in f.missing_names]
    out += [
        code("name_unbound", value=n, found_for=where or "another subject", subject=subject)
        for n, where, subject in f.unbound_names
    ]
    if f.unstated:
        out.append(code("unstated_addition", words=", ".join(f.unstated)))
    if f.novel_run >= _NOVEL_RUN_MIN:
        out.append(code("novel_run", count=f.novel_run))
    if f.coverage < 0.5:
        out.append(code("low_coverage", share=f"{f.coverage:.0%}"))
    return out

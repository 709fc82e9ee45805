"""Facts bound to what they are about: which evidence states the claim's subject, and whether
a figure sits in the same phrase as the words it is claimed for.

Evidence is several passages, and a knowledge base on many topics states most names and
figures somewhere: "Alibaba Cloud" in the Qwen2.5 section, "37B" as DeepSeek-V3's *activated*
count. Matched as a bag, "DeepSeek-V3 was released by Alibaba Cloud" and "activates 671B of
its 37B parameters" look supported. Two bindings stop that, both cheap (set look-ups over
what ``EvidenceText`` caches per passage):

- subject binding: the claim's *anchor* (its leading name: "DeepSeek-V3", "Llama 3.1",
  "TTFT") selects the passages about it, by their text or section heading. A passage with a
  heading that names neither is about something else: names, figures and words found only
  there do not support the claim. Passages without a heading (a row's context, JSONL records)
  always count, since a sentence-sized chunk often names its subject only by a pronoun.
- phrase binding: each figure carries its *context*, the content words next to it inside its
  clause ("671B total parameters" -> {total, parameters}). A claim figure whose evidence
  occurrences all have other contexts, while another figure in the same evidence sentence has
  the claim's context, is misbound ("671B" is claimed as activated; the evidence activates
  37B). A lifespan "(1935 – 1977)" gives its years the contexts born and died.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from guard.checks.grounding.evidence import EvidenceText
from guard.text import cjk, tokens
from guard.text.normalize import LIFESPAN_RE, find_dates
from guard.text.numbers import Quantity, extract_quantities, same_quantity

_WORD_RE = re.compile(r"[A-Za-z][A-Za-z'’\-]*[A-Za-z]|[A-Za-z]")
_CLAUSE_END = re.compile(r"[,;:()（），；：。!?！？\n]|\.(?=\s|$)|\s[–—-]\s|\band\b|\bwhile\b|\bbut\b")
_WINDOW = 3  # content words each side of a figure
# A leading term: a capitalised word, acronym or version-like token, with the capitalised or
# numeric tokens that follow it ("Llama 3.1", "DeepSeek-V3", "TTFT", "Qwen2.5").
_LEAD_RE = re.compile(r"\s*(?:(?:the|The)\s+)?([A-Za-z0-9][A-Za-z0-9.\-+_]*(?:\s+(?:[A-Z0-9][A-Za-z0-9.\-+_]*))*)")
_CJK_LEAD_RE = re.compile(r"\s*([\u3400-\u9fff]{2,6}?)(?:是|为|由|于|在|被|将|采用|使用)")


@dataclass(frozen=True, slots=True)
class Slot:
    """A figure in a text with the content words of its phrase."""

    quantity: Quantity
    context: frozenset[str]
    sentence: int  # which sentence of the text it is in
    sentence_text: str = ""  # that sentence (its units are computed only when compared)


def anchor(text: str, names: Sequence[str] = ()) -> str | None:
    """The claim's subject as a search term, or None when it has no clear leading name."""
    m = _LEAD_RE.match(text)
    if m:
        term = m.group(1).rstrip(".-")
        first = term.split()[0] if term else ""
        looks_named = bool(first) and (
            first[0].isupper() or any(c.isdigit() for c in first) or any(c.isupper() for c in first[1:])
        )
        if first.lower() in tokens.STARTERS:  # "Run ...", "Unlike Llama 3.1, Qwen2.5 ...": not the subject
            head, comma, rest = text.partition(",")
            if comma and rest.strip():
                return anchor(rest, [n for n in names if n in rest])
            return names[0] if names else None
        if looks_named and first.lower() not in tokens.STOPWORDS and len(term) > 1 and not first.isdigit():
            words = term.split()
            # "Llama 3.1 does" keeps "Llama 3.1"; "TTFT is" keeps "TTFT": drop trailing lower-case words
            while words and words[-1].islower() and len(words) > 1:
                words.pop()
            return " ".join(words)
    m = _CJK_LEAD_RE.match(text)
    if m:
        return m.group(1)
    return names[0] if names else None


def passage_subject(part: EvidenceText, topic: str) -> str:
    """What a passage is about, for a reviewer: its last heading, else its first name."""
    if topic:
        return topic.split(" > ")[-1].strip()
    terms = tokens.capitalised_terms(part.text[:200])
    return terms[0] if terms else ""


def bound_flags(term: str | None, parts: Sequence[EvidenceText], topics: Sequence[str]) -> list[bool]:
    """Per passage: does it count as evidence about ``term``? (See the module docstring.)"""
    if not term or not parts:
        return [True] * len(parts)
    key = term.lower()
    topics = list(topics) + [""] * (len(parts) - len(topics))
    mentions = [key in p.lower or key in t.lower() for p, t in zip(parts, topics)]
    if not any(mentions):
        return [True] * len(parts)  # the subject is nowhere: nothing to bind to
    return [m or not t for m, t in zip(mentions, topics)]


def _clause_bounds(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _CLAUSE_END.finditer(text)]


def _context(text: str, lo: int, hi: int, left: bool, drop: frozenset[str]) -> set[str]:
    segment = text[lo:hi]
    stems = [tokens.stem(w) for w in (w.lower() for w in _WORD_RE.findall(segment))
             if w not in tokens.STOPWORDS and len(w) > 1]
    stems = [s for s in stems if s not in drop]
    picked = set(stems[-_WINDOW:] if left else stems[:_WINDOW])
    runs = cjk.cjk_runs(segment)
    if runs:
        run = runs[-1] if left else runs[0]
        run = run[-3:] if left else run[:3]
        picked.update(g for g in cjk.char_ngrams(run, 2) if not all(c in "的了是在和与及或为有" for c in g))
    return picked


def slots(text: str, quantities: Sequence[Quantity] | None = None, drop: frozenset[str] = frozenset()) -> tuple[Slot, ...]:
    """Every figure of ``text`` with its phrase context (content words inside its clause, up to
    the next figure). A date's numbers share the date's context; lifespan years get born/died."""
    qs = list(quantities) if quantities is not None else extract_quantities(text)
    qs = [q for q in qs if not _is_version(text, q) and not _is_joined(text, q)]
    if not qs:
        return ()
    bounds = _clause_bounds(text)
    dates = find_dates(text)
    spans = []  # (start, end) of the unit each figure belongs to (itself, or its date)
    for q in qs:
        d = next((d for d in dates if d.start <= q.start < d.end), None)
        end = q.end
        if q.unit:  # "9 GHz": the unit is part of the figure, not its context
            at = text.find(q.unit, q.end, q.end + len(q.unit) + 2)
            end = at + len(q.unit) if at >= 0 else end
        spans.append((d.start, d.end) if d else (q.start, end))
    edges = sorted({s for s, _ in spans} | {e for _, e in spans})
    lifespan_ctx: dict[int, str] = {}
    for m in LIFESPAN_RE.finditer(text):
        lifespan_ctx[m.start("born")] = "born"
        lifespan_ctx[m.start("died")] = "died"
    sentence_ends = [m.end() for m in re.finditer(r"[.!?。！？]\s|[。！？]|\n", text)]
    cuts = [0] + sentence_ends + [len(text)]
    out = []
    for q, (s, e) in zip(qs, spans):
        lo_clause = max([b1 for b0, b1 in bounds if b1 <= s] + [0])
        hi_clause = min([b0 for b0, _ in bounds if b0 >= e] + [len(text)])
        before = max([x for x in edges if x <= s and x != s], default=-1)
        after = min([x for x in edges if x >= e and x != e], default=len(text) + 1)
        # words between two figures of one clause are split between them, the first half to
        # the figure before ("16-bit precision | a 7B model"), so neither claims the other's
        lo = _halfway(text, before, s) if before > lo_clause else lo_clause
        hi = _halfway(text, e, after) if after < hi_clause else hi_clause
        # a unit written after the figure ("9 GHz") is part of the figure, not its context
        ctx = _context(text, lo, s, True, drop) | _context(text, e, hi, False, drop)
        if q.start in lifespan_ctx:
            ctx.add(lifespan_ctx[q.start])
        sentence = sum(1 for x in sentence_ends if x <= q.start)
        out.append(Slot(q, frozenset(ctx), sentence, text[cuts[sentence] : cuts[sentence + 1]]))
    return tuple(out)


def _halfway(text: str, a: int, b: int) -> int:
    """Where the words between offsets ``a`` and ``b`` split in two, the extra one going first."""
    words = list(re.finditer(r"\S+", text[a:b]))
    return a + words[(len(words) + 1) // 2 - 1].end() if words else a


_VERSION_BEFORE = re.compile(r"[A-Z][A-Za-z\-]*\s$")


def _is_version(text: str, q: Quantity) -> bool:
    """A model or product version ("Llama 3.1", "Python 3.11"), part of a name, not a figure."""
    return "." in q.text and not q.unit and bool(_VERSION_BEFORE.search(text[max(0, q.start - 30) : q.start]))


_JOINED_BEFORE = re.compile(r"\d\s?[/:–—\-]\s?$|\s[x×*]\s$")
_JOINED_AFTER = re.compile(r"^\s?[/:–—\-]\s?\d|^\s[x×*]\s")


def _is_joined(text: str, q: Quantity) -> bool:
    """Part of a time, ratio, range or product ("24/7", "7:00", "2018–19", "2 x layers x
    heads"): not a figure with a role."""
    return bool(_JOINED_BEFORE.search(text[max(0, q.start - 3) : q.start]) or _JOINED_AFTER.match(text[q.end : q.end + 3]))


_SCALED = re.compile(r"\d\s*(?:[KMBT]\b|thousand|million|billion|trillion)|万|亿", re.IGNORECASE)


def _kind(q: Quantity) -> tuple[str, str]:
    """Figures of one kind compete for a context: years with years, ordinals with ordinals, one
    unit dimension, and scaled counts ("405B", "15 trillion") apart from bare ones: "in three
    sizes: 8B, 70B and 405B parameters" does not make "three" the rival of "405B sizes"."""
    if q.is_year:
        return ("year", q.dimension)
    kind = q.kind or ("scaled" if _SCALED.search(q.text) else "cardinal")
    return (kind, q.dimension)


def evidence_slots(part: EvidenceText) -> tuple[Slot, ...]:
    """``slots`` of one passage, cached on it."""
    if part._slots is None:
        part._slots = slots(part.text, part.quantities)
    return part._slots


@dataclass(frozen=True, slots=True)
class Misbound:
    value: str  # the claim's figure as written ("671B")
    claim_word: str  # the context word it is claimed for ("activates")
    other: str  # the figure the evidence states for that word ("37B")
    evidence_word: str  # a word the evidence states the claim's figure with ("total")


def misbound_numbers(claim_text: str, claim_qs: Sequence[Quantity], parts: Sequence[EvidenceText],
                     drop: frozenset[str] = frozenset(), claim_units: frozenset[str] | None = None) -> list[Misbound]:
    """Claim figures that the evidence states, but only for other words (see the module docstring).

    Conservative by design: every evidence occurrence of the figure must have a context, and
    another figure of an evidence sentence stating it must share more of the claim's context
    words (weighted by how few figures each word sits next to) than any occurrence does.
    """
    out: list[Misbound] = []
    mine = [s for s in slots(claim_text, claim_qs, drop) if s.context and s.quantity.checked]
    if not mine:
        return out
    # only passages stating one of the claim's figures can bind it (rivals share its sentence)
    figures = [c.quantity for c in mine]
    stating = [i for i, p in enumerate(parts) if any(same_quantity(f, q) for f in figures for q in p.quantities)]
    ev = [(i, s) for i in stating for s in evidence_slots(parts[i])]
    texts = [p.text for p in parts]
    weight: dict[str, float] | None = None
    for c in mine:
        same = [(i, s) for i, s in ev if same_quantity(c.quantity, s.quantity)]
        if not same or any(not s.context for _, s in same):
            continue
        # the rival must be in a sentence that states the claim (same phrase), not any sentence
        places = {(i, s.sentence) for i, s in same if claim_units is None or _aligned(claim_units, s.sentence_text)}
        rivals = [
            s for i, s in ev
            if (i, s.sentence) in places and _kind(s.quantity) == _kind(c.quantity)
            and not same_quantity(c.quantity, s.quantity) and _binds(s.context & c.context)
        ]
        if not rivals:
            continue
        if weight is None:  # over every passage, built only when a figure has a rival (rare)
            weight = _weights([(i, s) for i, p in enumerate(parts) for s in evidence_slots(p)])
        best_same = max(_shared(s.context & c.context, weight) for _, s in same)
        rival = max(rivals, key=lambda s: _shared(s.context & c.context, weight))
        if _shared(rival.context & c.context, weight) <= best_same:
            continue
        shared = max(rival.context & c.context, key=lambda u: weight.get(u, 1.0))
        where, first = same[0]
        told = max(first.context, key=lambda u: weight.get(u, 1.0))
        out.append(Misbound(c.quantity.label, word_for(shared, claim_text), rival.quantity.label, word_for(told, texts[where])))
    return out


ALIGNED = 0.5  # share of the claim's units a sentence must hold to state the same fact


@lru_cache(maxsize=8192)
def _units(sentence: str) -> frozenset[str]:
    return frozenset(tokens.content_stems(sentence)) | frozenset(cjk.char_ngrams(sentence, 2))


def _aligned(claim_units: frozenset[str], sentence: str) -> bool:
    return bool(claim_units) and len(claim_units & _units(sentence)) / len(claim_units) >= ALIGNED


def _weights(ev: Sequence[tuple[int, Slot]]) -> dict[str, float]:
    """A context word's weight: 1 / the number of different figures it sits next to in the
    evidence ("parameters" next to both 671B and 37B tells them apart less than "activated")."""
    values: dict[str, set[float]] = {}
    for _, s in ev:
        for u in s.context:
            values.setdefault(u, set()).add(round(s.quantity.value, 6))
    return {u: 1.0 / len(v) for u, v in values.items()}


def _shared(units: frozenset[str], weight: dict[str, float]) -> float:
    return sum(weight.get(u, 1.0) * (1.0 if u.isascii() else 0.5) for u in units)


def _binds(shared: frozenset[str]) -> bool:
    """One shared English word binds a figure; Chinese bigrams need two (measure words and
    verbs such as 元, 点, 下跌 sit next to many figures of one sentence)."""
    latin = sum(1 for u in shared if u.isascii())
    return latin >= 1 or len(shared) - latin >= 2


def word_for(stem: str, text: str) -> str:
    """The word of ``text`` a stem came from, for display ("activ" -> "activated")."""
    if cjk.has_cjk(stem):
        return stem
    for w in _WORD_RE.findall(text):
        if tokens.stem(w) == stem:
            return w
    return stem

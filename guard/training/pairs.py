"""Training pairs for the verifier: (premise = evidence, hypothesis = claim, label 1 = supported).

Two sources. Labelled rows (``guard eval`` format) are run through the grounding check itself,
so each claim is paired with exactly the evidence spans the check would hand the verifier at
run time. Knowledge passages give synthetic pairs by the FactCC recipe (Kryscinski et al.,
2020): a sentence with its own passage is supported; the same sentence with one fact changed
(a number, a year or month, a name, the polarity, a comparative, the order of two names) or a
sentence of another passage is not. The swaps are the fabrications the lexical features are
weakest at seeing (a flipped "not" or "less" keeps every word in the evidence).

Chinese text is skipped: MiniLM's vocabulary has almost no Chinese characters.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from guard.text import cjk
from guard.text.sentences import split_sentences

PREMISE_CHARS = 400  # a synthetic premise: the passage around the sentence, as long as the check's
_MIN_SENT, _MAX_SENT = 30, 300


@dataclass(frozen=True, slots=True)
class Pair:
    premise: str
    hypothesis: str
    label: float  # 1.0 = supported by the premise, 0.0 = not
    kind: str  # "row", "copy", "shorter", "partial", "number", "year", "month", "name", "polarity", "comparative", "role", "other"


# ---------------------------------------------------------------- perturbations

_NUMBER = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)?)(?![\w.]*\d)")
_YEAR = re.compile(r"\b(1[5-9]\d\d|20\d\d)\b")
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]
_MONTH = re.compile(r"\b(" + "|".join(_MONTHS) + r")\b")
_NAME = re.compile(r"\b([A-Z][\w.-]*[A-Za-z0-9](?:\s+[A-Z][\w.-]*[A-Za-z0-9])*)")
# Polarity: (pattern, replacement) tried in order; the first that matches is applied.
_POLARITY = [
    (r"\bcannot\b", "can"), (r"\bcan not\b", "can"), (r"\bcan't\b", "can"), (r"\bcan\b", "cannot"),
    (r"\b(is|are|was|were|does|do|did|will|should|must|has|have) not\b", r"\1"),
    (r"\b(isn't|aren't|wasn't|weren't|doesn't|don't|didn't|won't)\b", None),
    (r"\bnever\b", "always"), (r"\balways\b", "never"),
    (r"\b(is|are|was|were|will|should|must)\b", r"\1 not"),
    (r"\b(does|do|did)\b", r"\1 not"),
]
# Present-tense verbs negated as "does not <verb>" when nothing above applies.
_VERBS = ("uses", "supports", "needs", "requires", "runs", "includes", "contains", "provides", "allows",
          "makes", "takes", "gives", "keeps", "shows", "means", "works", "fits", "serves", "stores", "loads")
_VERB = re.compile(r"\b(" + "|".join(_VERBS) + r")\b")
_CONTRACTED = {"isn't": "is", "aren't": "are", "wasn't": "was", "weren't": "were", "doesn't": "does",
               "don't": "do", "didn't": "did", "won't": "will"}
_OPPOSITES = [
    ("more", "less"), ("larger", "smaller"), ("higher", "lower"), ("faster", "slower"),
    ("before", "after"), ("increase", "decrease"), ("increases", "decreases"), ("increased", "decreased"),
    ("most", "least"), ("longer", "shorter"), ("bigger", "smaller"), ("earlier", "later"),
    ("first", "last"), ("largest", "smallest"), ("highest", "lowest"), ("fewer", "more"),
    ("better", "worse"), ("above", "below"), ("maximum", "minimum"), ("older", "younger"),
    ("north", "south"), ("east", "west"), ("won", "lost"), ("same", "different"),
]
_OPPOSITE = {a: b for a, b in _OPPOSITES} | {b: a for a, b in _OPPOSITES if b not in {x for x, _ in _OPPOSITES}}
_COMPARATIVE = re.compile(r"\b(" + "|".join(sorted(_OPPOSITE, key=len, reverse=True)) + r")\b", re.IGNORECASE)


def _keep_case(old: str, new: str) -> str:
    return new.capitalize() if old[:1].isupper() else new


def _swap_number(s: str, rng: random.Random, _: Sequence[str]) -> str | None:
    found = [m for m in _NUMBER.finditer(s) if not _YEAR.fullmatch(m.group(1))]
    if not found:
        return None
    m = rng.choice(found)
    text = m.group(1).replace(",", "")
    value = float(text)
    choices = [value * f for f in (0.5, 2, 3, 10, 0.1, 1.5)] + [value + d for d in (1, 2, -1, 5)]
    new = rng.choice([c for c in choices if c > 0 and c != value] or [value + 1])
    shown = f"{new:g}" if "." in text else str(int(round(new)))
    return s[: m.start(1)] + shown + s[m.end(1):] if shown != text else None


def _swap_year(s: str, rng: random.Random, _: Sequence[str]) -> str | None:
    found = list(_YEAR.finditer(s))
    if not found:
        return None
    m = rng.choice(found)
    year = int(m.group(1)) + rng.choice([-10, -5, -3, -2, -1, 1, 2, 3, 5, 10])
    return s[: m.start()] + str(year) + s[m.end():]


def _swap_month(s: str, rng: random.Random, _: Sequence[str]) -> str | None:
    m = _MONTH.search(s)
    if not m:
        return None
    return s[: m.start()] + rng.choice([x for x in _MONTHS if x != m.group(1)]) + s[m.end():]


def _names(s: str) -> list[re.Match[str]]:
    """Capitalised terms other than the sentence's first word (which is capitalised anyway)."""
    return [m for m in _NAME.finditer(s) if m.start() > 0 and len(m.group(1)) > 2]


def _swap_name(s: str, rng: random.Random, pool: Sequence[str]) -> str | None:
    found = _names(s)
    if not found or not pool:
        return None
    m = rng.choice(found)
    others = [n for n in rng.sample(list(pool), min(20, len(pool))) if n.lower() not in s.lower()]
    if not others:
        return None
    return s[: m.start(1)] + others[0] + s[m.end(1):]


def _swap_roles(s: str, rng: random.Random, _: Sequence[str]) -> str | None:
    found = [m for m in _names(s)]
    firsts = [m for m in _NAME.finditer(s[:40]) if m.start() == 0]
    found = firsts[:1] + found
    distinct = list({m.group(1): m for m in found}.values())
    if len(distinct) < 2:
        return None
    a, b = sorted(rng.sample(distinct, 2), key=lambda m: m.start())
    between = s[a.end(1): b.start(1)]
    if re.search(r",|;|\band\b|\bor\b", between) or not re.search(r"[a-z]{3,}", between):
        return None  # a list ("CUDA, Metal and Vulkan"): swapping its items changes nothing
    return s[: a.start(1)] + b.group(1) + s[a.end(1): b.start(1)] + a.group(1) + s[b.end(1):]


def _flip_polarity(s: str, rng: random.Random, _: Sequence[str]) -> str | None:
    for pattern, repl in _POLARITY:
        m = re.search(pattern, s)
        if not m:
            continue
        if repl is None:
            new = _keep_case(m.group(0), _CONTRACTED[m.group(0).lower()])
        else:
            new = m.expand(repl)
        return s[: m.start()] + new + s[m.end():]
    m = _VERB.search(s)
    if m:
        return s[: m.start()] + "does not " + m.group(1)[:-1] + s[m.end():]
    return None


def _flip_comparative(s: str, rng: random.Random, _: Sequence[str]) -> str | None:
    found = list(_COMPARATIVE.finditer(s))
    if not found:
        return None
    m = rng.choice(found)
    return s[: m.start()] + _keep_case(m.group(0), _OPPOSITE[m.group(0).lower()]) + s[m.end():]


PERTURBATIONS: dict[str, Callable[[str, random.Random, Sequence[str]], str | None]] = {
    "number": _swap_number,
    "year": _swap_year,
    "month": _swap_month,
    "name": _swap_name,
    "role": _swap_roles,
    "polarity": _flip_polarity,
    "comparative": _flip_comparative,
}


def perturb(sentence: str, rng: random.Random, names: Sequence[str] = ()) -> tuple[str, str] | None:
    """The sentence with one fact changed, and which kind of change; None if none applies."""
    kinds = list(PERTURBATIONS)
    rng.shuffle(kinds)
    for kind in kinds:
        changed = PERTURBATIONS[kind](sentence, rng, names)
        if changed and changed != sentence:
            return changed, kind
    return None


# ---------------------------------------------------------------- partial support

# A detail a sentence can lose and still read as a sentence: a phrase after a comma, or a
# prepositional phrase ("in 2019", "at the Venice Film Festival", "for the second time").
_DETAIL = re.compile(
    r"(,\s[^,]{8,80}?(?=[,.;]|$)|\s(?:in|at|on|for|with|by|from|during|after|before|as|to)\s[^,.;]{4,60}?(?=[,.;]|$))"
)


def _detail(sentence: str, rng: random.Random) -> re.Match[str] | None:
    found = [m for m in _DETAIL.finditer(sentence) if len(sentence) - len(m.group(1)) >= _MIN_SENT]
    return rng.choice(found) if found else None


def without_detail(sentence: str, rng: random.Random) -> tuple[str, str] | None:
    """(the sentence, the sentence without one detail), or ``None``.

    The two make the partial-support pairs that claims against web evidence are full of: the
    evidence states most of a claim but not one detail of it (a date, a place, a second
    clause). A shortened claim against the full sentence is supported; the full claim against
    the shortened sentence is not. Copies alone teach the verifier that support means verbatim
    repetition, which a paraphrasing answer never is.
    """
    m = _detail(sentence, rng)
    if m is None:
        return None
    short = (sentence[: m.start()] + sentence[m.end():]).replace(" ,", ",").strip()
    return sentence, short


# ---------------------------------------------------------------- synthetic pairs


def knowledge_passages(directory: Path) -> list[str]:
    """The English passages of a knowledge folder, cut as ``guard index build`` cuts them."""
    from guard.knowledge.chunking import chunk_text
    from guard.knowledge.loaders import find_files, load_file

    out: list[str] = []
    for path in find_files(directory):
        for section in load_file(path):
            out += [t for t in chunk_text(section.text) if not cjk.has_cjk(t)]
    return out


def _sentences(passage: str) -> list[str]:
    return [s.text for s in split_sentences(passage) if _MIN_SENT <= len(s.text) <= _MAX_SENT]


def _window(passage: str, sentence: str, rng: random.Random) -> str:
    """At most ``PREMISE_CHARS`` of the passage, always including the sentence."""
    if len(passage) <= PREMISE_CHARS:
        return passage
    at = max(passage.find(sentence), 0)
    start = max(0, min(at - rng.randint(0, PREMISE_CHARS - len(sentence)), len(passage) - PREMISE_CHARS))
    return passage[start: start + PREMISE_CHARS]


def synthetic_pairs(passages: Sequence[str], n: int, rng: random.Random) -> list[Pair]:
    """``n`` pairs, half supported (a sentence with its passage; about one in ten shortened by
    a detail), half not (about three in ten the whole sentence against a passage that lost one
    of its details, when it has one; of the rest, one in five a sentence from another passage,
    else a perturbed copy)."""
    usable = [(p, _sentences(p)) for p in passages if not cjk.has_cjk(p)]
    usable = [(p, ss) for p, ss in usable if ss]
    if not usable:
        return []
    names = sorted({m.group(1) for p, _ in usable for m in _names(p)})
    pairs: list[Pair] = []
    attempts = 0
    while len(pairs) < n and attempts < n * 10:
        attempts += 1
        passage, sentences = rng.choice(usable)
        sentence = rng.choice(sentences)
        premise = _window(passage, sentence, rng)
        cut = without_detail(sentence, rng) if rng.random() < 0.3 else None
        if len(pairs) % 2 == 0:
            if cut and len(pairs) % 3 == 0:
                pairs.append(Pair(premise, cut[1], 1.0, "shorter"))
            else:
                pairs.append(Pair(premise, sentence, 1.0, "copy"))
        elif cut:
            pairs.append(Pair(premise.replace(sentence, cut[1]), sentence, 0.0, "partial"))
        elif rng.random() < 0.2 and len(usable) > 1:
            other, other_sentences = rng.choice(usable)
            if other != passage:
                pairs.append(Pair(premise, rng.choice(other_sentences), 0.0, "other"))
        else:
            changed = perturb(sentence, rng, names)
            if changed:
                pairs.append(Pair(premise, changed[0], 0.0, changed[1]))
    return pairs

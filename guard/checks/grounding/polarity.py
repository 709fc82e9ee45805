"""What a text states plainly and what it negates, for the polarity comparison.

``contradiction`` compares a claim with its best-matching evidence sentence; a polarity conflict
is a word negated on one side and stated plainly on the other. This module reads the two sides:
English negations scope over the next content word ("not *use*"), Chinese ones over the bigram
after them (不*公开*), a clause bounds a negation, and words that contain a negation without
negating (不仅, 未来, "not only", "No 29") are left alone. Cached per text: evidence sentences recur.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from guard.checks.grounding.lexicon import key
from guard.text import cjk, tokens
from guard.text.tokens import WORD_RE

_CLAUSE_RE = re.compile(r"[,;:()（），；：。!?！？]|\bbut\b|\bwhile\b|\bwhereas\b|但|而|却")
_NEG_WORDS = frozenset(
    "not no never cannot can't won't don't doesn't didn't isn't aren't wasn't weren't hasn't "
    "haven't hadn't shouldn't wouldn't couldn't mustn't neither nor none nobody nothing nowhere "
    "without unable fails failed lack lacks lacked failure skip skips skipped skipping omit omits omitted "
    "nolonger insteadof ratherthan".split()
)
# two-word negations, joined into one word before the scan ("instead of reserving" negates
# "reserving"; a bare "Instead, ..." negates nothing)
_JOINED = {"no longer": "nolonger", "instead of": "insteadof", "rather than": "ratherthan"}
_CUE_OF_JOINED = {one: two for two, one in _JOINED.items()}
_NOT_NEGATION_AFTER = {"only", "just", "merely", "doubt", "least", "matter", "later", "less", "more", "fewer"}
_NEG_WINDOW = 1  # content words after a negation that it scopes over (its head: "not *use*")
# Chinese negations, and words that contain one without negating (不仅 "not only", 未来 "future").
_CJK_NEG_RE = re.compile(r"没有|并非|并不|从不|从未|不再|无法|不能|不会|不是|未能|未曾|不|没|未")
_CJK_NOT_NEG = re.compile(
    r"不仅|不但|不断|不过|不同|不少|不久|不管|不论|无论|不错|未来|非常|无数|不得不|毫无疑问|无人机|非洲|并非只|不止|无限|不一样"
)
_CJK_NEG_WINDOW = 2  # characters: the bigram right after the negation (不*公开*, 没有*使用*)
# "has nothing to do with X" negates the X before it: 与*显存带宽*无关
_CJK_UNRELATED = re.compile(r"[与和跟同]([\u3400-\u9fff]{2,8}?)(?:并?无关|没有关系|没关系)")
_FUNCTION = set("的了是在和与及或也就都而并但又被把将对于为以之其这那此有个着过中上下")


def _clauses(text: str) -> list[str]:
    return [c for c in _CLAUSE_RE.split(text) if c and c.strip()]


_ANSWER_RE = re.compile(r"^\s*(?:no|yes)\s*[.,!]\s*", re.IGNORECASE)


# Adverbs between a negation and what it negates ("never actually took"): they take no place
# in the negation's window.
_NEG_ADVERBS = frozenset("actually really ever even once yet always quite fully entirely completely truly formally officially directly necessarily exactly".split())


# "No 29", "No. 2": a rank, not a negation. A sentence end inside a text bounds a negation's
# reach like a comma ("... said no. The Spanish papers").
_NUMBER_SIGN_RE = re.compile(r"\bno\.?\s*(?=\d)")
_SENTENCE_END_RE = re.compile(r"(?<=[a-z'])[.!?]\s+")


@dataclass(frozen=True, slots=True)
class Polarity:
    """What a text states plainly and under a negation, as comparison keys.

    ``clean`` holds the plain keys of clauses with no negation at all: a claim contradicts
    evidence only against those. Where both sides negate something in the clause, the negation
    has moved to another word ("Sexting is not advised" / "politicians should not sext"; "has
    no plans" / "has no immediate plans"), which is paraphrase, not denial.
    """

    plain: frozenset[str]
    negated: frozenset[str]
    clean: frozenset[str]
    cues: dict[str, str]  # negated key -> its negation word; insertion order: first negated first


def _en_polarity(text: str) -> tuple[set[str], set[str], set[str], dict[str, str]]:
    """(plain keys, negated keys, plain keys of negation-free clauses, key -> negation word) of
    English text. A leading answer word ("No. DeepSeek-V3 activates ...") negates nothing after it."""
    plain: set[str] = set()
    negated: set[str] = set()
    clean: set[str] = set()
    cue_of: dict[str, str] = {}
    lowered = _SENTENCE_END_RE.sub(", ", _NUMBER_SIGN_RE.sub("number ", _ANSWER_RE.sub("", text).lower()))
    for two, one in _JOINED.items():
        lowered = lowered.replace(two, one)
    for clause in _clauses(lowered):
        words = [w.replace("’", "'") for w in WORD_RE.findall(clause)]
        scope = 0
        cue = ""
        stated: list[str] = []
        negating = False
        for i, w in enumerate(words):
            if w in _NEG_WORDS or w.endswith("n't"):
                nxt = words[i + 1] if i + 1 < len(words) else ""
                if nxt not in _NOT_NEGATION_AFTER:
                    scope, cue, negating = _NEG_WINDOW, _CUE_OF_JOINED.get(w, w), True
                continue
            if w in tokens.STOPWORDS or len(w) < 2 or (scope and w in _NEG_ADVERBS):
                continue
            k = key(w)
            if scope:
                negated.add(k)
                cue_of.setdefault(k, cue)
                scope -= 1
            else:
                plain.add(k)
                stated.append(k)
        if not negating:
            clean.update(stated)
    return plain, negated, clean, cue_of


def _cjk_polarity(text: str) -> tuple[set[str], set[str], set[str], dict[str, str]]:
    """The same for Chinese, over character bigrams after a negation."""
    plain: set[str] = set()
    negated: set[str] = set()
    clean: set[str] = set()
    cue_of: dict[str, str] = {}
    masked = _CJK_NOT_NEG.sub(lambda m: "\u0000" * len(m.group(0)), text)
    for clause_start, clause in _clause_spans(masked):
        marks = [False] * len(clause)
        cues: list[str] = [""] * len(clause)
        negating = False
        for m in _CJK_NEG_RE.finditer(clause):
            negating = True
            for j in range(m.end(), min(len(clause), m.end() + _CJK_NEG_WINDOW)):
                marks[j] = True
                cues[j] = cues[j] or m.group(0)
        for m in _CJK_UNRELATED.finditer(clause):  # 与显存带宽无关: what it has nothing to do with
            negating = True
            for j in range(m.start(1), m.end(1)):
                marks[j] = True
                cues[j] = cues[j] or "无关"
        original = text[clause_start : clause_start + len(clause)]
        for j in range(len(clause) - 1):
            g = original[j : j + 2]
            if not (cjk.is_cjk(g[0]) and cjk.is_cjk(g[1])) or all(c in _FUNCTION for c in g) or "\u0000" in clause[j : j + 2]:
                continue
            if _CJK_NEG_RE.fullmatch(g[0]) or _CJK_NEG_RE.match(g):
                continue
            if marks[j] and marks[j + 1]:
                negated.add(g)
                cue_of.setdefault(g, cues[j])
            elif not marks[j] and not marks[j + 1]:
                plain.add(g)
                if not negating:
                    clean.add(g)
    return plain, negated, clean, cue_of


def _clause_spans(text: str) -> list[tuple[int, str]]:
    out, start = [], 0
    for m in _CLAUSE_RE.finditer(text):
        out.append((start, text[start : m.start()]))
        start = m.end()
    out.append((start, text[start:]))
    return [(s, c) for s, c in out if c.strip()]


@lru_cache(maxsize=8192)
def polarity(text: str) -> Polarity:
    """Units stated plainly and under a negation, English keys and Chinese bigrams together
    (cached per text: the sets are frozen, and callers must not change ``cues``)."""
    plain, negated, clean, cues = _en_polarity(text)
    if cjk.has_cjk(text):
        p2, n2, k2, c2 = _cjk_polarity(text)
        plain |= p2
        negated |= n2
        clean |= k2
        cues.update(c2)
    return Polarity(frozenset(plain), frozenset(negated), frozenset(clean), cues)

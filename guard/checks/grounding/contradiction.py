"""Contradictions between a claim and the evidence sentence that best matches it.

Word overlap cannot see that "Llama 3.1 does not use grouped-query attention" denies "All
three sizes use grouped-query attention": every content word is shared. So the claim is
compared with its best-matching evidence sentence (most shared content units, at least half
of the claim's) for five kinds of conflict, each reported with the words that clash:

- polarity: a word negated on one side (not, never, no longer, cannot; 不, 没有, 未, 无法)
  and stated plainly on the other. A question in the evidence answered "No." counts as
  denied ("Does a MoE model need less memory ...? No.");
- antonyms and direction (more / less, before / after, increase / decrease; 更多 / 更少,
  增加 / 减少) from the shipped list ``data/antonyms.yaml``: the claim has one word, the
  sentence the other and not the first;
- exclusive categories from the same list ("a song by" vs "an album by");
- "only": the claim's only one is one item of a list in the evidence ("stores only the
  tokenizer" vs "holds the weights, the tokenizer and metadata");
- role order: two names joined by the same verb in opposite roles ("A acquired B" vs
  "B acquired A"; a passive "B was acquired by A" is read as "A acquired B").

Everything is rules over cached per-sentence sets; a claim costs tens of microseconds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from guard.checks.grounding.evidence import EvidenceText, Sentence
from guard.checks.grounding.lexicon import key, lexicon
from guard.checks.grounding.polarity import polarity
from guard.text import cjk, tokens
from guard.text.tokens import WORD_RE

MIN_ALIGNMENT = 0.5  # share of the claim's content units the sentence must hold to be compared
_MIN_SHARED = 2
_CANDIDATES = 3  # sentences compared, best first
_NEAR_BEST = 0.25  # ... each within this share of the best one

_YES_NO = {"no": False, "no.": False, "no,": False, "yes": True, "不": False, "不是": False, "否": False,
           "没有": False, "是的": True, "可以": True, "对": True}
_ROLE_ALIGNMENT = 0.6  # roles are compared in the best sentence only, when it matches this well
_ROLE_GAP = 4  # words between the two names for a relation to count ("was acquired by")
_BE = re.compile(r"\b(?:was|were|is|are|been|be|being|got|gets)\b")


@dataclass(frozen=True, slots=True)
class Conflict:
    kind: str  # "polarity", "antonym", "exclusive", "only", "role"; "order" from choice.py
    claim_word: str
    evidence_word: str
    span: str  # the evidence sentence compared

    def as_params(self) -> dict[str, str]:
        return {"kind": self.kind, "claim_word": self.claim_word, "evidence_word": self.evidence_word}


def _answered(sentence: Sentence) -> bool | None:
    """For an evidence question: True/False when the next sentence answers yes/no, else None."""
    opening = sentence.follows.strip()
    for word, value in _YES_NO.items():
        if opening == word or opening.startswith(word + " ") or opening.startswith(word + ".") or opening.startswith(word + ","):
            return value
        if not word.isascii() and opening.startswith(word):
            return value
    return None


def _is_question(text: str) -> bool:
    return text.rstrip().endswith(("?", "？"))


def alignment(stems: frozenset[str] | set[str], bigrams: frozenset[str] | set[str], s: Sentence) -> tuple[float, int]:
    units = len(stems) + len(bigrams)
    if not units:
        return 0.0, 0
    shared = len(stems & s.stems) + len(bigrams & s.cjk2)
    return shared / units, shared


def ranked_sentences(stems: Sequence[str], bigrams: Sequence[str], parts: Sequence[EvidenceText]) -> list[tuple[Sentence, float]]:
    """Evidence sentences sharing at least two of the claim's content units, best first, with
    the share of the claim's units each holds, from the passages that hold at least
    ``MIN_ALIGNMENT`` of them. Questions count only when the next sentence answers them yes or no."""
    cs, cb = frozenset(stems), frozenset(bigrams)
    units = len(cs) + len(cb)
    found: list[tuple[Sentence, float]] = []
    for part in parts:
        # a sentence holds no more of the claim than its passage: skip passages (and the cost of
        # splitting them) that cannot reach MIN_ALIGNMENT
        if not units or (len(cs & part.stems) + len(cb & part.cjk2)) / units < MIN_ALIGNMENT:
            continue
        for s in part.sentences:
            if _is_question(s.text) and _answered(s) is None:
                continue
            score, shared = alignment(cs, cb, s)
            if shared >= _MIN_SHARED:
                found.append((s, score))
    found.sort(key=lambda x: x[1], reverse=True)
    return found


def _polarity_conflict(claim: str, s: Sentence) -> Conflict | None:
    c = polarity(claim)
    if _is_question(s.text) and _answered(s) is False:
        # "Does X need less memory ...? No.": the question is denied as a whole, so a claim
        # contradicts it when it asserts it without any negation of its own.
        if c.negated:
            return None
        e_plain = polarity(s.text).plain
        shared = [k for k in _ordered_keys(claim) if k in e_plain and k in c.plain]
        words = " ".join(_shown(k, claim) for k in shared[:4])
        return Conflict("polarity", words, "No", s.text) if shared else None
    e = polarity(s.text)
    for k in [k for k in c.cues if k in c.negated and k not in c.plain]:
        if k in e.clean and k not in e.negated and same_object(k, claim, s.text):
            return Conflict("polarity", f"{c.cues.get(k, 'not')} {_shown(k, claim)}", _shown(k, s.text), s.text)
    for k in [k for k in e.cues if k in e.negated and k not in e.plain]:
        if k in c.clean and k not in c.negated and same_object(k, s.text, claim):
            return Conflict("polarity", _shown(k, claim), f"{e.cues.get(k, 'not')} {_shown(k, s.text)}", s.text)
    return None


# when, not what: "decided not to compete this year" denies competing
_WHEN = frozenset("year years time times today tonight season seasons day days week weeks month months "
                  "again anymore yet now ever".split())
_CLAUSE_STOP = re.compile(r"[,;:()]|\s[–—-]\s|\b(?:but|while|whereas|because|so)\b")


def _object(k: str, text: str) -> str | None:
    """The content word after the negated word ``k`` in its clause: what is denied of it
    ("not serve *gRPC*"); None when the clause ends there ("was not renovated.")."""
    for clause in _CLAUSE_STOP.split(text.lower()):
        words = WORD_RE.findall(clause)
        at = next((i for i, w in enumerate(words) if key(w) == k), None)
        if at is None:
            continue
        rest = [w for w in words[at + 1 :] if w not in tokens.STOPWORDS and w not in _WHEN and len(w) > 2]
        return key(rest[0]) if rest else None
    return None


def same_object(k: str, negating: str, stating: str) -> bool:
    """Whether the denial is of what the other side states: the negated word's object (if it
    has one) is in the other sentence. "Ollama does not serve gRPC" does not deny "serves an
    HTTP API", nor "not released by Google" "released in September"; "does not use
    grouped-query attention" denies "use grouped-query attention"."""
    obj = _object(k, negating)
    if obj is None or not k.isascii():
        return True
    return obj in _keys(stating)[0]


def _ordered_keys(text: str) -> list[str]:
    return list(dict.fromkeys(key(w) for w in WORD_RE.findall(text.lower()) if w not in tokens.STOPWORDS and len(w) > 2))


def _shown(unit: str, text: str) -> str:
    if cjk.has_cjk(unit):
        return unit
    for w in WORD_RE.findall(text):
        if key(w) == unit:
            return w
    return unit


@lru_cache(maxsize=8192)
def _keys(text: str) -> tuple[frozenset[str], str]:
    """Comparison keys of a text's words, and its lower-cased text (cached: evidence sentences recur)."""
    lower = text.lower()
    return frozenset(key(w) for w in WORD_RE.findall(lower)), lower


def _has(term: str, keys: frozenset[str], lower: str) -> bool:
    return term in lower if not term.isascii() else key(term) in keys


def _neighbours(term: str, lower: str) -> set[str]:
    """The tokens right before and after ``term`` in ``lower`` (characters for Chinese)."""
    out: set[str] = set()
    if not term.isascii():
        for m in re.finditer(re.escape(term), lower):
            out.update({"<" + lower[m.start() - 1 : m.start()], ">" + lower[m.end() : m.end() + 1]})
        return out
    words = WORD_RE.findall(lower)
    k = key(term)
    for i, w in enumerate(words):
        if key(w) == k:
            if i > 0:
                out.add("<" + key(words[i - 1]))
            if i + 1 < len(words):
                out.add(">" + key(words[i + 1]))
    return out


def _same_slot(mine: str, claim_lower: str, theirs: str, evidence_lower: str) -> bool:
    """The two words fill the same slot: the word before or after them is the same ("sales
    *increased* by" / "sales *decreased* by"); for Chinese, the characters on both sides
    (营收*增长*了 / 营收*下降*了), since news repeats one frame for many subjects (指数上涨 / 指数下跌)."""
    shared = _neighbours(mine, claim_lower) & _neighbours(theirs, evidence_lower) - {"<", ">"}
    if mine.isascii():
        return bool(shared)
    return any(x.startswith("<") for x in shared) and any(x.startswith(">") for x in shared)


def _lexical_conflict(claim: str, s: Sentence) -> Conflict | None:
    lex = lexicon()
    c_keys, c_lower = _keys(claim)
    e_keys, e_lower = _keys(s.text)
    mine = lex.listed_in(c_keys, claim)
    for w in mine:
        if w not in lex.opposites or _has(w, e_keys, e_lower):
            continue
        for o in sorted(lex.opposites[w]):
            if _has(o, e_keys, e_lower) and not _has(o, c_keys, c_lower) and _same_slot(w, c_lower, o, e_lower):
                return Conflict("antonym", w, o, s.text)
    groups: dict[int, list[str]] = {}
    for w in mine:
        if w in lex.group_of:
            groups.setdefault(lex.group_of[w], []).append(w)
    for g, words in groups.items():
        if any(_has(w, e_keys, e_lower) for w in words):
            continue
        theirs = [
            o for o in lex.listed_in(e_keys, s.text)
            if lex.group_of.get(o) == g and not _has(o, c_keys, c_lower) and _same_slot(words[0], c_lower, o, e_lower)
        ]
        if theirs:
            return Conflict("exclusive", words[0], theirs[0], s.text)
    return None


_ONLY = re.compile(r"\b(?:only|solely|exclusively)\b", re.IGNORECASE)
_LIST_SPLIT = re.compile(r"[;:()]")
_ITEM_SEP = re.compile(r",\s*(?:and\s+|or\s+)?|\s+(?:and|or)\s+")
_MAX_ITEM_WORDS = 3  # content words of a list item ("the tokenizer", "metadata in one file")


def _item_keys(item: str) -> frozenset[str]:
    return frozenset(key(w) for w in WORD_RE.findall(item.lower()) if w not in tokens.STOPWORDS and len(w) > 1)


def _only_conflict(claim: str, s: Sentence) -> Conflict | None:
    """"GGUF stores only the tokenizer" against "holds the weights, the tokenizer and metadata":
    what the claim says is the only one is one item of a list in the evidence, whose other items
    the claim leaves out. Lists only (items of a few words), and never when the evidence says
    "only" itself."""
    m = _ONLY.search(claim)
    if not m or not claim.isascii() or _ONLY.search(s.text):
        return None
    after = [key(w) for w in WORD_RE.findall(claim[m.end():].lower())[:4] if w not in tokens.STOPWORDS and len(w) > 2]
    c_keys, _ = _keys(claim)
    for part in _LIST_SPLIT.split(s.text):
        items = [(i, _item_keys(i)) for i in _ITEM_SEP.split(part)]
        short = [(i, ks) for i, ks in items if 0 < len(ks) <= _MAX_ITEM_WORDS]
        if len(items) < 3 or len(short) < 3:
            continue
        only = next((k for _, ks in short for k in after if k in ks), None)
        others = [i for i, ks in short if not ks & c_keys]
        if only is not None and others:
            other = [w for w in WORD_RE.findall(others[0]) if w.lower() not in tokens.STOPWORDS][-1]
            return Conflict("only", f"{m.group(0)} {_shown(only, claim)}", other, s.text)
    return None


def _direction(text: str, a: str, b: str, verb: str) -> bool | None:
    """True when ``a`` acts on ``b`` through ``verb`` in ``text``, False when ``b`` acts on ``a``."""
    lower = text.lower()
    ia, ib = lower.find(a), lower.find(b)
    if ia < 0 or ib < 0 or ia == ib:
        return None
    lo = ia + len(a) if ia < ib else ib + len(b)
    hi = max(ia, ib)
    between = lower[lo:hi]
    words = WORD_RE.findall(between)
    if len(words) > _ROLE_GAP or not any(key(w) == verb for w in words):
        return None  # names far apart are not one relation's two ends
    passive = bool(re.search(r"\bby\b", between)) and bool(_BE.search(between))
    forward = ia < ib
    return forward != passive


# A role is carried by a verb ("acquired", "beat", "owns"); other words between two names
# ("in Australia and launched worldwide on Netflix") are no relation, and symmetric verbs have no
# direction to reverse ("A married B" is "B married A").
_IRREGULAR_VERBS = frozenset("beat beats bought buys sold sells led leads won wins took takes made makes wrote writes hit hits overtook overtakes".split())
_SYMMETRIC_VERBS = frozenset("married met played faced merged partnered collaborated drew tied dated divorced wed".split())


def _verb_like(word: str) -> bool:
    if word in _SYMMETRIC_VERBS:
        return False
    return word in _IRREGULAR_VERBS or word.endswith("ed") or (word.endswith("s") and not word.endswith(("ss", "us", "is")))


def _role_conflict(claim: str, names: Sequence[str], s: Sentence) -> Conflict | None:
    present = [n for n in dict.fromkeys(n.lower() for n in names if len(n) > 1) if n in s.lower]
    if len(present) < 2:
        return None
    a, b = present[0], present[1]
    lower = claim.lower()
    ia, ib = lower.find(a), lower.find(b)
    if ia < 0 or ib < 0:
        return None
    lo, hi = sorted((ia + len(a), ib)) if ia < ib else sorted((ib + len(b), ia))
    verbs = [key(w) for w in WORD_RE.findall(lower[lo:hi]) if w not in tokens.STOPWORDS and len(w) > 2 and _verb_like(w)]
    for verb in verbs:
        mine, theirs = _direction(claim, a, b, verb), _direction(s.text, a, b, verb)
        if mine is not None and theirs is not None and mine != theirs:
            first, second = (a, b) if theirs else (b, a)
            return Conflict("role", f"{a} … {b}", f"{first} {_shown(verb, s.text)} {second}", s.text)
    return None


def find_conflict(
    claim: str,
    stems: Sequence[str],
    bigrams: Sequence[str],
    names: Sequence[str],
    parts: Sequence[EvidenceText],
    ranked: list[tuple[Sentence, float]] | None = None,
) -> tuple[Conflict | None, float]:
    """The first conflict between ``claim`` and its best-matching evidence sentences (up to
    ``_CANDIDATES`` within ``_NEAR_BEST`` of the best, each matching at least
    ``MIN_ALIGNMENT``), and how well the best one matches (0 when none matches enough)."""
    ranked = ranked_sentences(stems, bigrams, parts) if ranked is None else ranked
    if not ranked or ranked[0][1] < MIN_ALIGNMENT:
        return None, ranked[0][1] if ranked else 0.0
    best = ranked[0][1]
    for s, aligned in ranked[:_CANDIDATES]:
        if aligned < max(MIN_ALIGNMENT, best - _NEAR_BEST):
            break
        found = _polarity_conflict(claim, s) or _lexical_conflict(claim, s) or _only_conflict(claim, s)
        if not found and s is ranked[0][0] and aligned >= _ROLE_ALIGNMENT:
            found = _role_conflict(claim, names, s)
        if found:
            return found, best
    return None, best

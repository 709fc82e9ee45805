"""Answers to a question that asks which of two comes first: "Which was released first,
DeepSeek-V3 or DeepSeek-R1?", "Who was born earlier, A or B?", "Who died first, A or B?".

Every word of a wrong pick is in the evidence (both names, "released"), so overlap passes it:
"DeepSeek-R1 was released first." scored 0.83 against "DeepSeek-V3 ... released in December
2024" and "DeepSeek-R1 ... released in January 2025", and the bare pick "DeepSeek-R1." 0.99.
Here the claim's pick and direction (its own "before" / "later", else the question's) are
compared with the date the evidence gives each option, in a sentence naming it and not the
other: the first date after the name (a birth or a release), or, for a death, the second year
of the lifespan in brackets after it. Only when both dates are found and differ does this
speak; English only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from guard.checks.grounding.contradiction import Conflict
from guard.text.normalize import find_dates
from guard.text.sentences import split_sentences

_EARLIER = re.compile(r"\b(?:first|earlier|earliest|older|oldest|eldest|elder|before|sooner|preceded)\b", re.I)
_LATER = re.compile(r"\b(?:younger|youngest|later|latest|after|more recent(?:ly)?|newer|newest)\b", re.I)
_DEATH = re.compile(r"\b(?:died|dies|die|death|passed away)\b", re.I)
_YEAR = re.compile(r"(?<![\d.,])(1[0-9]{3}|20[0-9]{2})(?![\d.,]\d)")
_TOKEN = re.compile(r"[^\s,?:;!]+")
_WORD = re.compile(r"[\w'’.-]+")
# words that join the capitalised words of one name ("Bank of England", "Ludwig van Beethoven")
_JOINERS = frozenset("of the de da van von der den la le du del and &".split())
_OPENERS = frozenset("was is were are did does do who which what has have".split())
# scraped passages glued together without a space: "...producer.Zeeshan Zaidi (born 1974)",
# "... in 1970.The Plow That Broke the Plains"
_GLUED = re.compile(r"(?<=[a-z0-9)\]\"”])\.(?=[A-Z])")
# ... and lifespans that lost their spaces: "(16 April 194018 June 2016)", "(March26, 1874January29, 1963)"
_GLUED_DATE = re.compile(
    r"(?<=\b1[0-9]{3})(?=\d{1,2}\s+[A-Z][a-z]+)"  # 1940|18 June
    r"|(?<=\b(?:1[0-9]|20)[0-9]{2})(?=[A-Z][a-z]+)"  # 1874|January
    r"|(?<=[a-z])(?=\d{1,2},\s*\d{4})"  # March|26, 1874
)
Date = tuple[int, int | None, int | None]


def _namey(token: str) -> bool:
    return token[:1].isupper() or token[:1].isdigit() or token.lower() in _JOINERS or token[:1] in "\"'“"


def options(question: str) -> tuple[str, str] | None:
    """The two names around the question's last "or": "..., A or B?", "Was A or B born first?"."""
    last = None
    for last in re.finditer(r"\s+or\s+", question):
        pass
    if last is None:
        return None
    before = re.split(r"[,:]", question[: last.start()].rstrip(" ,"))[-1]
    a: list[str] = []
    for t in reversed(_TOKEN.findall(before)):
        if not _namey(t):
            break
        a.insert(0, t)
    b: list[str] = []
    for t in _TOKEN.findall(question[last.end():]):
        if not _namey(t):
            break
        b.append(t)
    # a lower-case joiner cannot start or end a name ("or the Melvins"); "The Atlantic", "Del Lord" can
    while a and (a[0] in _JOINERS or a[0].lower() in _OPENERS):
        a.pop(0)
    while b and b[0] in _JOINERS:
        b.pop(0)
    while b and b[-1].lower() in _JOINERS:
        b.pop()
    if not a or not b:
        return None
    return " ".join(a).strip("\"'“”"), " ".join(b).strip("\"'“”")


def _key(option: str, other: str) -> str:
    """The option's most telling word: its last word the other option lacks ("Stellenbosch")."""
    theirs = {w.lower() for w in _WORD.findall(other)}
    words = [w.rstrip(".") for w in _WORD.findall(option)]
    mine = [w for w in words if len(w) > 1 and w.lower() not in _JOINERS and w.lower() not in theirs]
    return (mine[-1] if mine else option).lower()


def _where(text: str, option: str, other: str) -> int:
    """Where ``text`` names ``option`` (by its whole name, else its telling word, else its
    initials: "WSU" for "Wayne State University"), or -1."""
    low = text.lower()
    at = low.find(option.lower())
    if at >= 0:
        return at
    m = re.search(rf"(?<![\w-]){re.escape(_key(option, other))}(?![\w-])", low)
    if m:
        return m.start()
    initials = "".join(w[0] for w in _WORD.findall(option) if w.lower() not in _JOINERS)
    m = re.search(rf"\b{re.escape(initials)}\b", text) if len(initials) >= 3 and initials.isupper() else None
    return m.start() if m else -1


def _dates_after(text: str, start: int, end: int | None = None) -> list[Date]:
    """Dates and bare years in ``text`` from ``start`` on; up to ``end`` when given, else
    before ``start`` too when none follow ("In 1936, The Plow ...")."""
    found_dates = find_dates(text)
    dates = [(d.start, (d.year, d.month, d.day)) for d in found_dates if d.year is not None]
    taken = [(d.start, d.end) for d in found_dates]
    years = [(m.start(), (int(m.group(1)), None, None)) for m in _YEAR.finditer(text)
             if not any(a <= m.start() < b for a, b in taken)]
    found = sorted(dates + years)
    after = [d for at, d in found if at >= start and (end is None or at < end)]
    return after if end is not None else after or [d for _, d in found]  # type: ignore[misc]


def _lifespan_end(text: str, start: int) -> Date | None:
    """The second year of a bracketed lifespan right after the name: "(1894 – 1970)"."""
    m = re.match(r"[^()]{0,80}\(([^()]*)\)", text[start:])
    if not m:
        return None
    years = _YEAR.findall(m.group(1))
    return (int(years[1]), None, None) if len(years) >= 2 else None


@lru_cache(maxsize=32)
def _sentences(evidence: str) -> tuple[str, ...]:
    """The evidence's sentences, split once for both options of a pick."""
    return tuple(s.text for s in split_sentences(_GLUED_DATE.sub(" ", _GLUED.sub(". ", evidence))))


def date_of(option: str, other: str, evidence: str, death: bool) -> tuple[Date, str] | None:
    """The date the evidence gives ``option``, with the sentence it is from."""
    for text in _sentences(evidence):
        at = _where(text, option, other)
        theirs = _where(text, other, option)
        if at < 0 or 0 <= theirs < at:
            continue
        # a sentence naming both dates the first one between the two names: "Anita Lane (born
        # ca. 1959) ... a member of the Bad Seeds with Nick Cave"
        stop = theirs if theirs >= 0 else None
        if death:
            end = _lifespan_end(text[: stop] if stop is not None else text, at)
            if end is not None:
                return end, text
            continue
        dates = _dates_after(text, at, stop)
        if dates:
            return dates[0], text
    return None


def _before(a: Date, b: Date) -> bool | None:
    """Whether ``a`` is earlier than ``b`` at the precision both state; None when equal there."""
    for x, y in zip(a, b):
        if x is None or y is None:
            return None
        if x != y:
            return x < y
    return None


def _show(d: Date) -> str:
    return "-".join(f"{p:02d}" if i else str(p) for i, p in enumerate(d) if p is not None)


@dataclass(frozen=True, slots=True)
class Pick:
    option: str
    other: str
    earlier: bool  # the claim says ``option`` comes first


def pick(question: str, claim: str) -> Pick | None:
    """Which option the claim says comes first or last, if it answers such a question."""
    pair = options(question)
    if pair is None:
        return None
    a, b = pair
    at_a, at_b = _where(claim, a, b), _where(claim, b, a)
    if at_a < 0 and at_b < 0:
        return None
    own_e, own_l = _EARLIER.search(claim), _LATER.search(claim)
    if bool(own_e) != bool(own_l):
        earlier = bool(own_e)  # the claim's own word: "B was born later" is "A first"
    elif at_a >= 0 and at_b >= 0:
        return None
    else:
        q_e, q_l = _EARLIER.search(question), _LATER.search(question)
        if bool(q_e) == bool(q_l):
            return None
        earlier = bool(q_e)
    first_a = at_a >= 0 and (at_b < 0 or at_a < at_b)  # the claim's subject: the option it names first
    option, other = (a, b) if first_a else (b, a)
    return Pick(option, other, earlier)


@dataclass(frozen=True, slots=True)
class Order:
    """What the evidence's dates say of the claim's pick."""

    pick: Pick
    mine: Date
    theirs: Date
    span: str  # the evidence sentence dating the pick
    agrees: bool

    def conflict(self) -> Conflict | None:
        if self.agrees:
            return None
        # the claim's word is the option it puts first (or last), so the reviewer page marks it
        shown = f"{self.pick.option} {_show(self.mine)}, {self.pick.other} {_show(self.theirs)}"
        return Conflict("order", self.pick.option, shown, self.span)


def check_order(question: str, claim: str, evidence: str) -> Order | None:
    """The evidence's dates for the claim's pick and the other option, when both are found and
    differ; None when the claim answers no such question or the evidence cannot tell."""
    p = pick(question, claim)
    if p is None:
        return None
    death = bool(_DEATH.search(question) or _DEATH.search(claim))
    mine, theirs = date_of(p.option, p.other, evidence, death), date_of(p.other, p.option, evidence, death)
    if mine is None or theirs is None:
        return None
    before = _before(mine[0], theirs[0])
    if before is None:
        return None
    return Order(p, mine[0], theirs[0], mine[1], agrees=before == p.earlier)

"""Whether the evidence names something the claim names: the same spelling, another spelling
from the alias table (US = United States; English = England), the same Chinese name with its
dots normalised, every word of it, the name without a word that only says what kind of place
it is, without the country that leads it, or as an initialism (RDJ = Robert Downey Jr.).

A name the evidence never states caps a claim's support (``features.hard_cap``), so a miss
here is a false alarm a reviewer sees; each rule is a spelling the evidence legitimately uses.
"""

from __future__ import annotations

import re

from rapidfuzz import fuzz

from guard.checks.grounding.evidence import EvidenceText
from guard.text import cjk, tokens
from guard.text.normalize import Aliases, default_aliases


def _alias_found(name: str, ev: EvidenceText, aliases: Aliases) -> bool:
    """Some other spelling of ``name`` in the alias table is in the evidence (US = United States)."""
    group = aliases.group(name)
    return group is not None and group in ev.alias_groups(aliases)


# Words that only say what kind of place a name is: the evidence often leaves them out.
_ADMIN_WORDS = frozenset("prefecture province county district region municipality parish canton oblast governorate".split())


# A name ending in a numeral ("World War I", "Final Fantasy VII", "Apollo 11"), and the
# characters that would make that numeral another one.
_ENDS_IN_NUMERAL = re.compile(r"\s(?:([IVXLC]+)|(\d+))$")


def _another_numeral(name: str, ev: EvidenceText) -> bool:
    """The evidence writes ``name`` only as the start of another numeral: "World War I" in
    "World War II", "Apollo 11" in "Apollo 113" (but "Aurora X" in "Aurora X1" is there)."""
    m = _ENDS_IN_NUMERAL.search(name) if name.isascii() else None
    if m is None:
        return False
    more = "ivxlc" if m.group(1) else "0123456789"
    ends = [o.end() for o in re.finditer(re.escape(name.lower()), ev.lower)]
    return bool(ends) and all(e < len(ev.lower) and ev.lower[e] in more for e in ends)


def name_found(name: str, ev: EvidenceText, aliases: Aliases | None = None) -> bool:
    aliases = aliases or default_aliases()
    if _another_numeral(name, ev):
        # the numeral is the name: its words and a fuzzy match would find it all the same
        return _alias_found(name, ev, aliases)
    if name.lower() in ev.lower:
        return True
    if _alias_found(name, ev, aliases):
        return True
    if cjk.has_cjk(name):
        return cjk.name_core(name) in cjk.normalise_name_dots(ev.text)
    parts = tokens.words(name)
    if parts and all(tokens.stem(p) in ev.stems for p in parts):
        return True
    core = [p for p in parts if p.lower() not in _ADMIN_WORDS]
    if core and len(core) < len(parts) and all(tokens.stem(p) in ev.stems for p in core):
        return True  # "Shizuoka Prefecture" where the evidence says "Hamamatsu, Shizuoka"
    if _found_without_place(name, ev, aliases):
        return True  # "United States Supreme Court" where the evidence says "the Supreme Court"
    if _initialism_found(name, ev):
        return True  # "RDJ" where the evidence says "Robert Downey Jr."; "NBA" for the full name
    return fuzz.partial_ratio(name.lower(), ev.lower) >= 90


# A quoted title with a subtitle: "Maiden Heaven: A Tribute to Iron Maiden".
_SUBTITLED = re.compile(r"[\"“]([^\"”:]{2,80}): ([^\"”]{2,120})[\"”]")


def subtitle_names(text: str, names: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Names that sit only in the subtitle of a quoted title, with the title before the colon.

    Evidence often cites a work by its main title alone ("Kerrang! magazine's latest collection
    Maiden Heaven"), and a subtitle is title-cased ("A Tribute to Iron Maiden"), so its
    capitals do not mark names the evidence must repeat when it states the main title.
    """
    out: dict[str, str] = {}
    for m in _SUBTITLED.finditer(text):
        main, sub = m.group(1).strip(), m.group(2)
        for n in names:
            if n in sub and n not in main:
                out.setdefault(n, main)
    return out


_ACRONYM = re.compile(r"[A-Z]{3,6}")
# Words an initialism may skip ("United States of America" = USA, "Federal Bureau of
# Investigation" = FBI).
_SKIPPABLE = frozenset("of the and for de du da von van & to a an in on at".split())
_WORD = re.compile(r"[A-Za-z][\w'’.-]*")


def _spells(acronym: str, words: list[str], i: int) -> bool:
    """Capitalised words from ``words[i]`` whose initials are ``acronym``, function words skipped."""
    j = 0
    for w in words[i: i + len(acronym) + 3]:
        if j == len(acronym):
            break
        if w[0].isupper() and w[0] == acronym[j]:
            j += 1
        elif w.lower() not in _SKIPPABLE:
            return False
    return j == len(acronym)


def _initialism_found(name: str, ev: EvidenceText) -> bool:
    """An acronym whose letters begin a run of capitalised evidence words ("RDJ" for "Robert
    Downey Jr."), or a capitalised name of 2+ words whose initials the evidence writes ("National
    Basketball Association" where it says "NBA")."""
    if not name.isascii():
        return False
    if _ACRONYM.fullmatch(name):
        words = _WORD.findall(ev.text)
        return any(w[0] == name[0] and _spells(name, words, i) for i, w in enumerate(words))
    parts = [p for p in name.split() if p.lower() not in _SKIPPABLE]
    if len(parts) < 2 or not all(p[:1].isupper() for p in parts):
        return False
    return re.search(rf"\b{''.join(p[0] for p in parts)}s?\b", ev.text) is not None


def names_to_state(text: str, names: tuple[str, ...], ev: EvidenceText, aliases: Aliases) -> tuple[str, ...]:
    """The names of claim ``text`` the evidence must state: not those it denies ("not written
    in Python"), nor those of a quoted title's subtitle when the evidence names the title
    itself (``subtitle_names``)."""
    names = tuple(n for n in names if not _denied(n, text))
    if ":" not in text:
        return names
    titled = subtitle_names(text, names)
    return tuple(n for n in names if n not in titled or not name_found(titled[n], ev, aliases))


# a negation at most three words before a name ("not released by Google", "not Natalie Portman"),
# or right before it in Chinese (不是谷歌, 并非由谷歌)
_DENIES = re.compile(r"(?:\bnot|\bnever|n't)\s+(?:[\w'-]+\s+){0,3}$|(?:不是|并非|没有|从未|不|未)[由被]?\s*$")


def _denied(name: str, text: str) -> bool:
    """A name right after a negation is what the claim denies: "Qwen2.5 was not released by
    Google; it comes from Alibaba Cloud." needs no Google in the evidence (a wrong denial, "was
    not released by Alibaba Cloud", is a contradiction). Further away, the negation is of
    something else ("I couldn't believe she would marry Sean Bean")."""
    at = text.find(name)
    return at > 0 and bool(_DENIES.search(text[:at]))


def _found_without_place(name: str, ev: EvidenceText, aliases: Aliases) -> bool:
    """An institution is often named without the country it belongs to: ``name`` minus a
    leading country from the alias table (at least two words left) is in the evidence, and the
    evidence names that country or no other ("Canadian Supreme Court" is not found where the
    evidence is about the United States)."""
    lead = aliases.leading(name)
    if lead is None:
        return False
    country, rest = lead
    if len(tokens.words(rest)) < 2 or not aliases.is_country(country):
        return False
    countries = {g for g in ev.alias_groups(aliases) if aliases.is_country(g)}
    if countries and country not in countries:
        return False
    return name_found(rest, ev, aliases)

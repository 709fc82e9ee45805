"""A normalised view of text for matching deny rules and personal data, with offsets back.

Deny patterns and PII masking that look only at the raw text are walked around by anyone who
types ``ｇｕａｒａｎｔｅｅｄ``, hides a zero-width space or a soft hyphen in a word, swaps a Latin
``a`` for a Cyrillic ``а``, writes ``保證`` for ``保证``, spaces the characters out (``保 证 收 益``)
or spells an address ``john.doe [at] example [dot] com``. Matching therefore also runs on a
folded view: NFKC, confusable letters mapped to Latin, invisibles removed, any digit made ASCII,
traditional Chinese made simplified, whitespace collapsed, ``[at]``/``[dot]`` read as ``@``/``.``.

The view is only ever matched: what is delivered, or masked, is the original text. Every
character of the view remembers the span of the original it came from (``Folded.span``), so a
finding in the view masks exactly the original characters.

Two views: ``fold_text`` keeps punctuation (personal data needs its ``@``, ``.`` and ``-``);
``fold_words`` also reads separators between letters as spaces and joins spaced-out characters
(``i g n o r e``, ``保 证``), which is what phrase and keyword rules need. Both are plain strings
built with ``str.translate`` and regular expressions; ``fold`` builds the same text as
``fold_text`` with the offsets, which only masking needs.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from guard.text.hanzi import t2s_table

# Letters that look like Latin ones, from Cyrillic, Greek and a few other scripts (Unicode's
# confusables list, restricted to the ones that pass for ASCII in ordinary fonts).
_CONFUSABLE_PAIRS = (
    "аa еe оo рp сc уy хx іi јj ѕs ԁd ԛq ԝw һh ӏl ɡg ӓa ёe їi"
    " АA ВB ЕE КK МM НH ОO РP СC ТT ХX УY ІI ЈJ ЅS ԚQ ԜW Ӏl"
    " οo ρp αa νv ιi κk τt υu χx ϲc ϳj"
    " ΑA ΒB ΕE ΖZ ΗH ΙI ΚK ΜM ΝN ΟO ΡP ΤT ΥY ΧX Ϲc"
    " ıi ȷj ɑa ɩi ʏy ℓl"
)
CONFUSABLES: dict[str, str] = {p[0]: p[-1] for p in _CONFUSABLE_PAIRS.split()}

# Invisible characters that are not format controls (category Cf is dropped wholesale).
_INVISIBLE = frozenset("\u034f\u115f\u1160\u3164\uffa0\u180e")
_DASHES = frozenset("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043\ufe58\ufe63\uff0d")
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"

_AT_DOT = re.compile(r"\s*[\[\(\{<]\s*(at|dot)\s*[\]\)\}>]\s*", re.IGNORECASE)
_SPACES = re.compile(r"\s+")  # any whitespace run becomes one plain space
_WORD_SEP = re.compile(r"(?<=\w)[-_.*·•/\\|~+]+(?=\w)")
_CJK_GAP = re.compile(f"(?<=[{_CJK}]) (?=[{_CJK}])")
_SPACED_RUN = re.compile(r"(?<![^\W_])[^\W_](?: [^\W_](?![^\W_])){2,}")

# Quick tests that a piece of ASCII text would fold to itself (the common case: no work).
_ASCII_PLAIN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]|\s{2,}|[\t\n\r\f\v]|[\[\(\{<]\s*(?:at|dot)\s*[\]\)\}>]", re.IGNORECASE)
_ASCII_WORDS = re.compile(r"\w[-_.*/\\|~+]+\w|(?<!\w)\w \w \w(?!\w)")

Unit = tuple[str, int, int]  # a character of the view and the original span it stands for


@dataclass(frozen=True, slots=True)
class Folded:
    """The folded text and, per character, the original span; ``None`` spans: unchanged."""

    original: str
    text: str
    starts: tuple[int, ...] | None = None
    ends: tuple[int, ...] | None = None

    @property
    def changed(self) -> bool:
        return self.text != self.original

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span that folded ``[start, end)`` came from."""
        if self.starts is None or self.ends is None:
            return start, end
        if end <= start:
            pos = self.starts[start] if start < len(self.starts) else len(self.original)
            return pos, pos
        return self.starts[start], self.ends[end - 1]


@lru_cache(maxsize=8192)
def fold_char(ch: str) -> str:
    """One character's folded form: '' for an invisible, possibly several for a ligature."""
    if ch in _INVISIBLE or ch == "\u00ad":
        return ""
    cat = unicodedata.category(ch)
    if cat == "Cf":
        return ""
    if ch in _DASHES:
        return "-"
    out = []
    for c in unicodedata.normalize("NFKC", ch):
        if unicodedata.category(c) == "Mn":
            continue  # stray combining marks (z̶a̶l̶g̶o̶, underlines) hide nothing from a reader
        if c.isspace():
            out.append(" ")
            continue
        if not c.isascii() and c.isdecimal():
            c = str(unicodedata.decimal(c))
        c = CONFUSABLES.get(c, c)
        out.append(t2s_table().get(c, c))
    return "".join(out)


def fold_pattern(pattern: str) -> str:
    """A deny rule written with traditional characters or look-alike letters, folded the same
    way as the text. ASCII, and so every regular-expression operator, is left alone, and so is
    the inside of a character class: folding ``[а-я]`` to ``[a-я]`` would match Latin text."""
    out: list[str] = []
    in_class = escaped = False
    for c in pattern:
        if escaped:
            out.append(c)
            escaped = False
            continue
        if c == "\\":
            escaped = True
        elif c == "[" and not in_class:
            in_class = True
        elif c == "]" and in_class:
            in_class = False
        out.append(c if c.isascii() or in_class else (fold_char(c) or c))
    return "".join(out)


def _needs_char_fold(ch: str) -> bool:
    return not ch.isascii() or not ch.isprintable()


def _char_table(text: str) -> dict[int, str]:
    """A ``str.translate`` table for the distinct characters of ``text`` that fold."""
    table: dict[int, str] = {}
    for ch in set(text):
        if _needs_char_fold(ch):
            folded = fold_char(ch)
            if folded != ch:
                table[ord(ch)] = folded
    return table


def _at_dot(m: re.Match[str]) -> str:
    return "@" if m.group(1).lower() == "at" else "."


@lru_cache(maxsize=256)
def fold_text(text: str) -> str:
    """The folded view with punctuation kept (what personal-data patterns run on), as a string:
    ``str.translate`` and a few regular expressions, so cheap enough for every answer."""
    if text.isascii() and not _ASCII_PLAIN.search(text):
        return text
    s = text.translate(_char_table(text))
    s = _SPACES.sub(" ", s)
    return _AT_DOT.sub(_at_dot, s)


@lru_cache(maxsize=256)
def fold_words(text: str) -> str:
    """The view phrase and keyword rules run on: ``fold_text`` plus separators between letters
    read as spaces and spaced-out characters joined again."""
    if text.isascii() and not _ASCII_PLAIN.search(text) and not _ASCII_WORDS.search(text):
        return text
    s = _WORD_SEP.sub(" ", fold_text(text))
    s = _CJK_GAP.sub("", s)
    return _SPACED_RUN.sub(lambda m: m.group(0).replace(" ", ""), s)


@lru_cache(maxsize=256)
def fold_glued(text: str) -> str:
    """``fold_words`` with separators between letters removed instead (``ig-nore``, ``ig.nore``
    read as ``ignore``): a third view, since ``guaranteed-returns`` needs the space."""
    if text.isascii() and not _ASCII_WORDS.search(text):
        return fold_words(text)
    s = _WORD_SEP.sub("", fold_text(text))
    s = _CJK_GAP.sub("", s)
    return _SPACED_RUN.sub(lambda m: m.group(0).replace(" ", ""), s)


# ---------------------------------------------------------------- with offsets (slower, on demand)


def _units(text: str) -> list[Unit]:
    units: list[Unit] = []
    for i, ch in enumerate(text):
        for c in fold_char(ch) if _needs_char_fold(ch) else ch:
            units.append((c, i, i + 1))
    return units


def _sub(units: list[Unit], regex: re.Pattern[str], repl: Callable[[re.Match[str]], str]) -> list[Unit]:
    """Replace each match; the replacement's characters stand for the whole matched span."""
    s = "".join(u[0] for u in units)
    out: list[Unit] = []
    last = 0
    for m in regex.finditer(s):
        if m.start() == m.end() or m.group(0) == repl(m):
            continue
        out.extend(units[last : m.start()])
        start, end = units[m.start()][1], units[m.end() - 1][2]
        out.extend((c, start, end) for c in repl(m))
        last = m.end()
    if not last:
        return units
    out.extend(units[last:])
    return out


def fold(text: str) -> Folded:
    """``fold_text`` with, per character, the original span it came from. Building the spans
    costs a Python loop over the text, so callers match ``fold_text`` first and come here only
    when the folded text shows something the original does not."""
    if text.isascii() and not _ASCII_PLAIN.search(text):
        return Folded(text, text)
    units = _sub(_units(text), _SPACES, lambda m: " ")
    units = _sub(units, _AT_DOT, _at_dot)
    return Folded(text, "".join(u[0] for u in units), tuple(u[1] for u in units), tuple(u[2] for u in units))


def compile_rule(pattern: str) -> list[re.Pattern[str]]:
    """A rule (case-insensitive) as written and, when it differs, folded like the text."""
    folded = fold_pattern(pattern)
    rules = [re.compile(pattern, re.IGNORECASE)]
    if folded != pattern:
        rules.append(re.compile(folded, re.IGNORECASE))
    return rules


def rule_hit(rules: list[re.Pattern[str]], texts: list[str]) -> bool:
    return any(rx.search(t) for rx in rules for t in texts)


def views(text: str) -> list[str]:
    """The texts a deny rule is matched against: the original, then its folded views."""
    out = [text]
    for v in (fold_text(text), fold_words(text), fold_glued(text)):
        if v not in out:
            out.append(v)
    return out

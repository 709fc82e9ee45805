"""Numbers in English and Chinese text, normalised to values so they can be compared.

Wrong numbers are the most common fabrication that still reads fluently ("671B" vs "670B",
"14.8 trillion" vs "18 trillion", "1.65万元" vs "16500元"), and embeddings barely notice
them. So every quantity is parsed to a float; the scale word (thousand, 万, 亿, k, B, ...)
is folded in, and a claim's number is supported when the evidence holds the same value,
whatever way it was written.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_SCALES = {
    "hundred": 1e2,
    "thousand": 1e3,
    "k": 1e3,
    "million": 1e6,
    "mn": 1e6,
    "m": 1e6,
    "billion": 1e9,
    "bn": 1e9,
    "b": 1e9,
    "trillion": 1e12,
    "t": 1e12,
    "十": 1e1,
    "百": 1e2,
    "千": 1e3,
    "万": 1e4,
    "十万": 1e5,
    "百万": 1e6,
    "千万": 1e7,
    "亿": 1e8,
    "十亿": 1e9,
    "百亿": 1e10,
    "千亿": 1e11,
    "万亿": 1e12,
}
_PERCENT = r"\s?(?:%|％|‰)|\s?per\s?cent\b|\s?percent(?:age points?)?\b"

# Arabic numerals with optional thousands separators, decimals, scale word and percent.
# A single-letter scale (k, m, b, t) only counts when glued to the number ("1.5k", "671B").
_ARABIC_RE = re.compile(
    r"(?<![A-Za-z0-9.,])(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?:(?P<word>\s?(?:hundred|thousand|million|billion|trillion)\b|\s?(?:mn|bn)\b"
    r"|(?:[kKmMbBtT])(?![A-Za-z])|\s?(?:万亿|千亿|百亿|十亿|千万|百万|十万|[十百千万亿])))?"
    r"(?P<pct>" + _PERCENT + r")?",
    re.IGNORECASE,
)

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_BIG = {"万": 1e4, "亿": 1e8}
# Chinese numerals: a run of at least two numeral characters, or one numeral followed by a
# measure word. A lone 一 or 十 inside a word (统一, 十分) would be noise, so those are skipped.
_CN_CHARS = "零〇一二两三四五六七八九十百千万亿"
_CN_MEASURE = "个名人位年月日号次场倍元岁天轮届项件条家所座辆架艘只头种支队"
_CN_RE = re.compile(
    rf"(?P<cn>[零〇一二两三四五六七八九十][{_CN_CHARS}]+|[二两三四五六七八九十](?=[{_CN_MEASURE}]))(?P<pct>%|％)?"
)
_CN_ANY_RE = re.compile(f"[{_CN_CHARS}]")
_CN_PERCENT_RE = re.compile(r"百分之(?P<cn>[零〇一二两三四五六七八九十百点]+)")

_WORDS = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90, "dozen": 12, "twice": 2, "double": 2, "triple": 3,
}
_WORD_RE = re.compile(
    r"\b(?P<w>" + "|".join(sorted(_WORDS, key=len, reverse=True)) + r")\b"
    r"(?P<word>\s(?:hundred|thousand|million|billion|trillion)\b)?",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Quantity:
    value: float
    percent: bool
    text: str
    start: int
    end: int

    @property
    def is_year(self) -> bool:
        return not self.percent and self.value.is_integer() and 1000 <= self.value <= 2100


def _scale(word: str | None) -> float:
    if not word:
        return 1.0
    return _SCALES.get(word.strip().lower(), 1.0)


def parse_chinese_numeral(text: str) -> float | None:
    """Value of a Chinese numeral such as 三十五, 两万三千, 一九九八 (read digit by digit)."""
    if not text or any(ch not in _CN_CHARS for ch in text):
        return None
    if all(ch in _CN_DIGITS for ch in text) and len(text) > 1:
        return float("".join(str(_CN_DIGITS[ch]) for ch in text))  # 一九九八 -> 1998
    total, section, digit = 0.0, 0.0, 0.0
    for ch in text:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        elif ch in _CN_UNITS:
            section += (digit or 1) * _CN_UNITS[ch]
            digit = 0
        else:  # 万 or 亿 closes a section
            section += digit
            total = (total + section) * _CN_BIG[ch] if ch == "亿" else total + section * _CN_BIG[ch]
            section, digit = 0.0, 0.0
    return total + section + digit


def extract_quantities(text: str) -> list[Quantity]:
    """Every number in ``text`` with its value; scale words and percent signs are folded in."""
    found: list[Quantity] = []
    taken = bytearray(len(text))  # characters already part of a quantity

    def add(value: float, percent: bool, start: int, end: int) -> None:
        if not any(taken[start:end]):
            taken[start:end] = b"\x01" * (end - start)
            found.append(Quantity(value, percent, text[start:end], start, end))

    has_cn = bool(_CN_ANY_RE.search(text))
    for m in _CN_PERCENT_RE.finditer(text) if has_cn else ():
        raw = m.group("cn")
        whole, _, frac = raw.partition("点")
        value = parse_chinese_numeral(whole)
        if value is not None:
            if frac and all(ch in _CN_DIGITS for ch in frac):
                value += float("0." + "".join(str(_CN_DIGITS[ch]) for ch in frac))
            add(value, True, m.start(), m.end())
    for m in _ARABIC_RE.finditer(text):
        value = float(m.group("num").replace(",", "")) * _scale(m.group("word"))
        add(value, bool(m.group("pct")), m.start(), m.end())
    for m in _CN_RE.finditer(text) if has_cn else ():
        value = parse_chinese_numeral(m.group("cn"))
        if value is not None:
            add(value, bool(m.group("pct")), m.start(), m.end())
    for m in _WORD_RE.finditer(text):
        value = _WORDS[m.group("w").lower()] * _scale(m.group("word"))
        add(float(value), False, m.start(), m.end())
    return sorted(found, key=lambda q: q.start)


def same_value(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


def unmatched_quantities(claim: list[Quantity], evidence: list[Quantity]) -> list[Quantity]:
    """Claim quantities whose value appears nowhere in the evidence.

    Values are compared, not spellings, so "14.8 trillion" matches "14,800,000,000,000" and
    "1.65万" matches "16500"; 671B never matches 670B. A percentage also matches the same
    number written without the sign (tables often drop it).
    """
    have = [q.value for q in evidence]
    return [q for q in claim if not any(same_value(q.value, v) for v in have)]

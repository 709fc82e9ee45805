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

from guard.text.approx import approximate, bound_of, last_digit_step, loosely_equal
from guard.text.normalize import (
    NUMERIC_DATE_RE,
    ORDINAL_CN_RE,
    ORDINAL_DIGIT_RE,
    ORDINAL_WORD_RE,
    ORDINAL_WORDS,
    is_time_second,
)

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
_CN_MEASURE = "个名人位年月日号次场倍元岁天轮届项件条家所座辆架艘只头种支队大球国代局盘期批层部本首枚块套张份例起处强周"
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
# Matched on lower-cased text (much faster than IGNORECASE in Python's re).
_WORD_RE = re.compile(
    r"\b(?P<w>" + "|".join(sorted(_WORDS, key=len, reverse=True)) + r")\b"
    r"(?P<word>\s(?:hundred|thousand|million|billion|trillion)\b)?"
)


# Units a number is bound to: a claim's "9 GHz" is not supported by "9 kg". Each unit is a
# dimension and a factor to that dimension's base, so "9 GHz" meets "9000 MHz". Only units
# whose spelling is unambiguous after a number are listed; other nouns ("9 languages") are
# bound by their context words (``guard.checks.grounding.binding``).
_UNITS: dict[str, tuple[str, float]] = {
    "hz": ("frequency", 1.0), "khz": ("frequency", 1e3), "mhz": ("frequency", 1e6),
    "ghz": ("frequency", 1e9), "thz": ("frequency", 1e12),
    "mg": ("mass", 1e-3), "g": ("mass", 1.0), "gram": ("mass", 1.0), "kg": ("mass", 1e3),
    "kilogram": ("mass", 1e3), "tonne": ("mass", 1e6), "lb": ("mass", 453.592), "lbs": ("mass", 453.592),
    "pound": ("mass", 453.592), "克": ("mass", 1.0), "公斤": ("mass", 1e3), "千克": ("mass", 1e3), "吨": ("mass", 1e6),
    "mm": ("length", 1e-3), "cm": ("length", 1e-2), "km": ("length", 1e3), "metre": ("length", 1.0),
    "meter": ("length", 1.0), "kilometre": ("length", 1e3), "kilometer": ("length", 1e3),
    "mile": ("length", 1609.34), "mi": ("length", 1609.34), "ft": ("length", 0.3048), "foot": ("length", 0.3048),
    "feet": ("length", 0.3048), "米": ("length", 1.0), "厘米": ("length", 1e-2), "毫米": ("length", 1e-3),
    "公里": ("length", 1e3), "千米": ("length", 1e3), "英里": ("length", 1609.34),
    "kb": ("bytes", 1e3), "mb": ("bytes", 1e6), "gb": ("bytes", 1e9), "tb": ("bytes", 1e12),
    "kib": ("bytes", 1024.0), "mib": ("bytes", 1024.0**2), "gib": ("bytes", 1024.0**3), "tib": ("bytes", 1024.0**4),
    "ms": ("time", 1e-3), "millisecond": ("time", 1e-3), "sec": ("time", 1.0), "second": ("time", 1.0),
    "min": ("time", 60.0), "minute": ("time", 60.0), "hour": ("time", 3600.0), "hr": ("time", 3600.0),
    "毫秒": ("time", 1e-3), "秒": ("time", 1.0), "分钟": ("time", 60.0), "小时": ("time", 3600.0),
    "w": ("power", 1.0), "watt": ("power", 1.0), "kw": ("power", 1e3), "mw": ("power", 1e6),
    "v": ("voltage", 1.0), "volt": ("voltage", 1.0), "kv": ("voltage", 1e3), "mah": ("charge", 1.0),
    "°c": ("temperature_c", 1.0), "℃": ("temperature_c", 1.0), "°f": ("temperature_f", 1.0),
    "usd": ("money_usd", 1.0), "dollar": ("money_usd", 1.0), "美元": ("money_usd", 1.0),
    "eur": ("money_eur", 1.0), "euro": ("money_eur", 1.0), "欧元": ("money_eur", 1.0),
    "元": ("money_cny", 1.0), "人民币": ("money_cny", 1.0), "yuan": ("money_cny", 1.0), "rmb": ("money_cny", 1.0),
    "岁": ("age", 1.0),
}
_LATIN_UNIT_RE = re.compile(r"\s?(°[CcFf]|[A-Za-z]+)\b")
_CJK_UNITS = sorted((u for u in _UNITS if not u.isascii() and not u.startswith("°")), key=len, reverse=True)
_CJK_UNIT_RE = re.compile(r"\s?(" + "|".join(map(re.escape, _CJK_UNITS + ["℃"])) + ")")
# Symbols whose case matters: "mW" is milliwatts, "MW" megawatts; "M"/"B" after a number are scales.
_CASE_SENSITIVE = {"mw": {"mW": ("power", 1e-3), "MW": ("power", 1e6)}}


def is_unit(word: str) -> bool:
    """Whether ``word`` is a unit symbol or name this module binds numbers to ("GHz", "kg")."""
    w = word.lower()
    return w in _UNITS or (w.endswith("s") and w[:-1] in _UNITS and len(w) > 3)


def _unit_after(text: str, end: int) -> tuple[str, str, float] | None:
    """(unit, dimension, factor) of the unit written right after a number ending at ``end``."""
    m = _CJK_UNIT_RE.match(text, end)
    if m:
        raw = m.group(1)
        dim, factor = _UNITS[raw]
        return raw, dim, factor
    m = _LATIN_UNIT_RE.match(text, end)
    if not m:
        return None
    raw = m.group(1)
    if raw in _CASE_SENSITIVE.get(raw.lower(), {}):
        dim, factor = _CASE_SENSITIVE[raw.lower()][raw]
        return raw, dim, factor
    key = raw.lower()
    if key not in _UNITS and key.endswith("s") and key[:-1] in _UNITS and len(key) > 3:
        key = key[:-1]  # plurals: hours, grams, miles
    if key not in _UNITS:
        return None
    if len(key) == 1 and m.group(0)[0].isspace() and raw not in {"g", "W", "V"}:
        return None  # other one-letter units count only glued to their number
    return raw, *_UNITS[key]


@dataclass(frozen=True, slots=True)
class Quantity:
    value: float
    percent: bool
    text: str
    start: int
    end: int
    kind: str = ""  # "" (a cardinal), "ordinal" (2nd, second, 第二)
    unit: str = ""  # the unit as written after it ("GHz", "kg"); "" when none
    dimension: str = ""  # what the unit measures ("frequency"); "" when no unit
    base: float | None = None  # the value in the dimension's base unit (9 GHz -> 9e9)
    # An approximate figure ("about 670 billion", "nearly 700B", "约18万"): the step of its last
    # significant digit (10 billion, 100 billion, 1万); it matches any value within half a step
    # and at most 5% away (``same_quantity``). 0 for a figure stated exactly.
    approx_step: float = 0.0
    # A bound ("more than 14 trillion", "超过500人": +1; "under 10 ms", "不到3000元": -1): the value
    # stated may lie on that side of the figure, up to half again (or a third) away. 0 = none.
    bound: int = 0

    @property
    def is_year(self) -> bool:
        return not self.percent and not self.kind and self.value.is_integer() and 1000 <= self.value <= 2100

    @property
    def label(self) -> str:
        """How a reviewer reads it: the number with its unit ("9 GHz")."""
        return f"{self.text} {self.unit}" if self.unit else self.text

    @property
    def checked(self) -> bool:
        """Whether a claim stating this must find it in the evidence: the English ordinal
        "first" is mostly idiom ("first released", "at first"), so it is not checked."""
        return not (self.kind == "ordinal" and self.text.lower() == "first")


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


_SEASON_RE = re.compile(r"(?<![\d.,])(?P<y>(?:19|20)\d\d)[–—-](?P<yy>\d\d)(?![\d.,:])")


def extract_quantities(text: str) -> list[Quantity]:
    """Every number in ``text`` with its value; scale words and percent signs are folded in."""
    found: list[Quantity] = []
    taken = bytearray(len(text))  # characters already part of a quantity

    def add(value: float, percent: bool, start: int, end: int, kind: str = "", digit_step: float = 0.0) -> None:
        """``digit_step``: the place value of the figure's last digit, for figures that may be
        stated loosely (written numbers that are not years); 0 = matched exactly, never loosely."""
        if not any(taken[start:end]):
            taken[start:end] = b"\x01" * (end - start)
            unit = None if percent or kind else _unit_after(text, end)
            bound = bound_of(text, start, end) if digit_step else 0
            step = digit_step if digit_step and approximate(text, start, end) else 0.0
            if unit is None:
                found.append(Quantity(value, percent, text[start:end], start, end, kind, approx_step=step, bound=bound))
            else:
                found.append(Quantity(value, percent, text[start:end], start, end, kind, unit[0], unit[1], value * unit[2], step, bound))

    for m in ORDINAL_DIGIT_RE.finditer(text):
        add(float(m.group("n")), False, m.start(), m.end(), "ordinal")
    for m in _SEASON_RE.finditer(text):
        # "2018–19": a season or academic year; the second part is the year 2019, not 19
        first = int(m.group("y"))
        if int(m.group("yy")) == (first + 1) % 100:
            add(float(first), False, m.start("y"), m.end("y"))
            add(float(first + 1), False, m.start("yy"), m.end("yy"))
    for m in NUMERIC_DATE_RE.finditer(text) if "." in text else ():
        # a dotted date ("31.12.2009", a news byline's form) is its day, month and year, not the
        # decimal 31.12 with the year lost (a slashed one splits into its numbers by itself)
        if m.group("sep") == "." and 1 <= int(m.group("a")) <= 31 and 1 <= int(m.group("b")) <= 12:
            for part in ("a", "b", "year"):
                add(float(m.group(part)), False, m.start(part), m.end(part))
    lower = text.lower()
    if len(lower) != len(text):  # a few characters change length when lower-cased; keep offsets
        lower = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    for m in ORDINAL_WORD_RE.finditer(lower):
        if not is_time_second(text, m.start()):
            add(float(ORDINAL_WORDS[m.group("w").lower()]), False, m.start(), m.end(), "ordinal")
    has_cn = bool(_CN_ANY_RE.search(text))
    for m in ORDINAL_CN_RE.finditer(text) if "第" in text else ():
        raw = m.group("cn")
        value = float(raw) if raw.isdigit() else parse_chinese_numeral(raw)
        if value is not None:
            add(value, False, m.start(), m.end(), "ordinal")
    for m in _CN_PERCENT_RE.finditer(text) if has_cn else ():
        raw = m.group("cn")
        whole, _, frac = raw.partition("点")
        value = parse_chinese_numeral(whole)
        if value is not None:
            if frac and all(ch in _CN_DIGITS for ch in frac):
                value += float("0." + "".join(str(_CN_DIGITS[ch]) for ch in frac))
            add(value, True, m.start(), m.end())
    for m in _ARABIC_RE.finditer(text):
        scale = _scale(m.group("word"))
        value = float(m.group("num").replace(",", "")) * scale
        year_like = scale == 1.0 and not m.group("pct") and "," not in m.group("num") and 1000 <= value <= 2100 and value.is_integer()
        step = 0.0 if year_like else last_digit_step(m.group("num")) * scale  # "around 2000" is a year, not 1500-2500
        add(value, bool(m.group("pct")), m.start(), m.end(), digit_step=step)
    for m in _CN_RE.finditer(text) if has_cn else ():
        value = parse_chinese_numeral(m.group("cn"))
        if value is not None:
            add(value, bool(m.group("pct")), m.start(), m.end())
    for m in _WORD_RE.finditer(lower):
        value = _WORDS[m.group("w").lower()] * _scale(m.group("word"))
        add(float(value), False, m.start(), m.end())
    return sorted(found, key=lambda q: q.start)


def same_value(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


def same_quantity(claim: Quantity, ev: Quantity) -> bool:
    """Whether ``ev`` states ``claim``: the same value, and when both carry a unit, the same
    dimension and amount ("9 GHz" = "9000 MHz", never "9 kg"). A claim unit against a bare
    evidence number compares the written values (tables drop units)."""
    if claim.dimension and ev.dimension:
        if claim.dimension != ev.dimension:
            return False
        ratio = (claim.base or 0.0) / claim.value if claim.value else 0.0
        a, b = claim.base or 0.0, ev.base or 0.0
        return same_value(a, b) or loosely_equal(a, b, claim.approx_step * ratio / 2, claim.bound)
    return same_value(claim.value, ev.value) or loosely_equal(claim.value, ev.value, claim.approx_step / 2, claim.bound)


def unmatched_quantities(claim: list[Quantity], evidence: list[Quantity]) -> list[Quantity]:
    """Claim quantities whose value appears nowhere in the evidence.

    Values are compared, not spellings, so "14.8 trillion" matches "14,800,000,000,000" and
    "1.65万" matches "16500"; 671B never matches 670B, but "about 670B" does (an approximate
    figure matches within half the step of its last digit and at most 5%: "about 670B" 665-675B,
    "nearly 700B" 665-735B). A percentage also matches the same
    number written without the sign (tables often drop it). Units bind: see ``same_quantity``.
    """
    return [q for q in claim if q.checked and not any(same_quantity(q, e) for e in evidence)]


# Score lines and ranges: "6-3, 6-1", "以3比1", "7-5、5-7、4-6", "1至3月". Their numbers one by
# one say little ("6-3" and "3-6" hold the same digits, and a tennis report holds every small
# number), so a claim's run of pairs must appear as a run in the evidence. Years are four
# digits and never a pair here; a colon pair only between small numbers ("3:1", not "13:00").
_PAIR_RE = re.compile(
    r"(?<![\d.,])(?P<a>\d{1,3})\s?(?P<sep>[-–—比至:：]|to\b)\s?(?P<b>\d{1,3})(?![\d.%])"
)
_RUN_GAP_RE = re.compile(r"[\s、,，;；和及与]{0,3}")


def _pairs(text: str) -> list[tuple[int, int, tuple[int, int]]]:
    out = []
    for m in _PAIR_RE.finditer(text):
        a, b = m.group("a"), m.group("b")
        if m.group("sep") in (":", "：") and (int(a) > 15 or int(b) > 15 or (len(b) == 2 and b[0] == "0")):
            continue  # a time of day, not a score
        out.append((m.start(), m.end(), (int(a), int(b))))
    return out


def score_runs(text: str) -> list[tuple[str, tuple[tuple[int, int], ...]]]:
    """Runs of number pairs in ``text``, each with its literal text."""
    runs: list[tuple[str, tuple[tuple[int, int], ...]]] = []
    start = end = -1
    current: list[tuple[int, int]] = []
    for s, e, pair in _pairs(text):
        if current and _RUN_GAP_RE.fullmatch(text, end, s):
            current.append(pair)
        else:
            if current:
                runs.append((text[start:end], tuple(current)))
            start, current = s, [pair]
        end = e
    if current:
        runs.append((text[start:end], tuple(current)))
    return runs


def _contains(run: tuple, seq: tuple) -> bool:
    n = len(run)
    return any(seq[i : i + n] == run for i in range(len(seq) - n + 1))


def unmatched_score_runs(claim: str, evidence: str) -> list[str]:
    """The claim's runs of number pairs that no evidence run contains, in either orientation
    ("3-1" for "1-3": the loser's side of the same score). Only checked when the evidence has
    pairs at all: a range against evidence without any ("3-5 days" vs "three to five days")
    is left to the single numbers."""
    if not _PAIR_RE.search(claim):
        return []
    claimed = score_runs(claim)
    if not claimed:
        return []
    stated = [run for _, run in score_runs(evidence)]
    if not stated:
        return []
    flipped = [tuple((b, a) for a, b in run) for run in stated]
    return [text for text, run in claimed if not any(_contains(run, seq) for seq in stated + flipped)]


def glued_in(q: Quantity, evidence: str) -> bool:
    """Whether the evidence writes ``q`` glued to letters ("Au99.99", "Pt9995"), where
    ``extract_quantities`` sees a product code, not a number; the claim may name the same code
    in another script ("黄金99.99"). Only distinctive literals count (a decimal point, or at
    least three digits), so "A1" never supports "1"."""
    literal = q.text.replace(",", "")
    digits = re.match(r"\d+(?:\.\d+)?", literal)
    if digits is None:
        return False
    literal = digits.group(0)
    if "." not in literal and len(literal) < 3:
        return False
    return re.search(r"(?<=[A-Za-z])" + re.escape(literal) + r"(?!\d|\.\d)", evidence) is not None

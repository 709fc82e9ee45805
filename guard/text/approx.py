"""How loosely a figure is stated: approximately ("about 670B", "约18万") or as a bound ("more
than 14 trillion", "不到3000元").

Answers round and bound the figures their sources state. ``numbers.same_quantity`` lets such a
figure match a stated value it rounds, or one on the bound's side, within the limits below; a
figure stated plainly must still match exactly.
"""

from __future__ import annotations

import re

_APPROX_BEFORE = re.compile(
    r"(?:\b(?:about|approximately|approx\.?|roughly|around|nearly|almost|circa|some|an estimated|close to)\s+|[~≈]\s?"
    r"|(?:约|大约|大概|近|将近|接近|约为))$",
    re.IGNORECASE,
)
_APPROX_AFTER = re.compile(r"^\s?(?:[^\s\d]{0,2})?(?:左右|上下)")


def approximate(text: str, start: int, end: int) -> bool:
    """Whether the figure at ``text[start:end]`` is stated as approximate: "about 15 trillion",
    "~700B", "约18万", "18万左右"."""
    return bool(_APPROX_BEFORE.search(text[max(0, start - 16) : start]) or _APPROX_AFTER.match(text[end : end + 5]))


_LOWER_BOUND_BEFORE = re.compile(
    r"(?:\b(?:(?<!no )(?<!not )more than|no less than|not less than|over|at least|upwards of|in excess of|exceeding|"
    r"greater than|above)\s+|(?:(?<!不)超过|逾|至少|不少于|不低于|(?<!不)多于|(?<!不)高于|(?<!不)大于))$",
    re.IGNORECASE,
)
_UPPER_BOUND_BEFORE = re.compile(
    r"(?:\b(?:(?<!no )(?<!not )less than|(?<!no )(?<!not )fewer than|under|at most|up to|below|no more than|not more than)\s+"
    r"|(?:(?<!不)少于|不到|(?<!不)低于|不超过|不多于|不高于|至多|最多|不足))$",
    re.IGNORECASE,
)
_LOWER_BOUND_AFTER = re.compile(r"^(?:[^\s\d]{0,1})?(?:多|余|以上)")
_UPPER_BOUND_AFTER = re.compile(r"^(?:[^\s\d]{0,1})?(?:以下|以内)")
# How far a bound may sit from the value it bounds: "more than 14 trillion" is 14.8 trillion,
# not 500 trillion; "under 10 ms" is 8 ms, not 1 ms.
_BOUND_REACH = 1.5


def bound_of(text: str, start: int, end: int) -> int:
    """Which side the figure at ``text[start:end]`` bounds: +1 for a lower bound ("more than 14
    trillion", "超过500人", "500多人"), -1 for an upper one ("under 10 ms", "不到3000元"), 0 for neither.
    A negated bound reads the other way ("no more than", 不超过 are upper bounds)."""
    before, after = text[max(0, start - 16) : start], text[end : end + 4]
    if _LOWER_BOUND_BEFORE.search(before) or _LOWER_BOUND_AFTER.match(after):
        return 1
    if _UPPER_BOUND_BEFORE.search(before) or _UPPER_BOUND_AFTER.match(after):
        return -1
    return 0


def last_digit_step(num: str) -> float:
    """The place value of the last significant digit as written: "670" -> 10, "700" -> 100,
    "14.8" -> 0.1, "15" -> 1."""
    digits = num.replace(",", "")
    if "." in digits:
        return 10.0 ** -len(digits.split(".", 1)[1])
    return 10.0 ** (len(digits) - len(digits.rstrip("0"))) if digits.strip("0") else 1.0


# An approximate figure is still a figure: it may round the stated value to its last digit, but
# not by more than this share ("约600万" is no rounding of 557.6万 a reader would accept).
_APPROX_MAX_SHARE = 0.05


def loosely_equal(claimed: float, stated: float, tolerance: float, bound: int = 0) -> bool:
    """Whether a figure stated with ``bound`` (+1 at least, -1 at most) or, when none, rounded
    within ``tolerance`` covers the stated value. Equal values are ``numbers.same_value``'s."""
    if bound > 0 and claimed > 0:
        return claimed < stated <= claimed * _BOUND_REACH
    if bound < 0 and claimed > 0:
        return claimed / _BOUND_REACH <= stated < claimed
    tolerance = min(tolerance, _APPROX_MAX_SHARE * abs(claimed))
    return tolerance > 0 and abs(claimed - stated) <= tolerance * (1 + 1e-9)

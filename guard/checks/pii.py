"""Personal data in answers: e-mail addresses, phone numbers, Chinese resident ID numbers and
bank card numbers, found and masked.

ID and card numbers are only reported when their check digit is valid (GB 11643 for the ID,
Luhn for cards), so order numbers and long numeric codes in the knowledge base are left alone.

Detection also runs on the folded view of the text (``guard.text.fold``), so ``john.doe＠example.com``,
``john [at] example [dot] com``, fullwidth digits and zero-width characters inside a number are
found; the mask is applied to the original characters the finding came from.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from guard.checks.base import CheckInput, CheckOutcome
from guard.text.fold import fold, fold_text

_EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_CN_ID_RE = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_CARD_RE = re.compile(r"(?<![\d+.-])\d(?:[ .-]?\d){12,18}(?![\d-]|\.\d)")  # 13-19 digits, any grouping
_PHONE_RES = [
    re.compile(r"(?<![\d+])(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)"),  # Chinese mobile
    re.compile(r"(?<![\d+])0\d{2,3}-\d{7,8}(?!\d)"),  # Chinese landline 010-12345678
    re.compile(r"(?<![\w+])\+\d{1,3}[ -]?(?:\(\d{1,4}\)[ -]?)?\d{2,4}(?:[ -]\d{2,4}){1,3}(?!\d)"),
    re.compile(r"(?<![\w(])\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}(?!\d)"),  # North American
]

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def cn_id_valid(number: str) -> bool:
    """GB 11643-1999 check digit of an 18-character resident ID number."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == number[17].upper()


def luhn_valid(digits: str) -> bool:
    if not digits.isdigit() or len(digits) < 12:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


@dataclass(frozen=True, slots=True)
class Found:
    kind: str
    start: int
    end: int
    text: str


def _mask_email(text: str) -> str:
    if "@" not in text:  # written around the sign (fullwidth, [at]): hide all but the first letter
        return _mask_keep(text, 1, 0)
    local, _, domain = text.partition("@")
    return f"{local[:1]}***@{domain}"


def _mask_keep(text: str, head: int, tail: int) -> str:
    """Replace digits with * except the first ``head`` and last ``tail``; separators stay."""
    positions = [i for i, ch in enumerate(text) if ch.isalnum()]
    hidden = set(positions[head : len(positions) - tail])
    return "".join("*" if i in hidden else ch for i, ch in enumerate(text))


_MASKS: dict[str, Callable[[str], str]] = {
    "email": _mask_email,
    "phone": lambda t: _mask_keep(t, 3, 4),
    "cn_id": lambda t: _mask_keep(t, 6, 4),
    "bank_card": lambda t: _mask_keep(t, 0, 4),
}


def _detect(text: str, kinds: list[str]) -> list[tuple[str, int, int]]:
    """(kind, start, end) of each finding in ``text``, IDs and cards before phones so a card is
    not read as a phone; overlapping ones are resolved by ``find_pii``."""
    out: list[tuple[str, int, int]] = []
    if "email" in kinds:
        out += [("email", m.start(), m.end()) for m in _EMAIL_RE.finditer(text)]
    if "cn_id" in kinds:
        out += [("cn_id", m.start(), m.end()) for m in _CN_ID_RE.finditer(text) if cn_id_valid(m.group(0))]
    if "bank_card" in kinds:
        for m in _CARD_RE.finditer(text):
            digits = re.sub(r"[ .-]", "", m.group(0))
            if 13 <= len(digits) <= 19 and luhn_valid(digits):
                out.append(("bank_card", m.start(), m.end()))
    if "phone" in kinds:
        for pattern in _PHONE_RES:
            out += [("phone", m.start(), m.end()) for m in pattern.finditer(text)]
    return out


def find_pii(text: str, kinds: list[str]) -> list[Found]:
    """Non-overlapping findings in the original text, then those only the folded view shows
    (their spans mapped back to the original characters)."""
    found: list[Found] = []

    def add(kind: str, start: int, end: int) -> None:
        if end > start and all(end <= f.start or start >= f.end for f in found):
            found.append(Found(kind, start, end, text[start:end]))

    for kind, start, end in _detect(text, kinds):
        add(kind, start, end)
    folded_text = fold_text(text)
    if folded_text != text:
        seen = {f.text for f in found}
        extra = [d for d in _detect(folded_text, kinds) if folded_text[d[1] : d[2]] not in seen]
        if extra:  # only now pay for the offsets back into the original
            folded = fold(text)
            for kind, start, end in _detect(folded.text, kinds):
                add(kind, *folded.span(start, end))
    return sorted(found, key=lambda f: f.start)


def mask_pii(text: str, found: list[Found]) -> str:
    out: list[str] = []
    last = 0
    for f in sorted(found, key=lambda f: f.start):
        out.append(text[last : f.start])
        out.append(_MASKS[f.kind](f.text))
        last = f.end
    out.append(text[last:])
    return "".join(out)


class PiiCheck:
    """``mask`` rewrites the answer and passes; ``flag`` leaves it and reports a violation."""

    name = "pii"

    def __init__(self, kinds: list[str], action: str = "mask") -> None:
        self.kinds = list(kinds)
        self.action = action

    def run(self, inp: CheckInput) -> CheckOutcome:
        found = find_pii(inp.answer, self.kinds)
        counts: dict[str, int] = {}
        for f in found:
            counts[f.kind] = counts.get(f.kind, 0) + 1
        details = {"found": counts}
        if not found:
            return CheckOutcome(self.name, passed=True, details=details)
        if self.action == "mask":
            return CheckOutcome(self.name, passed=True, answer=mask_pii(inp.answer, found), details=details)
        violations = [f"personal data: {kind} ({n})" for kind, n in counts.items()]
        return CheckOutcome(self.name, passed=False, violations=violations, details=details)

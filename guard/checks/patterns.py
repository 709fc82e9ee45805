"""Deny and require rules on the answer text: regular expressions and keyword lists.

Keywords are matched fuzzily (rapidfuzz) so a banned word still hits with a typo or a
changed inflection. English keywords are compared word window by word window, so "kill"
does not hit "skill"; Chinese keywords, having no word boundaries, by best partial match.

Every rule is matched against the answer and its folded views (``guard.text.fold``), and a rule
written with traditional characters or look-alike letters is folded too, so fullwidth letters,
zero-width characters, homoglyphs, 保證/保证 and spaced-out characters do not walk past a rule.
"""

from __future__ import annotations

import re

from rapidfuzz import fuzz

from guard.checks.base import CheckInput, CheckOutcome
from guard.text.cjk import has_cjk
from guard.text.fold import compile_rule, fold_words, rule_hit, views


_WORD_RE = re.compile(r"\w+")
_PRIOR_TAIL = 300  # characters of already released text a deny rule may reach back into


def keyword_hit(keyword: str, text: str, threshold: float) -> bool:
    """Whether ``keyword`` occurs in ``text`` exactly or with a similarity >= ``threshold`` (0-100)."""
    key = keyword.strip().casefold()
    if not key:
        return False
    body = text.casefold()
    if has_cjk(key):
        return key in body or fuzz.partial_ratio(key, body) >= threshold
    key_words = _WORD_RE.findall(key)
    if not key_words:
        return key in body
    text_words = _WORD_RE.findall(body)
    n = len(key_words)
    target = " ".join(key_words)
    for i in range(max(1, len(text_words) - n + 1)):
        window = " ".join(text_words[i : i + n])
        if window == target or fuzz.ratio(target, window) >= threshold:
            return True
    return False


def keyword_hit_folded(keyword: str, texts: list[str], threshold: float) -> bool:
    """``keyword_hit`` of the keyword, as written and folded, on any of ``texts``."""
    keys = {keyword, fold_words(keyword)}
    return any(keyword_hit(k, t, threshold) for k in keys for t in texts)


class PatternCheck:
    """Fails when a deny rule matches or a require rule does not. Matching ignores case."""

    name = "patterns"

    def __init__(
        self,
        deny: list[str] | None = None,
        require: list[str] | None = None,
        deny_keywords: list[str] | None = None,
        fuzzy_threshold: float = 90,
    ) -> None:
        self.deny = [(p, compile_rule(p)) for p in deny or []]
        self.require = [(p, compile_rule(p)) for p in require or []]
        self.deny_keywords = list(deny_keywords or [])
        self.fuzzy_threshold = fuzzy_threshold

    def deny_only(self) -> "PatternCheck":
        """The same deny rules without the require rules (reasoning need not carry a disclaimer)."""
        copy = PatternCheck(fuzzy_threshold=self.fuzzy_threshold)
        copy.deny, copy.deny_keywords = self.deny, self.deny_keywords
        return copy

    def run(self, inp: CheckInput) -> CheckOutcome:
        texts = views(inp.answer)
        # a piece of a streamed answer: a denied phrase may start in text already released
        denied = views(inp.prior[-_PRIOR_TAIL:] + inp.answer) if inp.prior else texts
        violations = [f"denied pattern matched: {p}" for p, rules in self.deny if rule_hit(rules, denied)]
        violations += [f"required pattern missing: {p}" for p, rules in self.require if not rule_hit(rules, texts)]
        violations += [
            f"denied keyword: {k}"
            for k in self.deny_keywords
            if keyword_hit_folded(k, denied, self.fuzzy_threshold)
        ]
        return CheckOutcome(self.name, passed=not violations, violations=violations)

"""The shipped list of opposites and exclusive categories (``data/antonyms.yaml``), and the
comparison key English words are matched by.

Kept apart from the rules that use it (``contradiction``) because it is data with its own
loader: an operator reading why "more" clashed with "less" finds the list and its parser here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from guard.text import cjk

__all__ = ["Lexicon", "key", "lexicon"]


@dataclass(frozen=True, slots=True)
class Lexicon:
    opposites: dict[str, frozenset[str]]
    group_of: dict[str, int]
    by_key: dict[str, tuple[str, ...]]  # English comparison key -> the listed words with it
    cjk_re: re.Pattern[str] | None  # any listed Chinese word

    @classmethod
    def parse(cls, data: dict) -> "Lexicon":
        opposites: dict[str, set[str]] = {}
        for pair in data.get("pairs") or []:
            a, b = (str(x).lower() for x in pair[:2])
            opposites.setdefault(a, set()).add(b)
            opposites.setdefault(b, set()).add(a)
        group_of = {str(w).lower(): i for i, g in enumerate(data.get("exclusive") or []) for w in g}
        listed = set(opposites) | set(group_of)
        by_key: dict[str, list[str]] = {}
        for w in listed:
            if w.isascii():
                by_key.setdefault(key(w), []).append(w)
        chinese = sorted((w for w in listed if not w.isascii()), key=len, reverse=True)
        cjk_re = re.compile("|".join(map(re.escape, chinese))) if chinese else None
        return cls({k: frozenset(v) for k, v in opposites.items()}, group_of,
                   {k: tuple(sorted(v)) for k, v in by_key.items()}, cjk_re)

    def listed_in(self, words: frozenset[str], text: str) -> list[str]:
        """The listed words a text has (``words``: its comparison keys)."""
        found = [w for k in sorted(words) for w in self.by_key.get(k, ())]
        if self.cjk_re is not None and cjk.has_cjk(text):
            found += list(dict.fromkeys(self.cjk_re.findall(text)))
        return found


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    """The shipped list, read on first use."""
    import yaml

    text = resources.files("guard.checks.grounding").joinpath("data/antonyms.yaml").read_text(encoding="utf-8")
    return Lexicon.parse(yaml.safe_load(text) or {})


def key(word: str) -> str:
    """A word's comparison key: lower case, common inflections off, five letters ("uses",
    "used", "using" -> "use"; "activated" -> "activ")."""
    w = word.lower().replace("’", "'")
    if w.endswith("ing") and len(w) >= 5:
        w = w[:-3]
        w = w + "e" if len(w) < 3 else w
    elif w.endswith("ied") or (w.endswith("ies") and len(w) > 4):
        w = w[:-3] + "y"
    elif w.endswith("ed") and len(w) >= 4 and not w.endswith("eed"):
        w = w[:-2] if len(w) > 4 else w[:-1]
    elif w.endswith("es") and len(w) >= 5 and w[-3] in "sxz":
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "'s")) and len(w) >= 3:
        w = w[:-1]
    return w[:5]

"""Whether the evidence names something the claim names: the same spelling, another spelling
from the alias table (US = United States), the same Chinese name with its dots normalised, every
word of it, or the name without a word that only says what kind of place it is.

A name the evidence never states caps a claim's support (``features.hard_cap``), so a miss
here is a false alarm a reviewer sees; each rule is a spelling the evidence legitimately uses.
"""

from __future__ import annotations

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


def name_found(name: str, ev: EvidenceText, aliases: Aliases | None = None) -> bool:
    if name.lower() in ev.lower:
        return True
    if _alias_found(name, ev, aliases or default_aliases()):
        return True
    if cjk.has_cjk(name):
        return cjk.name_core(name) in cjk.normalise_name_dots(ev.text)
    parts = tokens.words(name)
    if parts and all(tokens.stem(p) in ev.stems for p in parts):
        return True
    core = [p for p in parts if p.lower() not in _ADMIN_WORDS]
    if core and len(core) < len(parts) and all(tokens.stem(p) in ev.stems for p in core):
        return True  # "Shizuoka Prefecture" where the evidence says "Hamamatsu, Shizuoka"
    return fuzz.partial_ratio(name.lower(), ev.lower) >= 90

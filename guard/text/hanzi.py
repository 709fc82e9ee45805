"""Traditional Chinese characters mapped to simplified ones, one character to one character.

Deny keywords are written one way (保证收益) and attackers type the other (保證收益). The table is
OpenCC's character list (TSCharacters.txt, Apache-2.0, shipped by the opencc-python-reimplemented
package); only its first candidate for each single character is used, so the mapping keeps
text length and offsets (phrase-level conversion would not, and matching does not need it).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def t2s_table() -> dict[str, str]:
    """``{traditional: simplified}``, read once on first use."""
    text = resources.files("opencc").joinpath("dictionary/TSCharacters.txt").read_text(encoding="utf-8")
    table: dict[str, str] = {}
    for line in text.splitlines():
        key, _, values = line.partition("\t")
        first = values.split(" ", 1)[0].strip()
        if len(key) == 1 and len(first) == 1 and key != first:
            table[key] = first
    return table

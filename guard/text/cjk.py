"""Chinese (CJK) text without a word segmenter.

Chinese has no spaces and the embedding model is English-only, so Chinese claims are
compared to evidence through character n-grams: a bigram or trigram of the claim that never
occurs in the evidence marks new content, and a long run of such characters is usually a
name, place or term the evidence does not contain (吉姆·哈丁 where the article says
布鲁斯·马拉默德). No dictionary is needed, which keeps this fast and domain-neutral.
"""

from __future__ import annotations

import re

# CJK Unified Ideographs (+ extension A and compatibility ideographs).
_CJK_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RUN_RE = re.compile(f"[{_CJK_RANGES}]+")
_CJK_CHAR_RE = re.compile(f"[{_CJK_RANGES}]")
# The middle dot joins transliterated foreign names: 布鲁斯·马拉默德.
_NAME_DOT = "·•‧・"
_CJK_NAME_RE = re.compile(f"[{_CJK_RANGES}]+(?:[{_NAME_DOT}][{_CJK_RANGES}]+)+")

# Function characters that carry little content on their own; n-grams made only of them
# are ignored when measuring coverage.
_FUNCTION_CHARS = set("的了是在和与及或也就都而并但又被把将对于为以之其这那此有个着过中上下")


def is_cjk(ch: str) -> bool:
    return bool(_CJK_CHAR_RE.fullmatch(ch))


def has_cjk(text: str) -> bool:
    return bool(_CJK_CHAR_RE.search(text))


def cjk_runs(text: str) -> list[str]:
    return _CJK_RUN_RE.findall(text)


def char_ngrams(text: str, n: int) -> list[str]:
    """Character n-grams inside CJK runs (never across punctuation or Latin text).

    A run shorter than ``n`` is kept whole, so short words still count.
    """
    grams: list[str] = []
    for run in cjk_runs(text):
        grams.extend(run[i : i + n] for i in range(max(1, len(run) - n + 1)))
    return grams


def content_ngrams(text: str, n: int) -> list[str]:
    """Like ``char_ngrams`` but without n-grams made only of function characters (的了是...)."""
    return [g for g in char_ngrams(text, n) if not all(c in _FUNCTION_CHARS for c in g)]


def novel_runs(claim: str, evidence_bigrams: set[str] | frozenset[str], min_len: int = 2) -> list[str]:
    """Stretches of the claim's CJK text not covered by any bigram found in the evidence.

    A character counts as covered when a bigram containing it occurs in the evidence, so a
    changed single character inside a known word leaves a short run and a made-up name
    leaves a long one.
    """
    runs: list[str] = []
    for run in cjk_runs(claim):
        covered = [False] * len(run)
        for i in range(len(run) - 1):
            if run[i : i + 2] in evidence_bigrams:
                covered[i] = covered[i + 1] = True
        current = ""
        for ch, ok in zip(run, covered):
            if ok:
                if len(current) >= min_len:
                    runs.append(current)
                current = ""
            else:
                current += ch
        if len(current) >= min_len:
            runs.append(current)
    return [r for r in runs if not all(c in _FUNCTION_CHARS for c in r)]


def normalise_name_dots(text: str) -> str:
    return re.sub(f"[{_NAME_DOT}]", "·", text)


def foreign_names(text: str) -> list[str]:
    """Transliterated names written with a middle dot (乔恩·卡什兰).

    Without word boundaries the characters around a name run on (教授布鲁斯·马拉默德表示), so
    at most four characters are kept on each side of each dot.
    """
    names = []
    for m in _CJK_NAME_RE.finditer(text):
        parts = re.split(f"[{_NAME_DOT}]", m.group(0))
        names.append("·".join([parts[0][-4:], *parts[1:-1], parts[-1][:4]]))
    return names


def name_core(name: str) -> str:
    """Two characters either side of the first dot: enough to identify a transliterated name
    while ignoring the run-on characters ``foreign_names`` could not cut off."""
    left, _, right = normalise_name_dots(name).partition("·")
    return f"{left[-2:]}·{right[:2]}"

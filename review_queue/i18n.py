"""Interface text in English and Chinese, chosen by ?lang=, then a cookie, then the configured default."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Callable

LANGUAGES = ("en", "zh")
COOKIE = "guard_review_lang"
_DIR = Path(__file__).parent / "i18n"


@lru_cache(maxsize=None)
def messages(lang: str) -> dict[str, str]:
    return json.loads((_DIR / f"{lang}.json").read_text(encoding="utf-8"))


def translator(lang: str) -> Callable[..., str]:
    """``t(key, **values)``; a key missing in Chinese falls back to English, then to the key itself."""
    own, english = messages(lang), messages("en")

    def t(key: str, **values: object) -> str:
        text = own.get(key) or english.get(key) or key
        return text.format(**values) if values else text

    return t


def label(t: Callable[..., str], prefix: str, value: str) -> str:
    """``t(prefix + value)`` when there is such a message, else ``value`` itself (an unknown event name)."""
    key = prefix + value
    return t(key) if key in messages("en") else value


def pick_language(query: str | None, cookie: str | None, default: str) -> str:
    for lang in (query, cookie):
        if lang in LANGUAGES:
            return lang
    return default

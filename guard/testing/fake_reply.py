"""The tokens of a fake answer, computed once per configuration.

A reply is a sequence of pieces, one per streamed token; each piece is either reasoning or
content. Keeping the reply as data lets the stream and non-stream paths (and every dialect)
render the same answer, and lets tests predict it exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Literal

from guard.testing.fake_config import FakeConfig

LOREM = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut "
    "labore et dolore magna aliqua ut enim ad minim veniam quis nostrud exercitation ullamco "
    "laboris nisi ut aliquip ex ea commodo consequat duis aute irure dolor in reprehenderit in "
    "voluptate velit esse cillum dolore eu fugiat nulla pariatur excepteur sint occaecat cupidatat "
    "non proident sunt in culpa qui officia deserunt mollit anim id est laborum"
).split()

# One CJK character is one token; other text splits at whitespace, which stays with the next word.
_CJK = "\u3000-\u303f\u3400-\u9fff\uff00-\uffef"
_TOKEN = re.compile(rf"\s*(?:[{_CJK}]|[^\s{_CJK}]+)|\s+$")

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>\n\n"


@dataclass(frozen=True)
class Piece:
    kind: Literal["reasoning", "content"]
    text: str


@dataclass(frozen=True)
class Reply:
    pieces: tuple[Piece, ...]
    truncated: bool  # max_tokens cut it short, so finish_reason is "length"

    # Replies are cached per configuration (build_reply), so these are computed once each.
    @cached_property
    def content(self) -> str:
        return "".join(p.text for p in self.pieces if p.kind == "content")

    @cached_property
    def reasoning(self) -> str:
        return "".join(p.text for p in self.pieces if p.kind == "reasoning")

    @cached_property
    def reasoning_count(self) -> int:
        return sum(1 for p in self.pieces if p.kind == "reasoning")


def lorem(n: int, offset: int = 0) -> list[str]:
    """``n`` deterministic lorem tokens; the first is capitalised and the last ends the sentence."""
    words = [LOREM[(offset + i) % len(LOREM)] for i in range(n)]
    if not words:
        return []
    words[0] = words[0].capitalize()
    words[-1] += "."
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def split_tokens(text: str) -> list[str]:
    """Pseudo-tokens of ``text`` whose concatenation is ``text`` again."""
    return _TOKEN.findall(text)


def _reasoning_tokens(config: FakeConfig) -> list[str]:
    if config.reasoning == "none":
        return []
    if config.reasoning_text is not None:
        return split_tokens(config.reasoning_text)
    return lorem(config.reasoning_tokens, offset=7)


@lru_cache(maxsize=256)
def _full_pieces(config: FakeConfig) -> tuple[Piece, ...]:
    content = split_tokens(config.text) if config.text is not None else lorem(config.tokens)
    thoughts = _reasoning_tokens(config)
    if config.reasoning == "think":
        wrapped = [THINK_OPEN, *thoughts, THINK_CLOSE]
        return tuple(Piece("content", t) for t in [*wrapped, *content])
    return tuple([Piece("reasoning", t) for t in thoughts] + [Piece("content", t) for t in content])


@lru_cache(maxsize=1024)
def build_reply(config: FakeConfig, max_tokens: int | None) -> Reply:
    """The reply for ``config``, cut to ``max_tokens`` pieces when the request sets a limit."""
    pieces = _full_pieces(config)
    if max_tokens is not None and 0 <= max_tokens < len(pieces):
        return Reply(pieces[:max_tokens], truncated=True)
    return Reply(pieces, truncated=False)


def count_prompt_tokens(body: dict) -> int:
    """A rough prompt size (words and CJK characters), enough for plausible usage numbers."""
    if "messages" in body:
        parts = [_message_text(m) for m in body.get("messages") or [] if isinstance(m, dict)]
    else:
        prompt = body.get("prompt", "")
        parts = [p for p in (prompt if isinstance(prompt, list) else [prompt]) if isinstance(p, str)]
    return max(1, sum(len(split_tokens(p)) for p in parts))


def _message_text(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""

"""Cut sections into passages small enough to embed and specific enough to quote as evidence.

Passages follow paragraphs; a paragraph longer than the budget is cut between sentences
(``split_sentences`` knows Chinese and English terminators). The budget is counted in
approximate model tokens, not characters, because one Chinese character costs about as much
as one English word piece: a character budget would give Chinese passages several times more
content than the embedding model reads (MiniLM truncates at 256 word pieces).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from guard.knowledge.loaders import Section
from guard.knowledge.types import Passage
from guard.text.sentences import split_sentences

MAX_TOKENS = 128  # passage budget for knowledge files
MIN_TOKENS = 24  # a chunk smaller than this takes in the next paragraph
CONTEXT_MAX_TOKENS = 64  # the sentence-ish passages ``KnowledgeIndex.from_texts`` makes

_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f"
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_CJK_CHAR = re.compile(rf"[{_CJK}]")
_WORD_RUN = re.compile(rf"[^\s{_CJK}]+")


def token_weight(text: str) -> int:
    """Approximate word-piece count: one per CJK character, about 1.3 per other word.

    Counted without a loop over pieces (and for ASCII text by ``str.split``, which splits at
    exactly the characters ``\\s`` matches): chunking a request's documents runs on every new
    request, and this was most of its cost."""
    if text.isascii():
        return math.ceil(len(text.split()) * 1.3)
    cjk = len(_CJK_CHAR.findall(text))
    words = len(_WORD_RUN.findall(text))
    return cjk + math.ceil(words * 1.3)


def _join_lines(a: str, b: str) -> str:
    if a and b and (_CJK_CHAR.match(a[-1]) or _CJK_CHAR.match(b[0])):
        return a + b  # Chinese wraps lines without a space between them
    return f"{a} {b}"


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs at blank lines; wrapped lines are joined, list items keep their own line."""
    paragraphs: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        lines: list[str] = []
        for raw in block.splitlines():
            line = raw.strip()
            if not line:
                continue
            if lines and not _LIST_ITEM.match(raw):
                lines[-1] = _join_lines(lines[-1], line)
            else:
                lines.append(line)
        if lines:
            paragraphs.append("\n".join(lines))
    return paragraphs


def _hard_split(text: str, max_tokens: int) -> list[str]:
    """Cut one over-long sentence at word (or CJK character) boundaries."""
    out: list[str] = []
    current = ""
    for m in re.finditer(rf"[{_CJK}]|[^\s{_CJK}]+\s*|\s+", text):
        piece = m.group(0)
        if current and token_weight(current + piece) > max_tokens:
            out.append(current.strip())
            current = ""
        current += piece
    if current.strip():
        out.append(current.strip())
    return out


def _sentences(paragraph: str, max_tokens: int) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for span in split_sentences(paragraph):
        weight = token_weight(span.text)
        if weight <= max_tokens:
            out.append((span.text, weight))
        else:
            out.extend((piece, token_weight(piece)) for piece in _hard_split(span.text, max_tokens))
    return out


def _glue(a: str, b: str, same_paragraph: bool) -> str:
    if not same_paragraph:
        return f"{a}\n\n{b}"
    return a + b if _CJK_CHAR.match(a[-1]) or _CJK_CHAR.match(b[0]) else f"{a} {b}"


def split_long(paragraph: str, max_tokens: int) -> list[tuple[str, int]]:
    """Cut a paragraph between sentences into pieces of about equal size, none over the
    budget, so a long paragraph does not leave a one-clause scrap at its end."""
    weight = token_weight(paragraph)
    if weight <= max_tokens:
        return [(paragraph, weight)]
    sentences = _sentences(paragraph, max_tokens)
    target = sum(w for _, w in sentences) / math.ceil(sum(w for _, w in sentences) / max_tokens)
    pieces: list[tuple[str, int]] = []
    text, size = "", 0
    for sentence, w in sentences:
        if text and (size + w > max_tokens or size + w / 2 > target):
            pieces.append((text, size))
            text, size = "", 0
        text, size = (_glue(text, sentence, True) if text else sentence), size + w
    if text:
        pieces.append((text, size))
    return pieces


def chunk_text(text: str, max_tokens: int = MAX_TOKENS, min_tokens: int = MIN_TOKENS) -> list[str]:
    """Chunks of at most ~``max_tokens``: one per paragraph, long paragraphs cut between
    sentences. A chunk below ``min_tokens`` (an intro line, a list item) takes in what follows,
    so fragments join a neighbour but full paragraphs stay apart and evidence stays specific."""
    chunks: list[str] = []
    text_, size = "", 0
    for paragraph in split_paragraphs(text):
        for i, (piece, w) in enumerate(split_long(paragraph, max_tokens)):
            if text_ and size < min_tokens and size + w <= max_tokens:
                text_, size = _glue(text_, piece, same_paragraph=i > 0), size + w
            else:
                if text_:
                    chunks.append(text_)
                text_, size = piece, w
    if text_:
        chunks.append(text_)
    return chunks


def embed_text(passage: Passage) -> str:
    """What gets embedded: the heading path gives a short passage its topic."""
    heading = passage.metadata.get("heading")
    return f"{heading}: {passage.text}" if heading else passage.text


def make_passages(
    sections: Iterable[Section],
    source: str,
    max_tokens: int = MAX_TOKENS,
    min_tokens: int = MIN_TOKENS,
) -> list[Passage]:
    """Passages for one file. Ids are ``<source>#<n>``, stable while the file is unchanged;
    sections with their own id (JSONL records) keep it and are not re-chunked."""
    passages: list[Passage] = []
    n = 0
    for section in sections:
        if section.id is not None:
            meta = dict(section.metadata, file=source)
            if section.heading:
                meta["heading"] = section.heading
            passages.append(Passage(section.id, section.text, section.source or source, meta))
            continue
        for text in chunk_text(section.text, max_tokens, min_tokens):
            n += 1
            meta = dict(section.metadata, file=source)
            if section.heading:
                meta["heading"] = section.heading
            passages.append(Passage(f"{source}#{n}", text, section.source or source, meta))
    return passages

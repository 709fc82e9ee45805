"""Read knowledge files into sections of text, one reader per format.

Readers keep the document's own structure (headings, pages, records) because chunking along it
gives passages a reviewer can recognise as evidence. They do not split paragraphs; that is
``guard.knowledge.chunking``'s job.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

class LoaderError(ValueError):
    """A knowledge file cannot be read; the message names the file (and line for JSONL)."""


@dataclass(frozen=True, slots=True)
class Section:
    """A run of text under one heading path (or one page, or one JSONL record).

    ``id`` is set only when the file fixes passage ids itself (JSONL); such sections become
    exactly one passage each and are never re-chunked, so the ids stay what the author wrote.
    """

    text: str
    heading: str = ""
    id: str | None = None
    source: str | None = None  # overrides the file path as the passage source
    metadata: dict[str, Any] = field(default_factory=dict)


_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def _heading_path(stack: list[tuple[int, str]]) -> str:
    return " > ".join(title for _, title in stack)


def _push_heading(stack: list[tuple[int, str]], level: int, title: str) -> None:
    while stack and stack[-1][0] >= level:
        stack.pop()
    stack.append((level, title))


def parse_markdown(text: str) -> list[Section]:
    """Sections split at ATX headings; fenced code is kept as text, never read as headings."""
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    body: list[str] = []
    in_fence = False

    def flush() -> None:
        joined = "\n".join(body).strip()
        if joined:
            sections.append(Section(joined, _heading_path(stack)))
        body.clear()

    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        m = None if in_fence else _MD_HEADING.match(line)
        if m:
            flush()
            _push_heading(stack, len(m.group(1)), m.group(2).strip())
        else:
            body.append(line)
    flush()
    return sections


def load_markdown(path: Path) -> list[Section]:
    return parse_markdown(path.read_text(encoding="utf-8"))


def load_text(path: Path) -> list[Section]:
    text = path.read_text(encoding="utf-8").strip()
    return [Section(text)] if text else []


_HTML_BLOCKS = ("p", "li", "pre", "blockquote", "td", "th", "dd", "dt", "figcaption")
_HTML_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")


def parse_html(html: str) -> list[Section]:
    """Sections split at h1-h6; block elements become paragraphs, page chrome is dropped."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "nav", "header", "footer", "noscript", "template"]):
        tag.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")
    root = soup.body or soup
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    paragraphs: list[str] = []

    def flush() -> None:
        if paragraphs:
            sections.append(Section("\n\n".join(paragraphs), _heading_path(stack)))
        paragraphs.clear()

    for el in root.find_all(list(_HTML_HEADINGS + _HTML_BLOCKS)):
        if el.name in _HTML_HEADINGS:
            flush()
            _push_heading(stack, int(el.name[1]), el.get_text(" ", strip=True))
        elif not el.find_parent(list(_HTML_BLOCKS)):  # nested blocks are read with their parent
            text = " ".join(el.get_text().split())  # inline tags join without a space
            if text:
                paragraphs.append(text)
    flush()
    if not sections:  # no block markup at all: fall back to the visible text
        text = root.get_text("\n", strip=True)
        return [Section(text)] if text else []
    return sections


def load_html(path: Path) -> list[Section]:
    return parse_html(path.read_text(encoding="utf-8", errors="replace"))


def load_pdf(path: Path) -> list[Section]:
    """One section per page, so evidence can cite the page it came from."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, OSError, ValueError) as e:
        raise LoaderError(f"{path}: cannot read PDF: {e}") from e
    return [
        Section(text.strip(), f"page {i}", metadata={"page": i})
        for i, text in enumerate(pages, start=1)
        if text.strip()
    ]


def load_jsonl(path: Path) -> list[Section]:
    """Records ``{"id", "text", "source", "title"?, "metadata"?}``; each becomes one passage as
    written. ``title`` (or ``metadata.title``) is the record's heading."""
    sections: list[Section] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise LoaderError(f"{path}:{lineno}: invalid JSON: {e.msg}") from e
            sections.append(_jsonl_section(rec, path, lineno, seen))
    return sections


def _jsonl_section(rec: Any, path: Path, lineno: int, seen: set[str]) -> Section:
    where = f"{path}:{lineno}"
    if not isinstance(rec, dict):
        raise LoaderError(f"{where}: expected an object")
    for key in ("id", "text", "source"):
        if not isinstance(rec.get(key), str) or not rec[key].strip():
            raise LoaderError(f"{where}: field {key!r} must be a non-empty string")
    metadata = rec.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise LoaderError(f"{where}: field 'metadata' must be an object")
    if rec["id"] in seen:
        raise LoaderError(f"{where}: duplicate id {rec['id']!r}")
    seen.add(rec["id"])
    # A title does what a Markdown heading does: it is embedded with the text and it names the
    # record's subject, so the number check knows which model or product its figures are about.
    title = rec.get("title", metadata.get("title"))
    if title is not None and not isinstance(title, str):
        raise LoaderError(f"{where}: field 'title' must be a string")
    return Section(rec["text"].strip(), heading=(title or "").strip(), id=rec["id"], source=rec["source"], metadata=metadata)


LOADERS: dict[str, Callable[[Path], list[Section]]] = {
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".txt": load_text,
    ".text": load_text,
    ".html": load_html,
    ".htm": load_html,
    ".pdf": load_pdf,
    ".jsonl": load_jsonl,
}


def load_file(path: Path) -> list[Section]:
    """Read one file with the reader for its suffix; unknown suffixes are a ``LoaderError``."""
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise LoaderError(f"{path}: unsupported file type {path.suffix!r}")
    try:
        return loader(path)
    except UnicodeDecodeError as e:
        raise LoaderError(f"{path}: not UTF-8 text: {e}") from e


def find_files(root: Path) -> list[Path]:
    """Knowledge files under ``root`` in a stable order; hidden files and folders are skipped."""
    files = [
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix.lower() in LOADERS
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())

"""Documents a request brings as evidence, indexed per request exactly like ``guard eval``'s context.

A RAG application retrieves its passages itself and sends them with the request (``documents``,
the shape vLLM's chat template accepts), or puts them in the policy template's ``context``
variable, or returns them from tools. Each is cut into sentence-sized passages
(``chunk_text(..., CONTEXT_MAX_TOKENS)``, as ``KnowledgeIndex.from_texts`` does) in a lazy
``KnowledgeIndex``: keyword search builds only a BM25 table, and passages are embedded only if
the grounding check falls back to semantic search for a sentence. Indexes are cached by content
hash in a bounded LRU, so a multi-turn conversation carrying the same documents pays once.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from guard.errors import BodyTooLarge, InvalidRequest
from guard.knowledge.chunking import CONTEXT_MAX_TOKENS, chunk_text
from guard.knowledge.types import Passage

Kind = Literal["document", "context", "tool"]


@dataclass(frozen=True, slots=True)
class Document:
    """One piece of request evidence. ``position`` is its index in the request's ``documents``
    (None for the template context and tool results, which are not in that list)."""

    text: str
    kind: Kind = "document"
    position: int | None = None
    id: str | None = None
    title: str | None = None
    source: str | None = None

    @property
    def label(self) -> str:
        """How citations name it: the client's id, else its title, else its position."""
        if self.id:
            return self.id
        if self.title:
            return self.title
        if self.kind == "document":
            return f"documents[{self.position}]"
        return self.source or self.kind

    def as_dict(self, max_chars: int | None = None) -> dict[str, Any]:
        """The JSON form kept with a review item; ``max_chars`` cuts the text."""
        text = self.text if max_chars is None else self.text[:max_chars]
        d: dict[str, Any] = {"kind": self.kind, "position": self.position, "text": text}
        d.update({k: v for k, v in (("id", self.id), ("title", self.title), ("source", self.source)) if v})
        if max_chars is not None and len(self.text) > max_chars:
            d["truncated"] = len(self.text)
        return d


def _str_field(item: dict[str, Any], key: str, at: str) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise InvalidRequest(f"{at}.{key} must be a string", param=f"{at}.{key}", code="invalid_document")
    return str(value)


def parse_documents(raw: Any) -> list[Document]:
    """The request's ``documents``: strings, or objects with ``text`` and optional ``title``,
    ``id``, ``source`` (other keys are ignored, as vLLM ignores what its template does not use).
    A wrong shape is a 400 naming the offending entry."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidRequest("documents must be a list of strings or of objects with a text", param="documents", code="invalid_document")
    out: list[Document] = []
    for i, item in enumerate(raw):
        at = f"documents[{i}]"
        if isinstance(item, str):
            out.append(Document(item, position=i))
            continue
        if not isinstance(item, dict):
            raise InvalidRequest(f"{at} must be a string or an object with a text", param=at, code="invalid_document")
        text = item.get("text", item.get("content"))
        if not isinstance(text, str):
            raise InvalidRequest(f"{at}.text is required and must be a string", param=f"{at}.text", code="invalid_document")
        out.append(Document(text, position=i, id=_str_field(item, "id", at), title=_str_field(item, "title", at),
                            source=_str_field(item, "source", at)))
    return out


def check_document_limits(docs: Sequence[Document], max_documents: int, max_chars: int) -> None:
    """Too many documents, or too much text, is a 413 before anything is indexed."""
    count = sum(1 for d in docs if d.kind == "document")
    if count > max_documents:
        raise BodyTooLarge(f"{count} documents; the limit is {max_documents} (limits.max_documents)",
                           param="documents", code="too_many_documents")
    total = sum(len(d.text) for d in docs)
    if total > max_chars:
        raise BodyTooLarge(f"the request's documents are {total} characters; the limit is {max_chars} "
                           "(limits.max_document_chars)", param="documents", code="documents_too_large")


def document_passages(docs: Sequence[Document]) -> list[Passage]:
    """Sentence-sized passages of every document; metadata says which document and where."""
    passages: list[Passage] = []
    for doc in docs:
        key = f"documents[{doc.position}]" if doc.kind == "document" else (doc.source or doc.kind)
        source = doc.source or key
        cursor = 0
        for part, text in enumerate(chunk_text(doc.text, CONTEXT_MAX_TOKENS, min_tokens=0), start=1):
            found = doc.text.find(text, cursor)
            offset = found if found >= 0 else None
            if found >= 0:
                cursor = found + len(text)
            meta: dict[str, Any] = {"document": doc.position, "kind": doc.kind, "label": doc.label, "offset": offset}
            if doc.title:
                meta["title"] = doc.title
                meta["heading"] = doc.title
            if doc.id:
                meta["document_id"] = doc.id
            passages.append(Passage(f"{key}#{part}", text, source, meta))
    return passages


def content_key(docs: Sequence[Document]) -> str:
    h = hashlib.sha256()
    for d in docs:
        for part in (d.kind, str(d.position), d.id or "", d.title or "", d.source or "", d.text):
            h.update(part.encode("utf-8", "surrogatepass") + b"\0")
    return h.hexdigest()[:20]


class DocumentIndexes:
    """A bounded LRU of per-request indexes, keyed by the documents' content hash.

    Bounded by entries and by the characters they hold, so many large distinct requests cannot
    grow memory without limit. Thread-safe: checks run in worker threads.
    """

    def __init__(self, embedder: Any, max_entries: int = 256, max_chars: int = 20_000_000) -> None:
        self._embedder = embedder  # or a factory; the model itself loads only if a search embeds
        self.max_entries = max_entries
        self.max_chars = max_chars
        self._items: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, docs: Sequence[Document]) -> Any:
        from guard.knowledge.index import KnowledgeIndex

        key = content_key(docs)
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return found[0]
        embedder = self._embedder() if callable(self._embedder) else self._embedder
        index = KnowledgeIndex.from_passages(document_passages(docs), embedder, lazy=True)
        index.version = "documents-" + key
        size = sum(len(d.text) for d in docs)
        with self._lock:
            self.misses += 1
            if key not in self._items:
                self._items[key] = (index, size)
                self._chars += size
            while self._items and (len(self._items) > self.max_entries or self._chars > self.max_chars):
                _, (_, dropped) = self._items.popitem(last=False)
                self._chars -= dropped
        return index

    def __len__(self) -> int:
        return len(self._items)


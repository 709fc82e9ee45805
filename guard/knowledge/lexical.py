"""BM25 over word stems, numbers and Chinese character bigrams: retrieval without a model.

The grounding check scores support lexically, so the passages it needs are the ones that
share the sentence's words, numbers and characters; a sparse keyword index finds those in
well under a millisecond, where embedding a query costs 10-30 ms of CPU per sentence. It also
finds Chinese passages, which the default English embedding model ranks almost at random.

The units are the ones the support features compare (``guard.text.tokens.content_stems`` and
``guard.text.cjk.content_ngrams``), so retrieval and scoring agree on what "shares a word"
means. Numbers are left out on purpose: a query that searched for the answer's figures would
fetch the passage stating that figure about something else ("18 trillion tokens" of another
model), and the number check would then find it in the evidence. Term statistics live in a ``scipy.sparse`` matrix, rebuilt from the
per-passage unit counts (kept, so adding a correction does not re-tokenise everything).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from scipy import sparse

from guard.text import cjk, tokens

K1 = 1.2  # term-frequency saturation (the usual BM25 defaults)
B = 0.75  # length normalisation


def units(text: str) -> list[str]:
    """The terms a text is indexed and queried by."""
    return tokens.content_stems(text) + cjk.content_ngrams(text, 2)


class LexicalIndex:
    """BM25 scores of queries against a list of documents (row i is document i)."""

    def __init__(self, texts: Sequence[str] = ()) -> None:
        self._counts: list[Counter[str]] = [Counter(units(t)) for t in texts]
        self._build()

    def __len__(self) -> int:
        return len(self._counts)

    def add(self, texts: Sequence[str]) -> None:
        self._counts.extend(Counter(units(t)) for t in texts)
        self._build()

    def keep(self, rows: Sequence[int]) -> None:
        """Keep only these rows, in this order (the index dropped or replaced passages)."""
        self._counts = [self._counts[i] for i in rows]
        self._build()

    def _build(self) -> None:
        vocab: dict[str, int] = {}
        cols: list[int] = []
        tfs: list[int] = []
        indptr = [0]
        for counts in self._counts:
            for term, tf in counts.items():
                cols.append(vocab.setdefault(term, len(vocab)))
                tfs.append(tf)
            indptr.append(len(cols))
        n = len(self._counts)
        self._vocab = vocab
        if not n or not vocab:
            self._terms = sparse.csr_matrix((len(vocab), n), dtype=np.float32)
            return
        tf = np.asarray(tfs, dtype=np.float32)
        col = np.asarray(cols, dtype=np.int64)
        row = np.repeat(np.arange(n), np.diff(indptr))
        lengths = np.asarray([sum(c.values()) for c in self._counts], dtype=np.float32)
        norm = K1 * (1 - B + B * lengths / max(float(lengths.mean()), 1.0))
        df = np.bincount(col, minlength=len(vocab)).astype(np.float32)
        idf = np.log1p((n - df + 0.5) / (df + 0.5))
        weights = idf[col] * tf * (K1 + 1) / (tf + norm[row])
        # terms x documents, so a query sums a few rows
        self._terms = sparse.csr_matrix((weights, (col, row)), shape=(len(vocab), n), dtype=np.float32)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Up to ``k`` (row, score) pairs, best first, scores scaled so the best is 1.0.

        Documents sharing no unit with the query are never returned.
        """
        ids = sorted({self._vocab[u] for u in units(query) if u in self._vocab})
        if not ids or k <= 0:
            return []
        scores = np.asarray(self._terms[ids].sum(axis=0)).ravel()
        found = np.flatnonzero(scores)
        if len(found) > k:
            found = found[np.argpartition(-scores[found], k - 1)[:k]]
        found = found[np.argsort(-scores[found], kind="stable")]
        top = float(scores[found[0]])
        return [(int(r), float(scores[r]) / top) for r in found]

"""BM25 over word stems and Chinese character bigrams: retrieval without a model.

The grounding check scores support lexically, so the passages it needs are the ones that
share the sentence's words and characters; a sparse keyword index finds those in
well under a millisecond, where embedding a query costs 10-30 ms of CPU per sentence. It also
finds Chinese passages, which the default English embedding model ranks almost at random.

The units are the ones the support features compare (``guard.text.tokens.content_stems`` and
``guard.text.cjk.content_ngrams``), so retrieval and scoring agree on what "shares a word"
means. Numbers are left out on purpose: a query that searched for the answer's figures would
fetch the passage stating that figure about something else ("18 trillion tokens" of another
model), and the number check would then find it in the evidence. Term statistics live in a
``scipy.sparse`` matrix, rebuilt from the per-passage unit counts (kept, so adding a
correction does not re-tokenise everything).
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
        self._vocab: dict[str, int] = {}
        self._docs: list[tuple[np.ndarray, np.ndarray]] = []  # per document: term ids, counts
        self.add(texts)

    def __len__(self) -> int:
        return len(self._docs)

    def add(self, texts: Sequence[str]) -> None:
        for text in texts:
            counts = Counter(units(text))
            ids = [self._vocab.setdefault(term, len(self._vocab)) for term in counts]
            self._docs.append((np.asarray(ids, dtype=np.int64), np.asarray(list(counts.values()), dtype=np.float32)))
        self._build()

    def keep(self, rows: Sequence[int]) -> None:
        """Keep only these rows, in this order (the index dropped or replaced passages)."""
        self._docs = [self._docs[i] for i in rows]
        self._build()

    def _build(self) -> None:
        """The BM25 weight matrix from the stored counts, in numpy only: adding one correction
        to 100,000 passages must not re-walk them in Python while searches wait."""
        n, terms = len(self._docs), len(self._vocab)
        if not n or not terms:
            self._terms = sparse.csr_matrix((terms, n), dtype=np.float32)
            return
        col = np.concatenate([ids for ids, _ in self._docs])
        tf = np.concatenate([counts for _, counts in self._docs])
        sizes = np.fromiter((len(ids) for ids, _ in self._docs), dtype=np.int64, count=n)
        row = np.repeat(np.arange(n), sizes)
        lengths = np.bincount(row, weights=tf, minlength=n).astype(np.float32)
        norm = K1 * (1 - B + B * lengths / max(float(lengths.mean()), 1.0))
        df = np.bincount(col, minlength=terms).astype(np.float32)
        idf = np.log1p((n - df + 0.5) / (df + 0.5))
        weights = idf[col] * tf * (K1 + 1) / (tf + norm[row])
        # terms x documents, so a query sums a few rows
        self._terms = sparse.csr_matrix((weights, (col, row)), shape=(terms, n), dtype=np.float32)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Up to ``k`` (row, score) pairs, best first, scores scaled so the best is 1.0.

        Documents sharing no unit with the query are never returned.
        """
        ids = sorted({self._vocab[u] for u in units(query) if u in self._vocab})
        if not ids or k <= 0:
            return []
        scores = np.asarray(self._terms[ids].sum(axis=0)).ravel()
        found = np.flatnonzero(scores)
        if not len(found):  # the words are known, but only from documents since dropped
            return []
        if len(found) > k:
            found = found[np.argpartition(-scores[found], k - 1)[:k]]
        found = found[np.argsort(-scores[found], kind="stable")]
        top = float(scores[found[0]])
        return [(int(r), float(scores[r]) / top) for r in found]

"""Search over the sample knowledge base with the real MiniLM model, corrections added by
review, and the in-memory index ``guard eval`` builds from a row's context."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from guard.knowledge.build import build_index
from guard.knowledge.embedder import Embedder, resolve_model, shared_embedder
from guard.knowledge.index import KnowledgeIndex
from guard.knowledge.types import Passage, Retriever

KB = Path(__file__).resolve().parent.parent / "knowledge"


class CountingEmbedder(Embedder):
    def __init__(self) -> None:
        super().__init__()
        self._model = shared_embedder().model
        self.calls = 0

    def encode(self, texts: Sequence[str], **kwargs: Any) -> np.ndarray:
        self.calls += 1
        return super().encode(texts, **kwargs)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("kb") / "index"
    build_index(KB, out, shared_embedder(), progress=False)
    return out


@pytest.fixture
def index(built: Path, tmp_path: Path) -> KnowledgeIndex:
    """A private copy, so tests that add passages don't leak into each other."""
    import shutil

    shutil.copytree(built, tmp_path / "index")
    return KnowledgeIndex.load(tmp_path / "index", shared_embedder())


def test_default_model_resolves_to_the_bundled_copy() -> None:
    path = Path(resolve_model("all-MiniLM-L6-v2"))
    assert (path / "config.json").exists()
    assert resolve_model("/some/other/model") == "/some/other/model"
    assert resolve_model("BAAI/bge-small-zh") == "BAAI/bge-small-zh"


def test_embeddings_are_normalised_and_cached() -> None:
    emb = CountingEmbedder()
    vectors = emb.encode(["vLLM uses PagedAttention.", "Qwen2.5 有七种规模。"])
    assert vectors.dtype == np.float32 and vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    first = emb.encode_one("What is TTFT?")
    model_calls = []
    emb._model = _Spy(emb._model, model_calls)
    assert np.array_equal(emb.encode_one("What is TTFT?"), first)
    assert model_calls == []  # served from the cache
    emb.encode(["What is TTFT?", "new text"], use_cache=True)
    assert model_calls == [["new text"]]


class _Spy:
    def __init__(self, model: Any, calls: list) -> None:
        self._model, self._calls = model, calls

    def encode(self, texts: list[str], **kwargs: Any) -> Any:
        self._calls.append(list(texts))
        return self._model.encode(texts, **kwargs)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("How many parameters does DeepSeek-V3 activate per token?", {"en/model-families.md#2", "faq-moe-memory"}),
        ("How many tokens was Qwen2.5 pre-trained on?", {"en/model-families.md#6"}),
        ("What does SGLang's RadixAttention do?", {"en/serving-tools.md#3"}),
        # the Chinese passage spells out "Time to First Token" too
        ("Define time to first token", {"en/metrics.md#2", "zh/metrics.md#2"}),
        ("Llama 3.1 有哪些规模，上下文多长？", {"zh/model-families.md#7"}),
    ],
)
@pytest.mark.parametrize("mode", ["semantic", "lexical", "hybrid"])
def test_search_finds_the_right_passage(index: KnowledgeIndex, query: str, expected: set[str], mode: str) -> None:
    hits = index.search(query, 3, mode)  # type: ignore[arg-type]
    assert hits[0].passage.id in expected, [(h.passage.id, round(h.score, 3)) for h in hits]
    assert 0 < hits[0].score <= 1 and hits[0].score >= hits[1].score
    if mode == "lexical":
        assert all(h.similarity is None for h in hits)
    else:
        assert all(h.similarity is not None and -1 <= h.similarity <= 1 for h in hits)


def test_lexical_search_never_calls_the_model(index: KnowledgeIndex) -> None:
    emb = CountingEmbedder()
    index.embedder = emb
    rows = index.search_many(["Ollama default port", "Llama 3.1 的上下文长度"], 2, "lexical")
    assert emb.calls == 0
    assert "11434" in rows[0][0].passage.text and rows[1][0].passage.id.startswith("zh/")
    index.search_many(["Ollama default port"], 2, "hybrid")
    assert emb.calls == 1
    with pytest.raises(ValueError, match="unknown search mode"):
        index.search("x", 1, "fuzzy")  # type: ignore[arg-type]


def test_hybrid_gives_lexical_finds_their_cosine(index: KnowledgeIndex) -> None:
    query = "SmolLM2 GGUF llama.cpp"
    hybrid = {h.passage.id: h.similarity for h in index.search(query, 8, "hybrid")}
    vector = index.embedder.encode([query])[0]
    for hit in index.search(query, 8, "lexical"):
        if hit.passage.id in hybrid:
            row = [p.id for p in index.passages].index(hit.passage.id)
            assert hybrid[hit.passage.id] == pytest.approx(float(index.vectors()[row] @ vector), abs=1e-4)


def test_index_is_a_retriever_with_a_version(index: KnowledgeIndex, built: Path) -> None:
    retriever: Retriever = index
    assert retriever.version == KnowledgeIndex.load(built).version
    assert len(index) == len(index.passages) > 40


def test_search_many_embeds_all_queries_in_one_call(index: KnowledgeIndex) -> None:
    emb = CountingEmbedder()
    index.embedder = emb
    queries = ["vLLM PagedAttention", "llama.cpp inference engine in C and C++", "LMDeploy TurboMind engine"]
    results = index.search_many(queries, 2)
    assert emb.calls == 1
    headings = [r[0].passage.metadata["heading"].split(" > ")[-1] for r in results]
    assert headings == ["vLLM", "llama.cpp", "LMDeploy"]
    assert index.search_many([], 2) == []


def test_added_passages_are_searchable_at_once_and_persisted(index: KnowledgeIndex) -> None:
    old_version = index.version
    correction = Passage(
        "review-42", "SmolLM2-1.7B was trained on 11 trillion tokens, not 2 trillion.", "review #42",
        {"review_id": 42, "reviewer": "li.wei", "approved_at": "2025-01-01T00:00:00Z"},
    )
    new_version = index.add_passages([correction])
    assert new_version == index.version != old_version
    hit = index.search("How many tokens was SmolLM2-1.7B trained on? 2 trillion", 1)[0]
    assert hit.passage == correction

    reloaded = KnowledgeIndex.load(index.path, shared_embedder())
    assert reloaded.version == new_version and reloaded.get("review-42") == correction

    with pytest.raises(ValueError, match="already in the index"):
        index.add_passages([correction])
    edited = Passage("review-42", "SmolLM2-1.7B: 11T training tokens.", "review #42", {"review_id": 42})
    index.add_passages([edited], replace=True)
    assert index.get("review-42") == edited and len(index) == len(reloaded)
    assert index.search("SmolLM2 training tokens", 1)[0].passage == edited
    assert index.search("SmolLM2-1.7B training tokens", 1, "lexical")[0].passage == edited


def test_other_process_changes_are_picked_up(index: KnowledgeIndex) -> None:
    other = KnowledgeIndex.load(index.path, shared_embedder())
    assert index.reload_if_changed() is False
    other.add_passages([Passage("review-1", "TensorRT-LLM needs one engine build per GPU type.", "review #1")])
    assert index.reload_if_changed() is True
    assert index.version == other.version and index.get("review-1") is not None
    assert index.search("TensorRT-LLM engine build GPU type", 1, "lexical")[0].passage.id == "review-1"


def test_from_texts_indexes_a_context_in_sentence_sized_passages() -> None:
    context = (
        "Llama 3.1 comes in 8B, 70B and 405B sizes. It supports a 128K context. "
        "Meta released it in July 2024.\n\n"
        "Qwen2.5 有七种规模。它在 18 万亿个 token 上预训练。"
    )
    given = Passage("doc-9", "vLLM listens on port 8000 by default.", "row 9")
    index = KnowledgeIndex.from_texts([context, given], shared_embedder())
    assert index.version.startswith("context-")
    assert index.path is None
    texts = [p.text for p in index.passages]
    assert len(texts) >= 3 and given.text in texts
    assert all(len(t) < 120 for t in texts)
    hit = index.search("What context length does Llama 3.1 support?", 1)[0]
    assert "128K" in hit.passage.text and hit.passage.source == "context[0]"
    assert index.search("default port of vLLM", 1)[0].passage.id == "doc-9"
    same = KnowledgeIndex.from_texts([context, given], shared_embedder())
    assert same.version == index.version  # equal content, equal version


def test_a_context_index_embeds_only_when_searched_semantically() -> None:
    emb = CountingEmbedder()
    index = KnowledgeIndex.from_texts(["Ollama listens on port 11434. vLLM listens on port 8000."], emb)
    assert emb.calls == 0
    assert "11434" in index.search("Ollama port", 1, "lexical")[0].passage.text
    assert emb.calls == 0
    assert "8000" in index.search("vLLM port", 1, "semantic")[0].passage.text
    assert emb.calls == 2  # the passages once, then the query


def test_empty_index_returns_no_hits() -> None:
    empty = KnowledgeIndex.from_texts([], shared_embedder())
    assert empty.search("anything", 5) == []
    assert empty.search_many(["a", "b"], 5) == [[], []]

"""The ONNX Runtime embedder backends against torch, on tiny models built here and on MiniLM.

Every test exports into its own cache directory (GUARD_CACHE_DIR) except the MiniLM ones, which
share one per session: the real export takes about 15 seconds per backend.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel, BertTokenizerFast

from guard.knowledge import onnx as onnx_backend
from guard.knowledge.build import build_index
from guard.knowledge.embedder import Embedder
from guard.knowledge.index import KnowledgeIndex


KB = Path(__file__).resolve().parent.parent / "knowledge"
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "sky", "is", "blue", "green", "model", "has",
         "671", "billion", "parameters", "a", "short", "one"]
TEXTS = ["the sky is blue", "the model has 671 billion parameters", "a short one", "green"]


def tiny_sentence_model(path: Path, pooling: str = "mean", dense: bool = False, seed: int = 0) -> str:
    """A random two-layer BERT saved as a sentence-transformers model (no weights to download)."""
    from sentence_transformers import SentenceTransformer, models

    torch.manual_seed(seed)
    bert_dir = path / "bert"
    bert_dir.mkdir(parents=True)
    (bert_dir / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    BertTokenizerFast(vocab_file=str(bert_dir / "vocab.txt"), do_lower_case=True).save_pretrained(bert_dir)
    config = BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(bert_dir)
    modules = [models.Transformer(str(bert_dir), max_seq_length=32), models.Pooling(32, pooling_mode=pooling)]
    if dense:
        modules.append(models.Dense(32, 8))
    modules.append(models.Normalize())
    out = path / "st"
    SentenceTransformer(modules=modules, device="cpu").save(str(out))
    return str(out)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GUARD_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize("pooling", ["mean", "cls", "max"])
def test_fp32_export_gives_torchs_vectors(tmp_path, cache, pooling):
    path = tiny_sentence_model(tmp_path / "m", pooling)
    expected = Embedder(path, backend="torch").encode(TEXTS)
    got = Embedder(path, backend="onnx").encode(TEXTS)
    assert got.shape == expected.shape == (len(TEXTS), 32)
    assert np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5)
    assert (got * expected).sum(1).min() > 0.9999


def test_export_is_cached_per_model_and_backend(tmp_path, cache, monkeypatch):
    path = tiny_sentence_model(tmp_path / "m")
    Embedder(path, backend="onnx").encode(TEXTS)
    (exported,) = (cache / "embedders").iterdir()
    info = json.loads((exported / "export.json").read_text())
    assert info["pooling"] == "mean" and info["dim"] == 32 and {"input_ids", "attention_mask"} <= set(info["inputs"])

    calls = []
    monkeypatch.setattr(onnx_backend, "_export", lambda *a: calls.append(a))
    Embedder(path, backend="onnx").encode(TEXTS)  # a new process would do the same: read the cache
    assert calls == []

    other = tiny_sentence_model(tmp_path / "m2", seed=1)  # different weights: its own export
    with pytest.raises(FileNotFoundError):  # _export is stubbed, so the new entry never appears
        Embedder(other, backend="onnx").encode(TEXTS)
    assert len(calls) == 1


def test_model_with_a_dense_layer_is_refused_with_advice(tmp_path, cache):
    path = tiny_sentence_model(tmp_path / "m", dense=True)
    with pytest.raises(onnx_backend.EmbedderExportError, match="Dense.*embedder_backend: torch"):
        Embedder(path, backend="onnx").encode(TEXTS)
    assert not any((cache / "embedders").glob("*/export.json"))  # nothing half-made is left to reuse
    assert not [p for p in (cache / "embedders").iterdir() if p.name.startswith(".")]


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="torch, onnx, onnx-int8"):
        Embedder(backend="tensorrt")


# --- the bundled MiniLM ----------------------------------------------------------------------

@pytest.fixture(scope="session")
def minilm_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture
def minilm(minilm_cache, monkeypatch):
    monkeypatch.setenv("GUARD_CACHE_DIR", str(minilm_cache))
    return lambda backend: Embedder(backend=backend, threads=2)


QUERIES = [
    "How many parameters does DeepSeek-V3 activate per token?",
    "What is the context length of Llama 3.1?",
    "What does PagedAttention do in vLLM?",
    "How is time per output token computed?",
    "What is the default port of the Ollama API?",
    "Which distilled models did DeepSeek release from R1?",
]


def test_int8_minilm_stays_close_to_torch_and_finds_the_same_passages(minilm, tmp_path):
    texts = QUERIES + ["DeepSeek-V3 每个 token 激活 370 亿参数。", "short"]
    reference = minilm("torch").encode(texts)
    for backend, floor in (("onnx", 0.9999), ("onnx-int8", 0.97)):
        vectors = minilm(backend).encode(texts)
        assert (vectors * reference).sum(1).min() > floor, backend

    build_index(KB, tmp_path / "torch", minilm("torch"), progress=False)
    build_index(KB, tmp_path / "int8", minilm("onnx-int8"), progress=False)
    by_torch = KnowledgeIndex.load(tmp_path / "torch")
    by_int8 = KnowledgeIndex.load(tmp_path / "int8")
    assert by_int8.embedder.backend == "onnx-int8"  # the index remembers how it was embedded
    for q in QUERIES:
        top = by_torch.search(q, 3, "semantic")[0].passage.id
        assert top in [h.passage.id for h in by_int8.search(q, 3, "semantic")], q


def test_changing_the_backend_re_embeds_the_index(minilm, tmp_path):
    small = tmp_path / "kb"
    small.mkdir()
    (small / "a.md").write_text("# Ports\n\nOllama listens on port 11434 by default.\n", encoding="utf-8")
    first = build_index(small, tmp_path / "idx", minilm("torch"), progress=False)
    again = build_index(small, tmp_path / "idx", minilm("torch"), progress=False)
    switched = build_index(small, tmp_path / "idx", minilm("onnx-int8"), progress=False)
    assert (first.embedded, again.embedded, switched.embedded) == (1, 0, 1)
    assert switched.version != first.version
    meta = json.loads((tmp_path / "idx" / "meta.json").read_text())
    assert (meta["embedder"], meta["embedder_backend"]) == ("all-MiniLM-L6-v2", "onnx-int8")


def test_fast_tokenizer_matches_transformers_on_minilm():
    """The ONNX backends tokenize without transformers (which imports torch); same ids, masks
    and truncation as the tokenizer sentence-transformers uses."""
    from transformers import AutoTokenizer

    from guard.knowledge.embedder import resolve_model

    path = Path(resolve_model("all-MiniLM-L6-v2"))
    texts = ["How many parameters does DeepSeek-V3 activate?", "DeepSeek-V3 每个 token 激活 370 亿参数。",
             "Ünïcödé ACCENTS café", "x " * 400, ""]
    expected = AutoTokenizer.from_pretrained(str(path))(texts, padding=True, truncation=True, max_length=256,
                                                        return_tensors="np")
    got = onnx_backend.load_tokenizer(path, 256)
    assert isinstance(got, onnx_backend.FastTokenizer)
    encoded = got(texts)
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        assert np.array_equal(encoded[key], expected[key]), key
    assert encoded["input_ids"].shape == (5, 256)


def test_onnx_embedder_serves_concurrent_calls_at_once(tmp_path, cache):
    """Two checks embedding at the same time both reach the session: the barrier below only
    opens when two calls are inside ``run`` together (with a lock it would time out)."""
    import threading

    embedder = Embedder(tiny_sentence_model(tmp_path / "m"), backend="onnx")
    embedder.encode(["warm"])
    session = embedder.model.session
    barrier = threading.Barrier(2, timeout=10)

    class Meeting:
        def run(self, *args, **kwargs):
            barrier.wait()
            return session.run(*args, **kwargs)

    embedder.model.session = Meeting()
    results, errors = [], []

    def call(text):
        try:
            results.append(embedder.encode([text]))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=call, args=(t,)) for t in ("the sky is blue", "a short one")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert errors == [] and len(results) == 2


def test_unwritable_cache_names_the_setting(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("GUARD_CACHE_DIR", str(blocker / "cache"))  # fails even for root
    path = tiny_sentence_model(tmp_path / "m")
    with pytest.raises(onnx_backend.EmbedderExportError, match="GUARD_CACHE_DIR"):
        Embedder(path, backend="onnx").encode(TEXTS)


def test_start_up_stops_when_a_policy_needs_an_embedder_that_cannot_load(tmp_path, monkeypatch):
    """``guard serve`` calls ``load_embedder`` before listening: a model that cannot load is a
    configuration error at start, not a check failure on every request afterwards."""
    from guard.errors import ConfigError
    from guard.policy.schema import Policy
    from guard.runtime import Runtime
    from guard.settings import Settings

    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("GUARD_CACHE_DIR", str(blocker / "cache"))
    settings = Settings(knowledge={"embedder": tiny_sentence_model(tmp_path / "m"), "embedder_backend": "onnx"})
    keywords = Policy.model_validate({"name": "k", "checks": {"grounding": {"retrieval": "lexical"}}})
    semantic = Policy.model_validate({"name": "s", "checks": {"grounding": {"retrieval": "auto"}}})

    Runtime(settings, policies={"k": keywords}).load_embedder()  # keyword checks need no model
    with pytest.raises(ConfigError, match="backend onnx.*GUARD_CACHE_DIR"):
        Runtime(settings, policies={"k": keywords, "s": semantic}).load_embedder()

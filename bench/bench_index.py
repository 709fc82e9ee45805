"""Measure the knowledge index: build throughput, search latency at 100k passages, query
embedding time (cold and cached) and the on-the-fly context index ``guard eval`` builds.

    .venv/bin/python bench/bench_index.py [--passages 100000] [--copies 6] [--threads 2]
                                          [--backends torch,onnx,onnx-int8]

Build and query embedding are measured once per embedder backend. Prints the numbers and
writes them to bench/results/index.json. Targets (2 cores): build at least 100 passages/s
(judged on the fastest backend); search over 100k passages at most 5 ms p50, query embedding excluded,
for the vector index and for the keyword (BM25) index the grounding check searches first.

The 100k-passage search uses synthetic vectors: real MiniLM embeddings of the sample knowledge
base plus Gaussian noise, normalised. Embedding 100k real passages would take longer than the
whole benchmark budget on 2 cores, and search time depends on the count and dimension, not on
the text. Recall@5 of the approximate (HNSW) index against exact search is reported with it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import faiss  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from guard.knowledge.build import build_index  # noqa: E402
from guard.knowledge.chunking import embed_text  # noqa: E402
from guard.knowledge.embedder import Embedder  # noqa: E402
from guard.knowledge.index import HNSW_MIN_PASSAGES, KnowledgeIndex, faiss_from_vectors  # noqa: E402
from guard.knowledge.types import Passage  # noqa: E402
from guard.text.sentences import split_sentences  # noqa: E402

QUERIES = [
    "How many parameters does DeepSeek-V3 activate per token?",
    "DeepSeek-V3 每个 token 激活多少参数？",
    "Which distilled models did DeepSeek release from R1?",
    "How many tokens was Qwen2.5 trained on?",
    "What is the default port of the Ollama API?",
    "What does PagedAttention do in vLLM?",
    "首 token 延迟是什么意思？",
    "How is time per output token computed?",
    "How much memory does the KV cache of Llama 3.1 8B need per token?",
    "Which GPUs support FP8?",
]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def bench_build(embedder: Embedder, copies: int) -> dict:
    """Index ``copies`` copies of knowledge/ (each copy is new content to the manifest)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "kb"
        for i in range(copies):
            shutil.copytree(ROOT / "knowledge", src / f"copy{i}")
            for f in (src / f"copy{i}").rglob("*.jsonl"):  # JSONL ids must stay unique
                f.write_text(f.read_text(encoding="utf-8").replace('"id": "', f'"id": "c{i}-'), encoding="utf-8")
        out = Path(tmp) / "index"
        cpu = time.process_time()
        full = build_index(src, out, embedder, progress=False)
        cpu = time.process_time() - cpu
        tokenizer = embedder.model.tokenizer
        texts = [embed_text(p) for p in KnowledgeIndex.load(out, embedder).passages]
        mean_tokens = statistics.mean(len(tokenizer(t)["input_ids"]) for t in texts)
        (src / "copy0" / "en" / "metrics.md").write_text("# Changed\n\nOne new paragraph.\n", encoding="utf-8")
        started = time.perf_counter()
        incremental = build_index(src, out, embedder, progress=False)
        incremental_s = time.perf_counter() - started
    return {
        "files": len(full.added),
        "passages": full.passages,
        "seconds": round(full.seconds, 3),
        "passages_per_second": round(full.passages / full.seconds, 1),
        "passages_per_cpu_second": round(full.passages / cpu, 1),  # what one uncontended core does
        "mean_model_tokens_per_passage": round(mean_tokens, 1),
        "incremental_one_file_changed_seconds": round(incremental_s, 3),
        "incremental_embedded": incremental.embedded,
    }


def bench_sentences(embedder: Embedder) -> dict:
    """Embedding rate for sentence-sized passages, the kind ``from_texts`` makes from a context."""
    sentences = [s.text for t in _kb_texts() for s in split_sentences(t)][:400]
    wall, cpu = time.perf_counter(), time.process_time()
    embedder.encode(sentences)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "sentences": len(sentences),
        "mean_model_tokens": round(statistics.mean(len(embedder.model.tokenizer(s)["input_ids"]) for s in sentences), 1),
        "per_second": round(len(sentences) / wall, 1),
        "per_cpu_second": round(len(sentences) / cpu, 1),
    }


def synthetic_vectors(seed_vectors: np.ndarray, n: int, noise: float = 0.6) -> np.ndarray:
    rng = np.random.default_rng(0)
    picks = seed_vectors[rng.integers(0, len(seed_vectors), n)]
    vectors = picks + rng.normal(0, noise / np.sqrt(seed_vectors.shape[1]), picks.shape).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32)


def time_search(index: KnowledgeIndex, queries: np.ndarray, k: int = 5) -> list[float]:
    times = []
    for q in queries:
        started = time.perf_counter()
        index.search_vectors(q[None, :], k)
        times.append(time.perf_counter() - started)
    return times


def bench_search(embedder: Embedder, n: int, kb_index: KnowledgeIndex) -> dict:
    vectors = synthetic_vectors(kb_index.vectors(), n)
    passages = [Passage(f"p{i}", "", "synthetic") for i in range(n)]
    query_vectors = synthetic_vectors(embedder.encode(QUERIES), 300, noise=0.3)

    started = time.perf_counter()
    hnsw_faiss = faiss_from_vectors(vectors)  # HNSW at this size
    hnsw_build_s = time.perf_counter() - started
    hnsw = KnowledgeIndex(embedder, passages, hnsw_faiss, version="bench")
    flat_faiss = faiss.IndexFlatIP(vectors.shape[1])
    flat_faiss.add(vectors)
    flat = KnowledgeIndex(embedder, passages, flat_faiss, version="bench")

    time_search(hnsw, query_vectors[:20])  # warm up
    hnsw_times = time_search(hnsw, query_vectors)
    flat_times = time_search(flat, query_vectors[:100])
    _, exact = flat_faiss.search(query_vectors, 5)
    _, approx = hnsw_faiss.search(query_vectors, 5)
    recall = np.mean([len(set(a) & set(e)) / 5 for a, e in zip(approx, exact)])
    return {
        "passages": n,
        "dim": int(vectors.shape[1]),
        "index": type(hnsw_faiss).__name__,
        "hnsw_min_passages": HNSW_MIN_PASSAGES,
        "hnsw_build_seconds": round(hnsw_build_s, 2),
        "search_p50_ms": ms(statistics.median(hnsw_times)),
        "search_p95_ms": ms(percentile(hnsw_times, 95)),
        "recall_at_5_vs_exact": round(float(recall), 3),
        "exact_flat_search_p50_ms": ms(statistics.median(flat_times)),
        "exact_flat_search_p95_ms": ms(percentile(flat_times, 95)),
    }


def bench_keyword_search(n: int) -> dict:
    """The keyword (BM25) channel the grounding check searches first, over ``n`` passages made of
    three random knowledge-base sentences each (real vocabulary, English and Chinese), with
    checker-style queries (a question plus an answer sentence)."""
    import random

    from guard.knowledge.lexical import LexicalIndex

    rng = random.Random(3)
    sentences = [s.text for t in _kb_texts() for s in split_sentences(t)]
    texts = [" ".join(rng.sample(sentences, 3)) for _ in range(n)]
    started = time.perf_counter()
    index = LexicalIndex(texts)
    build_s = time.perf_counter() - started
    queries = [f"{rng.choice(QUERIES)} {rng.choice(sentences)}" for _ in range(300)]
    for q in queries[:20]:
        index.search(q, 16)
    times = []
    for q in queries:
        started = time.perf_counter()
        index.search(q, 16)  # what the check asks for: 4 x top_k candidates
        times.append(time.perf_counter() - started)
    return {
        "passages": n,
        "vocabulary": len(index._vocab),
        "build_seconds": round(build_s, 2),
        "build_passages_per_second": round(n / build_s),
        "search_16_p50_ms": ms(statistics.median(times)),
        "search_16_p95_ms": ms(percentile(times, 95)),
    }


def bench_queries(embedder: Embedder, kb_index: KnowledgeIndex) -> dict:
    cold, cached = [], []
    for i, q in enumerate(QUERIES * 3):
        text = f"{q} (variant {i})"  # new text: not in the cache
        started = time.perf_counter()
        embedder.encode_one(text)
        cold.append(time.perf_counter() - started)
        started = time.perf_counter()
        embedder.encode_one(text)
        cached.append(time.perf_counter() - started)
    batch = [f"{q} [{j}]" for j, q in enumerate(QUERIES)]
    started = time.perf_counter()
    kb_index.search_many(batch, 5)
    many_s = time.perf_counter() - started
    context = " ".join((ROOT / "knowledge" / "en" / "metrics.md").read_text(encoding="utf-8").split())
    started = time.perf_counter()
    ctx_index = KnowledgeIndex.from_texts([context], embedder)
    from_texts_s = time.perf_counter() - started
    return {
        "embed_one_query_p50_ms": ms(statistics.median(cold)),
        "embed_one_query_p95_ms": ms(percentile(cold, 95)),
        "embed_one_query_cached_p50_ms": ms(statistics.median(cached)),
        "search_many_10_queries_incl_embedding_ms": ms(many_s),
        "from_texts_context_chars": len(context),
        "from_texts_passages": len(ctx_index),
        "from_texts_ms": ms(from_texts_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--copies", type=int, default=6, help="copies of knowledge/ for the build benchmark")
    parser.add_argument("--threads", type=int, default=1, help="threads for the embedder (torch or ONNX Runtime)")
    parser.add_argument("--backends", default="torch,onnx,onnx-int8",
                        help="embedder backends to measure build and query embedding with, comma-separated")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "index.json")
    args = parser.parse_args()

    results: dict = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "faiss": faiss.__version__,
                    "faiss_threads": faiss.omp_get_max_threads(), "load_avg_1m": os.getloadavg()[0]},
        "embedder_threads": args.threads,
        "backends": {},
    }
    kb_index = None
    for backend in args.backends.split(","):
        embedder = Embedder(threads=args.threads, backend=backend)
        started = time.perf_counter()
        embedder.encode(["warm up"])  # loads the model (exporting it first if this machine has not)
        load_s = time.perf_counter() - started
        index = KnowledgeIndex.from_passages([Passage(f"kb{i}", t, "kb") for i, t in enumerate(_kb_texts())], embedder)
        kb_index = kb_index or index
        results["backends"][backend] = {
            "model_load_seconds": round(load_s, 2),
            "build": bench_build(embedder, args.copies),
            "sentence_embedding": bench_sentences(embedder),
            "queries": bench_queries(embedder, index),
        }
        print(backend, json.dumps(results["backends"][backend]), file=sys.stderr)
    results["search"] = bench_search(kb_index.embedder, args.passages, kb_index)
    results["keyword_search"] = bench_keyword_search(args.passages)
    best = max(results["backends"], key=lambda b: results["backends"][b]["build"]["passages_per_second"])
    results["fastest_build_backend"] = best
    results["targets"] = {
        "build_passages_per_second>=100": results["backends"][best]["build"]["passages_per_second"] >= 100,
        "search_p50_ms<=5": results["search"]["search_p50_ms"] <= 5,
        "keyword_search_p50_ms<=5": results["keyword_search"]["search_16_p50_ms"] <= 5,
    }
    print(json.dumps(results, indent=2, ensure_ascii=False))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)


def _kb_texts() -> list[str]:
    from guard.knowledge.chunking import make_passages
    from guard.knowledge.loaders import find_files, load_file

    kb = ROOT / "knowledge"
    return [p.text for f in find_files(kb) for p in make_passages(load_file(f), f.name)]


if __name__ == "__main__":
    main()

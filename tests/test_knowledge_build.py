"""Index builds are incremental: unchanged files are not re-embedded, removed files leave,
and passages added by review survive rebuilds. Uses the real MiniLM model."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from guard.knowledge.build import build_index
from guard.knowledge.embedder import Embedder, shared_embedder
from guard.knowledge.index import KnowledgeIndex
from guard.knowledge.loaders import LoaderError
from guard.knowledge.types import Passage


class CountingEmbedder(Embedder):
    """The shared model, with a record of every text sent to it."""

    def __init__(self, name: str = "all-MiniLM-L6-v2") -> None:
        super().__init__(name)
        self._model = shared_embedder().model
        self.calls = 0
        self.texts: list[str] = []

    def encode(self, texts: Sequence[str], **kwargs: Any) -> np.ndarray:
        self.calls += 1
        self.texts.extend(texts)
        return super().encode(texts, **kwargs)


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    root = tmp_path / "kb"
    write(root, "en/models.md", "# Models\n\nDeepSeek-V3 has 671B total parameters.\n\n"
                                "## Qwen\n\nQwen2.5 was trained on 18 trillion tokens.\n")
    write(root, "zh/tools.md", "# 工具\n\nvLLM 使用 PagedAttention 管理 KV 缓存。\n")
    write(root, "notes.txt", "Ollama listens on port 11434.")
    write(root, "faq.jsonl", json.dumps({"id": "faq-1", "text": "TTFT is time to first token.", "source": "faq"}) + "\n")
    return root


def ids(index: KnowledgeIndex) -> set[str]:
    return {p.id for p in index.passages}


def test_first_build_embeds_everything(kb: Path, tmp_path: Path) -> None:
    emb = CountingEmbedder()
    out = tmp_path / "index"
    report = build_index(kb, out, emb, progress=False)
    assert sorted(report.added) == ["en/models.md", "faq.jsonl", "notes.txt", "zh/tools.md"]
    assert report.embedded == report.passages == 5 == len(emb.texts)
    index = KnowledgeIndex.load(out, emb)
    assert index.version == report.version
    assert ids(index) == {"en/models.md#1", "en/models.md#2", "faq-1", "notes.txt#1", "zh/tools.md#1"}
    assert index.get("en/models.md#2").metadata["heading"] == "Models > Qwen"
    assert np.allclose(np.linalg.norm(index.vectors(), axis=1), 1.0, atol=1e-5)


def test_rebuild_embeds_only_changed_and_new_files_and_drops_removed(kb: Path, tmp_path: Path) -> None:
    out = tmp_path / "index"
    first = build_index(kb, out, CountingEmbedder(), progress=False)
    before = KnowledgeIndex.load(out, shared_embedder())
    kept_vector = before.vectors()[[p.id for p in before.passages].index("zh/tools.md#1")]

    write(kb, "notes.txt", "Ollama listens on port 11434. It wraps llama.cpp.")  # changed
    write(kb, "new.md", "SGLang uses RadixAttention.")  # added
    (kb / "faq.jsonl").unlink()  # removed
    emb = CountingEmbedder()
    report = build_index(kb, out, emb, progress=False)

    assert report.changed == ["notes.txt"] and report.added == ["new.md"] and report.removed == ["faq.jsonl"]
    assert sorted(report.unchanged) == ["en/models.md", "zh/tools.md"]
    assert sorted(emb.texts) == ["Ollama listens on port 11434. It wraps llama.cpp.", "SGLang uses RadixAttention."]
    index = KnowledgeIndex.load(out, emb)
    assert "faq-1" not in ids(index)
    assert {"new.md#1", "notes.txt#1", "zh/tools.md#1"} <= ids(index)
    assert index.version != first.version
    after = index.vectors()[[p.id for p in index.passages].index("zh/tools.md#1")]
    assert np.array_equal(after, kept_vector)  # reused, not re-embedded
    assert index.search("Which attention does SGLang use?", 1)[0].passage.id == "new.md#1"


def test_nothing_changed_keeps_version_and_embeds_nothing(kb: Path, tmp_path: Path) -> None:
    out = tmp_path / "index"
    first = build_index(kb, out, CountingEmbedder(), progress=False)
    emb = CountingEmbedder()
    again = build_index(kb, out, emb, progress=False)
    assert emb.calls == 0 and again.embedded == 0
    assert again.version == first.version
    assert len(again.unchanged) == 4


def test_full_or_other_embedder_settings_re_embed_everything(kb: Path, tmp_path: Path) -> None:
    out = tmp_path / "index"
    build_index(kb, out, CountingEmbedder(), progress=False)
    emb = CountingEmbedder()
    assert build_index(kb, out, emb, progress=False, full=True).embedded == 5
    emb = CountingEmbedder("sentence-transformers/all-MiniLM-L6-v2")  # another name: vectors may differ
    assert build_index(kb, out, emb, progress=False).embedded == 5
    emb = CountingEmbedder("sentence-transformers/all-MiniLM-L6-v2")
    assert build_index(kb, out, emb, progress=False, max_tokens=64).embedded == 5


def test_passages_added_by_review_survive_rebuilds(kb: Path, tmp_path: Path) -> None:
    out = tmp_path / "index"
    build_index(kb, out, CountingEmbedder(), progress=False)
    index = KnowledgeIndex.load(out, shared_embedder())
    correction = Passage("review-7", "LMDeploy's api_server listens on port 23333.", "review #7",
                         {"review_id": 7, "reviewer": "alice"})
    index.add_passages([correction])

    write(kb, "notes.txt", "Ollama listens on port 11434 by default.")
    emb = CountingEmbedder()
    report = build_index(kb, out, emb, progress=False)
    assert report.kept_extra == 1 and emb.texts == ["Ollama listens on port 11434 by default."]
    rebuilt = KnowledgeIndex.load(out, emb)
    assert rebuilt.get("review-7") == correction
    assert rebuilt.search("LMDeploy port", 1)[0].passage.id == "review-7"


def test_duplicate_ids_across_files_and_bad_files(kb: Path, tmp_path: Path) -> None:
    write(kb, "more.jsonl", json.dumps({"id": "faq-1", "text": "again", "source": "x"}) + "\n")
    with pytest.raises(LoaderError, match="faq-1"):
        build_index(kb, tmp_path / "index", CountingEmbedder(), progress=False)
    (kb / "more.jsonl").write_text("{broken\n", encoding="utf-8")
    with pytest.raises(LoaderError, match="more.jsonl:1"):
        build_index(kb, tmp_path / "index", CountingEmbedder(), progress=False)
    report = build_index(kb, tmp_path / "index", CountingEmbedder(), progress=False, skip_errors=True)
    assert report.skipped == ["more.jsonl"] and report.passages == 5


def test_empty_folder_builds_an_empty_index(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    report = build_index(tmp_path / "empty", tmp_path / "index", CountingEmbedder(), progress=False)
    assert report.passages == 0
    index = KnowledgeIndex.load(tmp_path / "index", shared_embedder())
    assert index.search("anything", 3) == []


def test_a_stale_process_adding_a_correction_keeps_a_newer_build(kb: Path, tmp_path: Path) -> None:
    out = tmp_path / "index"
    build_index(kb, out, CountingEmbedder(), progress=False)
    review_app = KnowledgeIndex.load(out, shared_embedder())  # loaded before the next build
    write(kb, "new.md", "TensorRT-LLM targets NVIDIA GPUs.")
    build_index(kb, out, CountingEmbedder(), progress=False)

    review_app.add_passages([Passage("review-1", "SGLang listens on port 30000.", "review #1")])
    on_disk = KnowledgeIndex.load(out, shared_embedder())
    assert {"new.md#1", "review-1"} <= ids(on_disk)
    assert on_disk.version == review_app.version
    assert json.loads((out / "meta.json").read_text())["source_dir"] == str(kb.resolve())

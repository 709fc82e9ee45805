"""The keyword (BM25) channel of the knowledge index, on its own."""

from __future__ import annotations

from guard.knowledge.lexical import LexicalIndex, units

DOCS = [
    "DeepSeek-V3 has 671B total parameters and was trained on 14.8 trillion tokens.",
    "Qwen2.5 models were pre-trained on up to 18 trillion tokens.",
    "Ollama listens on port 11434 and serves GGUF models.",
    "首 token 延迟（TTFT）是从发出请求到收到第一个 token 的时间。",
    "吞吐量指单位时间内生成的 token 数。",
]


def test_units_are_stems_and_chinese_bigrams_without_numbers() -> None:
    assert units("DeepSeek-V3 was trained on 18 trillion tokens") == ["deeps", "train", "trill", "token"]
    assert "延迟" in units("首 token 延迟")
    assert not any(u.isdigit() for u in units("671B 14.8 11434 2024年"))


def test_rare_shared_words_rank_first_and_scores_are_relative() -> None:
    index = LexicalIndex(DOCS)
    hits = index.search("How many parameters does DeepSeek-V3 have?", 3)
    assert hits[0][0] == 0 and hits[0][1] == 1.0
    assert all(0 < s <= 1 for _, s in hits)
    assert index.search("Which port does Ollama use?", 1) == [(2, 1.0)]


def test_chinese_is_found_by_character_bigrams() -> None:
    index = LexicalIndex(DOCS)
    assert index.search("什么是首 token 延迟？", 1)[0][0] == 3
    assert index.search("吞吐量怎么算", 1)[0][0] == 4


def test_a_figure_alone_does_not_retrieve() -> None:
    """Numbers are not indexed: "18 trillion" must not fetch the passage about another model."""
    index = LexicalIndex(DOCS)
    assert index.search("18 11434", 5) == []
    assert index.search("nothing in common here", 5) == []
    assert LexicalIndex([]).search("tokens", 3) == []


def test_add_and_keep_update_rows() -> None:
    index = LexicalIndex(DOCS[:2])
    index.add(DOCS[2:])
    assert len(index) == 5 and index.search("Ollama port", 1)[0][0] == 2
    index.keep([4, 2])  # rows renumbered in the given order
    assert len(index) == 2 and index.search("Ollama port", 1)[0][0] == 1
    assert index.search("DeepSeek parameters", 3) == []

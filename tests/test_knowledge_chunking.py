"""Chunking keeps paragraphs whole, cuts long ones between sentences (Chinese and English),
and never exceeds the token budget."""

from __future__ import annotations

from guard.knowledge.chunking import (
    chunk_text,
    embed_text,
    make_passages,
    split_paragraphs,
    token_weight,
)
from guard.knowledge.loaders import Section
from guard.knowledge.types import Passage


def test_token_weight_counts_cjk_characters_and_english_words() -> None:
    assert token_weight("模型部署") == 4
    assert token_weight("one two three") == 4  # ceil(3 * 1.3)
    assert token_weight("vLLM 默认端口 8000。") == 4 + 1 + 3  # 2 words, 4 CJK + 。
    assert token_weight("") == 0


def test_split_paragraphs_joins_wrapped_lines_per_language() -> None:
    text = "An English line\nwrapped here.\n\n中文段落第一行\n第二行。\n\n- item one\n- item two\n  continued\n"
    assert split_paragraphs(text) == [
        "An English line wrapped here.",
        "中文段落第一行第二行。",
        "- item one\n- item two continued",
    ]


def test_short_paragraphs_stay_separate_but_fragments_merge() -> None:
    para = "This paragraph has enough words to stand on its own as one passage of evidence."
    text = f"Intro.\n\n{para}\n\n{para}"
    chunks = chunk_text(text, max_tokens=60, min_tokens=10)
    assert chunks == [f"Intro.\n\n{para}", para]


def test_long_english_paragraph_is_cut_between_sentences() -> None:
    sentences = [f"Sentence number {i} talks about serving models with vLLM." for i in range(12)]
    chunks = chunk_text(" ".join(sentences), max_tokens=40, min_tokens=0)
    assert len(chunks) > 1
    assert all(token_weight(c) <= 40 for c in chunks)
    assert " ".join(chunks) == " ".join(sentences)  # nothing lost, cut only at sentence ends
    assert all(c.endswith(".") for c in chunks)


def test_long_chinese_paragraph_is_cut_at_chinese_terminators() -> None:
    sentences = ["DeepSeek-V3 的总参数量为 671B。", "每个 token 激活 37B 参数！", "它支持 128K 上下文吗？", "支持；",
                 "它在 14.8 万亿个 token 上预训练。"] * 3
    text = "".join(sentences)
    chunks = chunk_text(text, max_tokens=30, min_tokens=0)
    assert len(chunks) > 1
    assert all(token_weight(c) <= 30 for c in chunks)
    assert "".join(chunks) == text  # Chinese pieces are glued back without spaces
    assert all(c[-1] in "。！？；" for c in chunks)


def test_pieces_of_a_long_paragraph_are_balanced() -> None:
    text = " ".join(f"Fact {i} is stated here plainly." for i in range(10))
    sizes = [token_weight(c) for c in chunk_text(text, max_tokens=50, min_tokens=0)]
    assert max(sizes) - min(sizes) <= 10, sizes


def test_one_overlong_sentence_is_hard_split() -> None:
    text = "word " * 200
    chunks = chunk_text(text, max_tokens=50, min_tokens=0)
    assert all(token_weight(c) <= 50 for c in chunks)
    assert sum(len(c.split()) for c in chunks) == 200
    zh = "字" * 120
    assert [len(c) for c in chunk_text(zh, max_tokens=50, min_tokens=0)] == [50, 50, 20]


def test_make_passages_ids_headings_and_jsonl_records() -> None:
    sections = [
        Section("First part.\n\nSecond part is a longer paragraph with more words in it.", "Guide > Setup"),
        Section("Given text.", id="faq-1", source="faq sheet", metadata={"lang": "en"}),
        Section("Third.", "Guide > Use", metadata={"page": 2}),
    ]
    passages = make_passages(sections, "docs/guide.md", max_tokens=100, min_tokens=0)
    assert [p.id for p in passages] == ["docs/guide.md#1", "docs/guide.md#2", "faq-1", "docs/guide.md#3"]
    assert passages[0].metadata == {"file": "docs/guide.md", "heading": "Guide > Setup"}
    assert passages[2] == Passage("faq-1", "Given text.", "faq sheet", {"lang": "en", "file": "docs/guide.md"})
    assert passages[3].metadata["page"] == 2 and passages[3].source == "docs/guide.md"
    assert embed_text(passages[0]) == "Guide > Setup: First part."
    assert embed_text(passages[2]) == "Given text."

import pytest

from guard.checks.base import CheckInput
from guard.checks.grounding.evidence import EvidenceCache, EvidenceText
from guard.checks.grounding import GroundingCheck, aggregate, evidence_span
from guard.checks.grounding.features import Claim, measure, score
from checks_helpers import MemoryRetriever

KB = [
    "DeepSeek-V3 is a mixture-of-experts model with 671B total parameters, of which 37B are activated per token.",
    "DeepSeek-V3 was pre-trained on 14.8 trillion diverse and high-quality tokens.",
    "The full training of DeepSeek-V3 required 2.788M H800 GPU hours.",
    "该模型于2024年12月发布，完整训练成本约为557.6万美元。",
    "伦敦大学国王学院自然和环境灾害学教授布鲁斯·马拉默德表示，余震将给救援带来困难。",
]


def support_of(answer: str, question: str = "") -> float:
    r = MemoryRetriever(KB)
    out = GroundingCheck(r).run(CheckInput(question=question, answer=answer, retriever=r))
    return out.confidence


def test_supported_beats_changed_number():
    good = support_of("DeepSeek-V3 has 671B total parameters.")
    bad = support_of("DeepSeek-V3 has 670B total parameters.")
    assert good > 0.7 and bad < 0.45


def test_trillions_compared_by_value():
    assert support_of("DeepSeek-V3 was pre-trained on 14.8 trillion tokens.") > 0.7
    assert support_of("DeepSeek-V3 was pre-trained on 18 trillion tokens.") < 0.45


def test_chinese_numbers_and_names():
    assert support_of("该模型于2024年12月发布，训练成本约为557.6万美元。") > 0.7
    assert support_of("该模型于2024年12月发布，训练成本约为600万美元。") < 0.45
    named = support_of("伦敦大学国王学院教授布鲁斯·马拉默德表示，余震将给救援带来困难。")
    made_up = support_of("伦敦大学教授吉姆·哈丁表示，余震将给救援带来困难。")
    assert named > 0.7
    assert made_up <= 0.5  # a missing name caps support at the annotate level


def test_unrelated_answer_is_unsupported():
    assert support_of("The Eiffel Tower was completed in 1889 for the World's Fair.") < 0.2


def test_features_name_the_problem():
    ev = EvidenceText.of(KB[0])
    f = measure(Claim.of("DeepSeek-V3 has 670B parameters, says Liang Wenfeng."), ev, 0.5)
    assert f.missing_numbers == ["670B"]
    assert f.missing_names == ["Liang Wenfeng"]
    assert 0 <= score(f) <= 1


def test_sentences_offsets_evidence_and_one_retrieval_call():
    r = MemoryRetriever(KB)
    answer = "DeepSeek-V3 has 671B total parameters. It was pre-trained on 18 trillion tokens."
    out = GroundingCheck(r, top_k=2).run(CheckInput(question="How big is it?", answer=answer, retriever=r))
    assert r.calls == 1
    first, second = out.sentences
    assert answer[first.start:first.end] == first.text and answer[second.start:second.end] == second.text
    assert not first.unsupported and second.unsupported
    assert "number 18 trillion not in evidence" in second.reasons
    assert first.evidence[0].passage_id == "p0" and "671B" in first.evidence[0].span
    assert len(first.evidence) == 2
    assert not out.passed
    assert out.details["index_version"] == "memory-1"
    assert out.confidence == pytest.approx(aggregate([first.support, second.support]))


def test_refusals_are_safe_unless_switched_off():
    r = MemoryRetriever(KB)
    for text in ["I don't know.", "我不知道。"]:
        safe = GroundingCheck(r).run(CheckInput(question="q", answer=text, retriever=r))
        assert safe.confidence == 1.0 and safe.details["refusal"]
        strict = GroundingCheck(r, refusals_safe=False).run(CheckInput(question="q", answer=text, retriever=r))
        assert strict.confidence < 0.5


def test_partial_refusal_still_checks_the_claim():
    r = MemoryRetriever(KB)
    out = GroundingCheck(r).run(CheckInput(question="q", answer="I'm not sure. It has 999B parameters.", retriever=r))
    assert out.sentences[0].reasons == ["refusal"]
    assert out.sentences[1].unsupported


def test_short_fragments_are_merged_not_dropped():
    r = MemoryRetriever(KB)
    out = GroundingCheck(r, min_sentence_chars=8).run(CheckInput(question="q", answer="It has 671B. 999B.", retriever=r))
    assert len(out.sentences) == 1 and out.sentences[0].unsupported
    # "Yes." is talk, reported on its own and not graded; the fragment after it still is
    out = GroundingCheck(r, min_sentence_chars=8).run(CheckInput(question="q", answer="Yes. 999B.", retriever=r))
    assert [s.kind for s in out.sentences] == ["chitchat", "claim"] and out.sentences[1].unsupported


def test_no_index_is_an_error_and_empty_answer_is_fine():
    with pytest.raises(RuntimeError):
        GroundingCheck(None).run(CheckInput(question="q", answer="x"))
    r = MemoryRetriever(KB)
    out = GroundingCheck(r).run(CheckInput(question="q", answer="  ", retriever=r))
    assert out.confidence == 1.0 and out.sentences == []


def test_evidence_cache_reuses_views():
    cache = EvidenceCache(size=2)
    a = cache.get("p1", "text one")
    assert cache.get("p1", "text one") is a
    assert cache.get("p1", "changed") is not a
    cache.get("p2", "x"), cache.get("p3", "y")
    assert len(cache) == 2


def test_evidence_span_picks_the_matching_sentence():
    passage = ("Intro sentence about nothing in particular at all. " * 4
               + "The bridge opened in 1932 after six years of work. Another unrelated closing sentence here.")
    assert evidence_span(Claim.of("The bridge opened in 1932."), passage) == "The bridge opened in 1932 after six years of work."
    assert evidence_span(Claim.of("anything"), "A short passage.") == "A short passage."


def test_auto_retrieval_embeds_only_sentences_keywords_cannot_place():
    r = MemoryRetriever(KB)
    answer = "DeepSeek-V3 has 671B total parameters. Bananas grow quickly in warm humid climates."
    out = GroundingCheck(r).run(CheckInput(question="", answer=answer, retriever=r))
    assert r.modes == ["lexical", "semantic"] and r.calls == 2
    known, unknown = out.details["features"]
    assert known["semantic"] is None and unknown["semantic"] is not None
    assert not out.sentences[0].unsupported and out.sentences[1].unsupported


@pytest.mark.parametrize("mode", ["lexical", "hybrid", "semantic"])
def test_other_retrieval_modes_search_once_in_their_mode(mode):
    r = MemoryRetriever(KB)
    answer = "DeepSeek-V3 has 671B total parameters. Bananas grow quickly in warm humid climates."
    out = GroundingCheck(r, retrieval=mode).run(CheckInput(question="", answer=answer, retriever=r))
    assert r.modes == [mode]
    assert [f["semantic"] is None for f in out.details["features"]] == [mode == "lexical"] * 2
    assert not out.sentences[0].unsupported and out.sentences[1].unsupported


def test_a_figure_stated_about_another_subject_does_not_support_the_claim():
    """Merged evidence from a many-topic knowledge base: Llama's 15 trillion must not back Qwen."""
    from guard.knowledge.types import Passage

    r = MemoryRetriever([])
    r.passages = [
        Passage("qwen", "Qwen2.5 models were pre-trained on up to 18 trillion tokens.", "kb.md", {"heading": "Models > Qwen2.5"}),
        Passage("llama", "The models were trained on more than 15 trillion tokens.", "kb.md", {"heading": "Models > Llama 3.1"}),
    ]
    check = GroundingCheck(r, top_k=2)
    wrong = check.run(CheckInput(question="", answer="Qwen2.5 was pre-trained on 15 trillion tokens.", retriever=r))
    right = check.run(CheckInput(question="", answer="Qwen2.5 was pre-trained on 18 trillion tokens.", retriever=r))
    assert wrong.sentences[0].unsupported and "number 15 trillion not in evidence" in wrong.sentences[0].reasons
    assert not right.sentences[0].unsupported
    # without headings (a row's context) every passage counts, as before
    for p in r.passages:
        p.metadata.clear()
    fresh = GroundingCheck(r, top_k=2).run(CheckInput(question="", answer="Qwen2.5 was pre-trained on 15 trillion tokens.", retriever=r))
    assert not fresh.sentences[0].unsupported


def test_jsonl_titles_tell_whose_figure_it_is(tmp_path):
    """FAQ-style records name their subject in a title, as a Markdown file does in a heading."""
    import json

    from guard.knowledge.chunking import make_passages
    from guard.knowledge.loaders import load_file

    f = tmp_path / "faq.jsonl"
    rows = [
        {"id": "q", "title": "Qwen2.5", "text": "The models were pre-trained on up to 18 trillion tokens.", "source": "faq"},
        {"id": "l", "title": "Llama 3.1", "text": "The models were trained on more than 15 trillion tokens.", "source": "faq"},
    ]
    f.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    r = MemoryRetriever([])
    r.passages = make_passages(load_file(f), "faq.jsonl")
    assert [p.metadata["heading"] for p in r.passages] == ["Qwen2.5", "Llama 3.1"]
    check = GroundingCheck(r, top_k=2)
    wrong = check.run(CheckInput(question="", answer="Qwen2.5 was pre-trained on 15 trillion tokens.", retriever=r))
    right = check.run(CheckInput(question="", answer="Qwen2.5 was pre-trained on 18 trillion tokens.", retriever=r))
    assert wrong.sentences[0].unsupported and not right.sentences[0].unsupported


def test_evidence_covers_both_facts_of_a_claim():
    """A news summary: "Phil Haste, 60, issued with £50 fine ..." got the passages naming Phil
    Haste (they share most words) and not the one with the fine, so "£50" was reported missing
    from an article that states it."""
    article = [
        "A driver was shocked to receive a £50 fine for failing to display his tax disc.",
        "Phil Haste, 60, was also told he had not shown a ticket in his car.",
        "Phil Haste said he could not understand why he was issued with a notice in his car.",
        "Phil Haste, 60, sent his appeal to the council after being issued with the notice.",
        "Phil Haste, who lives in Torquay, said he would rather go to court.",
    ]
    r = MemoryRetriever(article)
    out = GroundingCheck(r, top_k=2).run(
        CheckInput(question="", answer="Phil Haste, 60, was issued with a £50 fine for not showing his tax disc in his car.", retriever=r)
    )
    assert not any("50" in why for why in out.sentences[0].reasons), out.sentences[0].reasons
    assert any("£50 fine" in e.span for e in out.sentences[0].evidence)

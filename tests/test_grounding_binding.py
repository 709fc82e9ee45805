"""Pure functions behind fact binding and normalisation (no index, no model); contradictions
are in test_grounding_contradiction.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from guard.checks.grounding.binding import anchor, bound_flags, misbound_numbers, slots
from guard.checks.grounding.evidence import EvidenceText
from guard.checks.grounding.features import Claim, measure, reason_codes, score
from guard.checks.grounding.reasons import render
from guard.text.normalize import (
    AliasFileError,
    Aliases,
    default_aliases,
    find_dates,
    fold_abbreviations,
    lifespans,
    read_alias_groups,
    strip_citations,
)
from guard.text.numbers import extract_quantities, unmatched_quantities

V3 = "DeepSeek-V3 has 671B total parameters, of which 37B are activated for each token."


# --- normalisation -------------------------------------------------------------------------


@pytest.mark.parametrize("text, value", [("2nd", 2), ("second-largest", 2), ("第二大", 2), ("the 15th", 15), ("第2", 2)])
def test_ordinals_are_quantities(text, value):
    (q,) = extract_quantities(text)
    assert (q.value, q.kind) == (value, "ordinal")


def test_second_as_time_is_not_an_ordinal():
    assert extract_quantities("one per second") == []
    assert [q.unit for q in extract_quantities("wait 5 seconds")] == ["seconds"]


def test_number_words_and_chinese_numerals_match_digits():
    assert not unmatched_quantities(extract_quantities("3 sizes"), extract_quantities("three sizes"))
    assert not unmatched_quantities(extract_quantities("3 种"), extract_quantities("三种规模"))


def test_units_bind_numbers():
    assert unmatched_quantities(extract_quantities("9 GHz"), extract_quantities("9 kg"))
    assert not unmatched_quantities(extract_quantities("9 GHz"), extract_quantities("9000 MHz"))
    assert not unmatched_quantities(extract_quantities("1.2 kg"), extract_quantities("1200 g"))
    assert not unmatched_quantities(extract_quantities("9 GHz"), extract_quantities("a score of 9"))  # bare number


def test_dates_in_english_iso_and_chinese_forms():
    got = [(d.year, d.month, d.day) for d in find_dates("August 16, 1977; 16 August 1977; 1977-08-16; 1977年8月16日")]
    assert got == [(1977, 8, 16)] * 4
    assert [(d.year, d.month) for d in find_dates("in May 2020, you may 5 times")] == [(2020, 5)]


def test_numeric_dates_day_first_month_first_or_both():
    def dates(text):
        return [(d.year, d.month, d.day) for d in find_dates(text)]

    assert dates("Yair Ettinger 31.12.2009 01:22") == [(2009, 12, 31)]  # a byline: it was no date at all
    assert dates("on 31/12/2009 and 12/31/2009") == [(2009, 12, 31)] * 2
    assert sorted(dates("on 03/04/2009")) == [(2009, 3, 4), (2009, 4, 3)]  # either reading
    assert dates("on 03.04.2009") == [(2009, 4, 3)]  # dots are day-first
    assert dates("13/13/2009, 1.5.2000.3") == []
    # its figures are a day, a month and a year, not the decimal 31.12
    assert [q.text for q in extract_quantities("31.12.2009 01:22")][:3] == ["31", "12", "2009"]


def test_lifespans():
    assert lifespans("Elvis (January 8, 1935 – August 16, 1977) was") == [(1935, 1977)]
    assert lifespans("（1935年1月8日－1977年8月16日）") == [(1935, 1977)]


def test_abbreviations_and_aliases():
    assert fold_abbreviations("the U.S. and the U.K.") == "the US and the UK"
    table = default_aliases()
    assert table.group("US") == table.group("United States") == table.group("美国")
    assert table.groups_in("born in the U.S.") == {table.group("US")}
    assert "thus" not in [f for f, _ in table.mentions("thus because")]  # whole words only


def test_alias_file(tmp_path: Path):
    path = tmp_path / "aliases.yaml"
    path.write_text("- [TTFT, time to first token, 首 token 延迟]\n- [KV cache, key-value cache]\n", encoding="utf-8")
    groups = read_alias_groups(path)
    assert groups == [["TTFT", "time to first token", "首 token 延迟"], ["KV cache", "key-value cache"]]
    path.write_text("KV cache: [key-value cache]\nGQA: grouped-query attention\n", encoding="utf-8")
    assert read_alias_groups(path) == [["KV cache", "key-value cache"], ["GQA", "grouped-query attention"]]
    table = Aliases(groups)
    assert table.group("time to first token") == table.group("TTFT")
    path.write_text("just a string", encoding="utf-8")
    with pytest.raises(AliasFileError):
        read_alias_groups(path)


def test_evidence_adds_lifespan_and_abbreviation_stems():
    ev = EvidenceText("Elvis Presley (January 8, 1935 – August 16, 1977) lived in the U.S.")
    assert {"died", "born", "us"} <= ev.stems


# --- binding -------------------------------------------------------------------------------


def test_anchor_is_the_leading_name():
    assert anchor("DeepSeek-V3 was released by Alibaba Cloud.") == "DeepSeek-V3"
    assert anchor("Llama 3.1 does not use GQA.") == "Llama 3.1"
    assert anchor("The 405B model is the largest.") == "405B"
    assert anchor("Qwen2.5 是谷歌发布的模型。") == "Qwen2.5"
    assert anchor("it is large") is None


def test_headed_passages_about_another_subject_do_not_count():
    parts = [EvidenceText("DeepSeek-V3 is from DeepSeek."), EvidenceText("Qwen2.5 is from Alibaba Cloud."), EvidenceText("It is big.")]
    assert bound_flags("DeepSeek-V3", parts, ["Models > DeepSeek-V3", "Models > Qwen2.5", ""]) == [True, False, True]
    assert bound_flags("Mistral", parts, ["a", "b", ""]) == [True, True, True]  # subject nowhere: no binding


def test_unbound_name_is_reported_with_its_subject():
    parts = [EvidenceText("DeepSeek-V3 is released by DeepSeek."), EvidenceText("Qwen2.5 is from the Qwen team at Alibaba Cloud.")]
    claim = Claim.of("DeepSeek-V3 was released by Alibaba Cloud.")
    f = measure(claim, EvidenceText.merge(parts), None, parts, ["M > DeepSeek-V3", "M > Qwen2.5"])
    assert f.unbound_names == [("Alibaba Cloud", "Qwen2.5", "DeepSeek-V3")]
    assert score(f) <= 0.5
    assert render(reason_codes(f)[0]) == "Alibaba Cloud is named for Qwen2.5, not DeepSeek-V3"


def test_slot_contexts_stop_at_clauses_and_other_figures():
    got = {s.quantity.text: set(s.context) for s in slots(V3)}
    assert got["671B"] == {"deeps", "total", "param"}
    assert got["37B"] == {"activ", "token"}


def test_a_bare_count_is_no_rival_of_a_scaled_figure_nor_a_factor_of_a_product():
    ev = [EvidenceText("Llama 3.1 was released in July 2024 in three sizes: 8B, 70B and 405B parameters.")]
    claim = "Llama 3.1 was released in July 2024 in 8B, 70B and 405B sizes."
    assert misbound_numbers(claim, extract_quantities(claim), ev, frozenset({"llama"})) == []
    ev = [EvidenceText("Its size per token is 2 x number of layers x number of key-value heads x head dimension. "
                       "Llama 3.1 8B has 32 layers, 8 key-value heads, so its cache takes 2 x 32 x 8 x 128 x 2 bytes.")]
    claim = "Its size per token is 2 x layers x key-value heads x head dimension."
    assert misbound_numbers(claim, extract_quantities(claim), ev, frozenset()) == []
    # scaled figures still compete with each other
    swapped = "DeepSeek-V3 activates 671B of its 37B parameters."
    assert misbound_numbers(swapped, extract_quantities(swapped), [EvidenceText(V3)], frozenset({"deeps"}))

def test_words_between_two_figures_are_split_between_them():
    got = {s.quantity.text: set(s.context) for s in slots("In 16-bit precision a 7B model needs roughly 14 GB for its weights.")}
    assert got["16"] == {"bit", "preci"} and got["7B"] == {"model", "needs"} and got["14"] == {"rough", "weigh"}


def test_figures_are_looked_up_in_every_passage_when_no_headed_one_names_the_subject():
    from guard.checks.grounding.features import number_evidence

    weights = EvidenceText("In 8-bit precision a 7B model needs about 7 GB.")
    faq = EvidenceText("Models up to 8B fit on one 24 GB GPU.")
    tools = EvidenceText("Quantization roughly halves memory.")
    claim = Claim.of("Roughly 7 GB for the weights in 8-bit precision.")
    # "Roughly" is no subject, and no headed passage names one: every passage counts, not only
    # the FAQ record without a heading
    got = number_evidence(claim, [weights, faq, tools], ["Memory > Weights", "", "Tools"])
    assert "7" in {q.text for q in got}
    qwen = Claim.of("Qwen2.5 was trained on 18 trillion tokens.")
    parts = [EvidenceText("Qwen2.5 was trained on 18 trillion tokens."), EvidenceText("Llama 3.1 saw 15 trillion tokens.")]
    assert {q.text for q in number_evidence(qwen, parts, ["Models > Qwen2.5", "Models > Llama 3.1"])} == {"18 trillion"}


def test_an_imperative_or_sentence_adverb_is_not_the_subject():
    assert Claim.of("Run python -m sglang.launch_server to start it.").subject is None
    assert Claim.of("Unlike Llama 3.1, Qwen2.5 supports more than 29 languages.").subject == "Qwen2.5"
    assert Claim.of("Besides CPUs, llama.cpp runs on GPUs.").subject != "Besides CPUs"
    assert Claim.of("Texas is the 2nd largest state in the US.").subject == "Texas"

def test_swapped_figures_are_misbound():
    ev = [EvidenceText(V3)]
    claim = "DeepSeek-V3 activates 671B of its 37B parameters."
    m = misbound_numbers(claim, extract_quantities(claim), ev, frozenset({"deeps"}))[0]
    assert (m.value, m.claim_word, m.other) == ("671B", "activates", "37B")
    right = "DeepSeek-V3 activates 37B of its 671B parameters."
    assert misbound_numbers(right, extract_quantities(right), ev, frozenset({"deeps"})) == []


def test_lifespan_years_are_bound_to_born_and_died():
    ev = [EvidenceText("Elvis Presley (January 8, 1935 – August 16, 1977) was a singer.")]
    born = "Elvis Presley was born in 1977."
    assert [m.other for m in misbound_numbers(born, extract_quantities(born), ev)] == ["1935"]
    died = "Elvis Presley died in 1977."
    assert misbound_numbers(died, extract_quantities(died), ev) == []


def test_knowledge_aliases_reach_the_check(tmp_path: Path):
    from guard.checks.base import CheckInput
    from guard.checks.grounding import GroundingCheck
    from guard.knowledge.build import build_index
    from guard.knowledge.embedder import shared_embedder
    from guard.knowledge.index import KnowledgeIndex

    src = tmp_path / "kb"
    src.mkdir()
    (src / "notes.md").write_text("# Serving\n\nThe Zorblax scheduler lowers queueing delay for chat traffic.\n", encoding="utf-8")
    (src / "aliases.yaml").write_text("- [Zorblax, ZBX]\n", encoding="utf-8")
    build_index(src, tmp_path / "index", shared_embedder("all-MiniLM-L6-v2"), progress=False)
    index = KnowledgeIndex.load(tmp_path / "index")
    assert index.aliases == [["Zorblax", "ZBX"]]
    out = GroundingCheck(index, retrieval="lexical").run(
        CheckInput(question="", answer="The ZBX scheduler lowers queueing delay for chat traffic.", retriever=index)
    )
    assert out.details["features"][0]["missing_names"] == []


@pytest.mark.parametrize("text, bare", [
    ("It was released in July 2024 [1].", "It was released in July 2024."),
    ("It has 671B parameters [2][3] and [1, 4].", "It has 671B parameters and."),
    ("It was released.[^1]", "It was released."),
    ("Qwen2.5由阿里云发布【1】。", "Qwen2.5由阿里云发布。"),
    ("It supports 29 languages (Source: passage 2).", "It supports 29 languages."),
    ("It has 3 sizes (8B, 70B and 405B).", "It has 3 sizes (8B, 70B and 405B)."),
    ("Released in [2019].", "Released in [2019]."),
])
def test_citation_marks_are_not_part_of_the_claim(text, bare):
    assert strip_citations(text) == bare


@pytest.mark.parametrize("claim, evidence, found", [
    ("about 670B", "671B", True),  # RAG answers round: "about 670 billion parameters" was a missing number
    ("nearly 700B", "671B", True),
    ("almost 15 trillion", "14.8 trillion", True),
    ("约18万人", "17.6万人", True),
    ("18万人左右", "17.6万人", True),
    ("670B", "671B", False),  # stated exactly, a figure must be exact
    ("18万人", "17.6万人", False),
    ("about 600B", "671B", False),  # no rounding of 671
    ("约为600万美元", "约为557.6万美元", False),  # within the last digit's step, but 7.6% off
    ("around 2000", "1990", False),  # a year is not a rounded figure
    ("nearly 700 GHz", "671 kg", False),  # units still bind
])
def test_an_approximate_figure_matches_what_it_rounds(claim, evidence, found):
    assert (not unmatched_quantities(extract_quantities(claim), extract_quantities(evidence))) is found


@pytest.mark.parametrize("claim, evidence, found", [
    ("more than 14 trillion", "14.8 trillion", True),  # a bound near the value states it
    ("超过500人", "600人", True),
    ("500多人", "560人", True),
    ("under 10 ms", "8 ms", True),
    ("不到3000元", "2800元", True),
    ("more than 15 trillion", "14.8 trillion", False),  # the wrong side
    ("500多人", "400人", False),
    ("under 10 ms", "12 ms", False),
    ("more than 14 trillion", "50 trillion", False),  # too far to be what the claim bounds
    ("over 2010", "2015", False),  # years are not bounded figures
])
def test_a_bound_matches_a_value_on_its_side(claim, evidence, found):
    assert (not unmatched_quantities(extract_quantities(claim), extract_quantities(evidence))) is found


@pytest.mark.parametrize("text, bound", [
    ("more than 10 ms", 1), ("no more than 10 ms", -1), ("not more than 10 ms", -1),
    ("less than 10 ms", -1), ("no less than 10 ms", 1),
    ("超过500人", 1), ("不超过500人", -1), ("少于500人", -1), ("不少于500人", 1), ("低于5%", -1), ("不低于5%", 1),
])
def test_a_negated_bound_bounds_the_other_way(text, bound):
    (q,) = extract_quantities(text)
    assert q.bound == bound

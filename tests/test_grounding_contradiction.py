"""Contradictions between a claim and its best-matching evidence sentence
(guard/checks/grounding/contradiction.py), and what each side negates (polarity.py)."""

from __future__ import annotations

import pytest

from guard.checks.grounding.contradiction import find_conflict
from guard.checks.grounding.evidence import EvidenceText
from guard.checks.grounding.features import Claim, measure, reason_codes, score
from guard.checks.grounding.lexicon import Lexicon, key, lexicon
from guard.checks.grounding.polarity import polarity
from guard.checks.grounding.reasons import TEMPLATES, render


def conflict(claim: str, *evidence: str):
    c = Claim.of(claim)
    found, _ = find_conflict(c.text, c.stems, c.cjk2, c.names, [EvidenceText(e) for e in evidence])
    return found


def test_polarity_english_and_chinese():
    p = polarity("Llama 3.1 does not use GQA.")
    assert key("use") in p.negated and key("use") not in p.plain
    assert "治愈" in polarity("这种新药不能治愈肺癌").negated
    assert not polarity("不仅速度快，而且未来可期").negated  # 不仅 and 未来 negate nothing
    # "has nothing to do with X" negates the X before it
    assert {"显存", "带宽"} <= polarity("TPOT 与显存带宽无关").negated
    assert conflict("TPOT 主要由预填充阶段决定，与解码无关。", "TPOT 主要由解码阶段决定，解码通常受显存带宽限制。") is not None


def test_rank_number_is_not_a_negation():
    """Summaries of sports news: "world No 99", "no 29 Caroline Garcia" read as "not ranking",
    "not Caroline", so a faithful summary was contradicted."""
    assert not polarity("Bedene's world No 99 ranking puts him behind Andy Murray.").negated
    assert not polarity("Kvitova beat world no. 29 Caroline Garcia 6-4, 6-4.").negated
    assert conflict("Petra Kvitova defeated Caroline Garcia in straight sets for a 3-0 lead.",
                    "Fourth-ranked Kvitova beat world no 29 Caroline Garcia 6-4, 6-4 for an insurmountable 3-0 lead.") is None


@pytest.mark.parametrize("claim, evidence", [
    ("Police do not suspect foul play.", "No foul play: police say they have no reason to consider the death suspicious."),
    ("Juventus keeper Gianluigi Buffon says he has no plans to retire soon.",
     "Juventus goalkeeper Gianluigi Buffon has no immediate plans to retire and said it would be a waste to quit now."),
    ("Sexting is not advised for politicians, says Ed Miliband.", "Ed Miliband said politicians should not sext and sexting is risky."),
    ("Pulis has never been in charge of a side that was relegated.", "Pulis keeps his proud record of never being relegated as a manager."),
    ("Holidaymakers received no compensation for the passport delays.", "Holidaymakers caught up in the passport delays have not received any compensation."),
])
def test_a_negation_moved_to_another_word_is_not_a_contradiction(claim, evidence):
    """Both sides negate something in the clause: the negation moved ("no plans" / "no
    immediate plans"), which is paraphrase; seen as false contradictions on news summaries."""
    assert conflict(claim, evidence) is None


def test_a_sentence_end_bounds_a_negation():
    ev = "AS claim that Real could have settled the tie, but Oblak said no. The Spanish papers praised Oblak and Varane."
    assert conflict("Atletico keeper Jan Oblak was praised by the Spanish papers.", ev) is None


def test_lack_and_failure_negate():
    assert conflict("Britain managed to follow suit on aid.", "Britain's failure to follow suit on aid is striking.").kind == "polarity"
    assert conflict("Britain failed to follow suit on aid.", "Britain's failure to follow suit on aid is striking.") is None


def test_polarity_conflict_names_the_words():
    found = conflict("Llama 3.1 does not use grouped-query attention.", "All three Llama 3.1 sizes use grouped-query attention (GQA).")
    assert found and found.kind == "polarity"
    assert found.as_params() == {"kind": "polarity", "claim_word": "not use", "evidence_word": "use"}
    assert conflict("Llama 3.1 uses grouped-query attention.", "All three Llama 3.1 sizes use grouped-query attention.") is None


def test_question_answered_no_denies_its_statement():
    faq = "Does a MoE model need less memory because only some experts are active? No. All parameters must be loaded."
    assert conflict("A MoE model needs less memory because only some experts are active.", faq).evidence_word == "No"
    assert conflict("A MoE model does not need less memory because only some experts are active.", faq) is None


def test_a_denial_contradicts_only_what_the_other_side_states_of_the_same_object():
    from guard.checks.grounding.contradiction import same_object

    served = "It serves an HTTP API on port 11434."
    assert conflict("Ollama does not serve gRPC.", served) is None
    assert conflict("Ollama does not serve an HTTP API.", served) is not None
    # no object: the denial is of the verb itself; a time is no object
    assert same_object("renov", "Sky Rocket was not renovated.", "It was renovated in 2001.")
    assert conflict("He decided not to compete this year.", "He competed this year.") is not None


def test_antonyms_and_exclusive_categories():
    found = conflict("Northwind sales increased by 5% in 2020.", "Northwind sales decreased by 5% in 2020.")
    assert found.as_params() == {"kind": "antonym", "claim_word": "increase", "evidence_word": "decrease"}
    assert conflict("远航公司的营收下降了20%。", "远航公司的营收增长了20%。").kind == "antonym"
    assert conflict("Thriller is a song by Michael Jackson.", "Thriller is an album by Michael Jackson.").kind == "exclusive"
    assert conflict("Thriller is an album by Michael Jackson.", "Thriller is an album by Michael Jackson.") is None


def test_role_order_with_passive():
    ev = "In 2019 Acme Corp acquired Beta Systems for 2 billion dollars."
    assert conflict("Beta Systems acquired Acme Corp in 2019.", ev).kind == "role"
    assert conflict("Acme Corp was acquired by Beta Systems in 2019.", ev).kind == "role"
    assert conflict("Beta Systems was acquired by Acme Corp in 2019.", ev) is None


def test_roles_need_a_verb_with_a_direction():
    """WiCE: "in Australia and launched worldwide on Netflix" was read as Australia and Netflix
    in reversed roles because "worldwide" and "world" share a key; no verb joins them."""
    ev = "Season 2 is currently due out on Netflix around the world (excluding Australia) on March 6th, 2019."
    assert conflict("It aired on March 4, 2019, in Australia and launched worldwide on Netflix on March 6, 2019.", ev) is None
    assert conflict("Bob Stone married Ann Lee in 1990.", "Ann Lee married Bob Stone in 1990.") is None
    assert conflict("Ann Lee beat Bob Stone in the final.", "Bob Stone beat Ann Lee in the final.").kind == "role"


def test_unrelated_sentence_is_not_compared():
    assert conflict("The museum is not open on Mondays.", "The weather in Paris is mild.") is None


def test_contradiction_caps_support_and_is_a_feature():
    ev = EvidenceText("All three Llama 3.1 sizes use grouped-query attention.")
    f = measure(Claim.of("Llama 3.1 does not use grouped-query attention."), ev, None)
    assert f.as_dict()["contradiction"] == 1 and score(f) <= 0.25
    (c,) = [c for c in reason_codes(f) if c["code"].startswith("contradiction")]
    assert c["params"]["claim_word"] == "not use"


def test_lexicon_is_shipped_and_symmetric():
    lex = lexicon()
    assert "less" in lex.opposites["more"] and "more" in lex.opposites["less"]
    assert lex.group_of["song"] == lex.group_of["album"]
    assert Lexicon.parse({"pairs": [["up", "down"]]}).opposites["down"] == frozenset({"up"})


def test_every_new_code_has_both_languages():
    for name in ("contradiction_polarity", "contradiction_antonym", "contradiction_exclusive", "contradiction_only", "contradiction_role",
                 "number_misbound", "name_unbound"):
        assert set(TEMPLATES[name]) == {"en", "zh"}
    r = {"code": "number_misbound", "params": {"value": "671B", "claim_word": "activates", "other": "37B", "evidence_word": "total"}}
    assert render(r) == "671B is stated for “total” in the evidence, not for “activates” (37B is)"
    assert "671B" in render(r, "zh")


def test_the_only_one_of_a_list_in_the_evidence_is_a_contradiction():
    gguf = "Models are stored in the GGUF file format, which holds the weights, the tokenizer and metadata in one file."
    found = conflict("GGUF stores only the tokenizer.", gguf)
    assert found is not None and (found.kind, found.claim_word, found.evidence_word) == ("only", "only tokenizer", "weights")
    assert conflict("GGUF stores the weights, the tokenizer and metadata.", gguf) is None
    # not a list, or the evidence says "only" itself
    assert conflict("Only 37B parameters are active per token.",
                    "It has 671B total parameters, of which 37B are activated for each token.") is None
    assert conflict("Only the 1.5B, 7B and 8B distills fit on one GPU.",
                    "Only the 1.5B, 7B and 8B distills fit on one GPU, while 14B, 32B and 70B need more.") is None
    assert render({"code": "contradiction_only", "params": {"claim_word": "only English", "evidence_word": "German"}}) == (
        "contradicts: “only English”, but the evidence lists “German” too")


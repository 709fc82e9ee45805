"""The trained verifier: FactCC pairs, a few seconds of training, and the ONNX int8 export
scoring as the torch CrossEncoder it was exported from."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from guard.checks.base import CheckInput
from guard.checks.grounding.check import GroundingCheck
from guard.checks.grounding.combiner import Combiner, FeatureWeight
from guard.checks.grounding.crossencoder import QUESTION_CHARS, OnnxVerifier, hypothesis, premise
from guard.training.pairs import Pair, knowledge_passages, perturb, synthetic_pairs
from checks_helpers import MemoryRetriever

KNOWLEDGE = Path(__file__).resolve().parent.parent / "knowledge"


@pytest.mark.parametrize("kind, sentence, changed", [
    ("number", "The model has 37 layers.", None),
    ("year", "It was released in 2024.", None),
    ("polarity", "Llama 3.1 uses grouped-query attention.", None),
    ("polarity", "A MoE model cannot skip loading its experts.", "A MoE model can skip loading its experts."),
    ("comparative", "Int4 weights need less memory than FP16 weights.", "Int4 weights need more memory than FP16 weights."),
    ("role", "DeepSeek acquired Moonshot in the story.", "Moonshot acquired DeepSeek in the story."),
])
def test_each_perturbation_changes_one_fact(kind, sentence, changed):
    from guard.training.pairs import PERTURBATIONS

    out = PERTURBATIONS[kind](sentence, random.Random(0), ["Alibaba Cloud"])
    assert out and out != sentence
    if changed:
        assert out == changed


def test_a_list_is_not_a_role_swap():
    from guard.training.pairs import PERTURBATIONS

    assert PERTURBATIONS["role"]("It runs on backends such as CUDA, Metal and Vulkan.", random.Random(0), []) is None


def test_synthetic_pairs_from_the_sample_knowledge():
    passages = knowledge_passages(KNOWLEDGE)
    assert passages and not any("的" in p for p in passages)  # Chinese is skipped
    pairs = synthetic_pairs(passages, 200, random.Random(0))
    assert len(pairs) == 200
    assert sum(p.label for p in pairs) == 100
    kinds = {p.kind for p in pairs}
    assert {"copy", "other"} <= kinds and len(kinds - {"copy", "other"}) >= 3
    assert {"shorter", "partial"} <= kinds
    for p in pairs:
        if p.kind == "copy":
            assert p.hypothesis in p.premise
        if p.kind == "partial":  # the premise lost a detail the claim still states
            assert p.hypothesis not in p.premise and p.label == 0.0
        if p.kind == "shorter":
            assert p.hypothesis not in p.premise and p.label == 1.0
    assert perturb("Nothing to change here at all", random.Random(0)) is None


def test_without_detail_drops_one_phrase():
    from guard.training.pairs import without_detail

    full, short = without_detail("It will have its world premiere at the Venice Film Festival in August 2019.", random.Random(0))
    assert full.startswith("It will have") and short == "It will have its world premiere."
    assert without_detail("Too short to cut.", random.Random(0)) is None


def test_premise_joins_spans_best_first_and_is_bounded():
    assert premise(["A is B.", "A is B.", "C is D."]) == "A is B. C is D."
    assert len(premise(["x" * 300] * 5)) <= 400


def test_the_hypothesis_puts_the_end_of_the_question_before_the_claim():
    assert hypothesis("Erich Maria Remarque") == "Erich Maria Remarque"
    assert hypothesis("Erich Maria Remarque", "Who was born earlier,\n Dunwich or Remarque?") == (
        "Who was born earlier, Dunwich or Remarque? Erich Maria Remarque")
    history = "[Human]: " + "I liked it. " * 50 + "Who directed it?"
    got = hypothesis("Nolan did.", history)
    assert got.endswith("Who directed it? Nolan did.") and len(got) <= QUESTION_CHARS + len(" Nolan did.")


def test_graded_pairs_carry_the_question_only_when_asked():
    from guard.checks.calibrate import GradedClaim, GradedRow
    from guard.training.verifier import graded_pairs

    rows = [GradedRow("qa", "1", 0, [GradedClaim("Paris", "Paris is the capital of France.", {}, 0.9)],
                      question="What is the capital of France?"),
            GradedRow("qa", "2", 1, [GradedClaim("Lyon", "Paris is the capital of France.", {}, 0.4)],
                      question="What is the capital of France?")]
    plain = {p.label: p.hypothesis for p in graded_pairs(rows)}
    asked = {p.label: p.hypothesis for p in graded_pairs(rows, with_question=True)}
    assert plain == {1.0: "Paris", 0.0: "Lyon"}
    assert asked == {1.0: "What is the capital of France? Paris", 0.0: "What is the capital of France? Lyon"}


def test_matched_lengths_keep_as_many_supported_as_unsupported_claims_of_each_length():
    """HaluEval QA's right answers are two words and its hallucinations sentences: unmatched,
    a verifier learns length. Matched, each length (per file) has both labels equally."""
    from guard.checks.calibrate import GradedClaim, GradedRow
    from guard.training.verifier import graded_pairs

    def row(i, label, text):
        return GradedRow("qa", str(i), label, [GradedClaim(text, "Paris is the capital of France.", {}, 0.5)])

    rows = ([row(i, 0, "Paris") for i in range(6)] + [row(10 + i, 1, "The capital of France is Lyon, a city.") for i in range(5)]
            + [row(20, 1, "Lyon"), row(21, 0, "Paris is the capital city of France.")])
    everything = graded_pairs(rows)
    assert sum(p.label == 1.0 for p in everything) == 7 and len(everything) == 13
    matched = graded_pairs(rows, match_lengths=True)
    assert sorted((p.hypothesis, p.label) for p in matched) == sorted([
        ("Paris", 1.0), ("Lyon", 0.0),
        ("Paris is the capital city of France.", 1.0), ("The capital of France is Lyon, a city.", 0.0)])


@pytest.fixture(scope="module")
def tiny_verifier(tmp_path_factory):
    from guard.training.verifier import train

    ev = "DeepSeek-V3 has 671B total parameters, of which 37B are activated per token."
    pairs = [
        Pair(ev, "DeepSeek-V3 has 671B total parameters.", 1.0, "copy"),
        Pair(ev, "DeepSeek-V3 has 37B total parameters.", 0.0, "number"),
        Pair(ev, "DeepSeek-V3 activates 37B parameters per token.", 1.0, "copy"),
        Pair(ev, "DeepSeek-V3 does not activate 37B parameters per token.", 0.0, "polarity"),
    ]
    out = tmp_path_factory.mktemp("verifier")
    report = train(pairs, out, epochs=2, batch_size=4, max_length=64, lr=1e-4, progress=False)
    assert report.pairs == 8 and report.pairs_per_s > 0
    return out, pairs


def test_onnx_verifier_scores_match_the_torch_cross_encoder(tiny_verifier):
    from sentence_transformers import CrossEncoder

    out, pairs = tiny_verifier
    assert (out / "model.onnx").exists() and (out / "export.json").exists() and (out / "tokenizer.json").exists()
    torch_model = CrossEncoder(str(out / "torch"), device="cpu")
    inputs = [(p.premise, p.hypothesis) for p in pairs] + [("Cats are mammals.", "Dogs bark at night.")]
    expected = np.asarray(torch_model.predict(inputs, show_progress_bar=False), dtype=np.float64)
    onnx = OnnxVerifier(out)
    got = np.array(onnx.verify([(h, p) for p, h in inputs]))
    assert np.abs(got - expected).max() < 0.05
    assert np.corrcoef(got, expected)[0, 1] > 0.95 or np.ptp(expected) < 0.02
    assert onnx.verify([("Qwen2.5 是阿里云发布的模型", "Qwen2.5 由阿里云发布。")]) == [None]


def test_the_verifier_probability_joins_the_combiner(tiny_verifier):
    out, _ = tiny_verifier
    kb = ["DeepSeek-V3 has 671B total parameters, of which 37B are activated per token."]
    r = MemoryRetriever(kb)
    trusting = Combiner(-5.0, {"verifier": FeatureWeight(10.0, 0.5, (0.0, 1.0))})
    check = GroundingCheck(r, verifiers=[OnnxVerifier(out)], combiner=trusting)
    outcome = check.run(CheckInput(question="", answer="DeepSeek-V3 has 671B total parameters.", retriever=r))
    p = outcome.details["features"][0]["verifier"]
    assert 0.0 <= p <= 1.0
    assert outcome.confidence == pytest.approx(1 / (1 + np.exp(-(-5.0 + 10.0 * p))), abs=1e-3)


def test_an_unweighted_verifier_is_still_a_feature_calibrate_can_fit(tiny_verifier):
    """With no weights naming it, the verifier is averaged in; its probability must still be
    among the claim's features, or ``guard calibrate --policy P`` could never learn its weight."""
    out, _ = tiny_verifier
    r = MemoryRetriever(["DeepSeek-V3 has 671B total parameters, of which 37B are activated per token."])
    seen: list[tuple[str, str]] = []

    class Recording(OnnxVerifier):
        def verify(self, pairs):
            seen.extend(pairs)
            return super().verify(pairs)

    outcome = GroundingCheck(r, verifiers=[Recording(out)]).run(
        CheckInput(question="", answer="DeepSeek-V3 has 671B total parameters.", retriever=r))
    assert 0.0 <= outcome.details["features"][0]["verifier"] <= 1.0
    assert len(seen[0][1]) <= 400  # given the cited spans it was trained on, not the whole evidence


def test_a_question_reading_verifier_is_given_the_question(tiny_verifier, tmp_path):
    """An export that says ``"question": true`` was trained on question + claim; the check must
    hand it the same, and a claim-only export must keep getting the claim alone."""
    import json
    import shutil

    out, _ = tiny_verifier
    reading = tmp_path / "reading"
    shutil.copytree(out, reading)
    info = json.loads((reading / "export.json").read_text())
    assert info["question"] is False
    (reading / "export.json").write_text(json.dumps(info | {"question": True}))
    r = MemoryRetriever(["DeepSeek-V3 has 671B total parameters, of which 37B are activated per token."])
    ask = CheckInput(question="How many parameters does DeepSeek-V3 have?", answer="It has 671B total parameters.", retriever=r)
    seen: dict[str, list[str]] = {}

    class Recording(OnnxVerifier):
        def verify(self, pairs):
            seen.setdefault(str(self.directory), []).extend(h for h, _ in pairs)
            return super().verify(pairs)

    for folder in (out, reading):
        GroundingCheck(r, verifiers=[Recording(folder)]).run(ask)
    assert seen[str(out)] == ["It has 671B total parameters."]
    assert seen[str(reading)] == ["How many parameters does DeepSeek-V3 have? It has 671B total parameters."]


def test_the_shipped_verifier_ranks_a_supported_claim_above_its_swaps():
    """The model in guard/checks/grounding/models/verifier (``verifier: builtin``, made by the
    command in docs/calibration.md): a claim the evidence states beats the same claim with the
    name, the date or the polarity swapped, and an unrelated sentence."""
    from guard.checks.grounding.crossencoder import load_verifier

    v = load_verifier("builtin")
    ev = ("DeepSeek-V3 is a Mixture-of-Experts model released by DeepSeek in December 2024. "
          "It has 671B total parameters, of which 37B are activated for each token.")
    # a question-reading model is asked as the check asks it; one trained on HaluEval QA's rows
    # with their questions learnt that a full sentence after a question is a hallucination
    # (its right answers are two words): this example caught it (docs/calibration.md)
    asked = "What is DeepSeek-V3 and who released it?" if v.reads_question else ""
    supported, *swapped = v.verify([(hypothesis(c, asked), ev) for c in (
        "DeepSeek-V3 was released by DeepSeek in December 2024.",
        "DeepSeek-V3 was released by Google in December 2024.",
        "DeepSeek-V3 was released by DeepSeek in March 2021.",
        "DeepSeek-V3 is not a Mixture-of-Experts model.",
        "The Eiffel Tower is in Paris.",
    )])
    assert all(supported > s + 0.05 for s in swapped), (supported, swapped)
    assert v.info["pairs"] == 20000 and not v.multilingual


def test_a_claims_verifier_score_does_not_depend_on_the_other_claims():
    """Pairs used to run in padded batches whose int8 activations were quantized with one scale
    for the whole batch, so a claim scored differently next to a long claim than alone. Each
    pair now runs alone (on ``threads`` workers): the same pair, the same score, in any company
    and on one worker or two."""
    from guard.checks.grounding.crossencoder import OnnxVerifier, builtin_dir

    ev = "Elvis Aaron Presley (January 8, 1935 - August 16, 1977) was an American singer and actor."
    claim = ("Elvis Presley was born in 1935.", ev)
    company = [("He was dubbed the King of Rock and Roll by critics and fans " * 4, "Cats purr. " * 40),
               ("Presley died in 1977.", ev)]
    one, two = OnnxVerifier(builtin_dir(), threads=1), OnnxVerifier(builtin_dir(), threads=2)
    alone = one.verify([claim])[0]
    assert one.verify([*company, claim])[2] == alone
    assert two.verify([company[0], claim, company[1]]) == one.verify([company[0], claim, company[1]])
    assert two.verify([company[0], claim, company[1]])[1] == alone


def test_combine_averages_or_weighs_the_verifiers():
    from guard.checks.grounding.check import combine

    assert combine(0.9, []) == 0.9 and combine(0.9, [None]) == 0.9
    assert combine(0.9, [0.1]) == pytest.approx(0.5)  # no weight: plain average
    assert combine(0.9, [0.1, 0.5]) == pytest.approx(0.5)
    assert combine(0.9, [0.1], 0.25) == pytest.approx(0.7)
    assert combine(0.9, [0.1, 0.3], 1.0) == pytest.approx(0.2)


def test_the_policy_weighs_the_verifier_by_whether_a_question_was_asked():
    """``verifier_weight`` in a policy reaches the check: with a question the verifier's say is
    ``with_question``, without one ``without_question``."""
    from guard.checks.runner import build_checks
    from guard.policy.schema import Policy

    class Doubting:
        name = "doubting"

        def verify(self, pairs):
            return [0.0] * len(pairs)

    r = MemoryRetriever(["DeepSeek-V3 has 671B total parameters, of which 37B are activated per token."])
    policy = Policy.model_validate({"name": "p", "checks": {"grounding": {
        "verifier_weight": {"with_question": 0.8, "without_question": 0.1}}}})
    check = next(c for c in build_checks(policy, r, None) if isinstance(c, GroundingCheck))
    assert check.verifier_weight == (0.8, 0.1)
    check.verifiers = [Doubting()]
    plain = GroundingCheck(r).run(CheckInput(question="", answer="DeepSeek-V3 has 671B total parameters.", retriever=r))
    lexical = plain.confidence
    asked = check.run(CheckInput(question="How big is it?", answer="DeepSeek-V3 has 671B total parameters.", retriever=r))
    told = check.run(CheckInput(question="", answer="DeepSeek-V3 has 671B total parameters.", retriever=r))
    assert asked.confidence == pytest.approx(0.2 * lexical, abs=1e-3)
    assert told.confidence == pytest.approx(0.9 * lexical, abs=1e-3)
    with pytest.raises(ValueError):
        Policy.model_validate({"name": "p", "checks": {"grounding": {"verifier_weight": {"with_question": 1.5}}}})


@pytest.mark.parametrize("weight", [None, (0.6, 0.3), (1.0, 1.0)])
def test_a_verifier_cannot_lift_a_claim_past_its_hard_cap(weight):
    """A figure the evidence never states caps the claim (features.hard_cap) whatever a
    verifier thinks of it: with the builtin verifier weighted 0.6, the wrong row of "| DeepSeek-V3 |
    670B |" was annotated at 0.61 instead of held (tests/test_grounding_claims_table.py)."""
    from guard.checks.grounding.features import CAP_MISSING_NUMBER

    class Convinced:
        name = "convinced"

        def verify(self, pairs):
            return [1.0] * len(pairs)

    r = MemoryRetriever(["DeepSeek-V3 has 671B total parameters, of which 37B are activated per token."])
    check = GroundingCheck(r, verifiers=[Convinced()], verifier_weight=weight)
    wrong = check.run(CheckInput(question="How big is it?", answer="DeepSeek-V3 has 670B total parameters.", retriever=r))
    assert wrong.confidence <= CAP_MISSING_NUMBER
    right = check.run(CheckInput(question="How big is it?", answer="DeepSeek-V3 has 671B total parameters.", retriever=r))
    assert right.confidence > 0.9

"""The grounding combiner's weights: the file format, ``guard calibrate`` on labelled rows and on
the review store's decisions, and the band edge ``guard eval`` prints for a target share caught."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from guard.checks.base import CheckInput
from guard.checks.calibrate import GradedClaim, GradedRow, fit, row_auroc
from guard.checks.grounding.check import GroundingCheck
from guard.checks.grounding.combiner import Combiner, FeatureWeight, default_path, load_combiner
from guard.checks.metrics import edge_for_caught
from guard.cli import main
from checks_helpers import MemoryRetriever

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLES = [FIXTURES / "calibrate_halueval_qa_sample.jsonl", FIXTURES / "calibrate_halueval_dialogue_sample.jsonl"]


def test_weights_file_round_trip(tmp_path):
    model = Combiner(
        -1.5,
        {"coverage": FeatureWeight(2.0, 0.0, (0.0, 1.0)), "missing_names": FeatureWeight(-3.0, 0.0, (0.0, 3.0)),
         "semantic": FeatureWeight(1.0, 0.65, (-1.0, 1.0)), "verifier": FeatureWeight(4.0, 0.5)},
        {"missing_names": 0.5},
        {"command": "guard calibrate x.jsonl --out w.json"},
    )
    path = tmp_path / "w.json"
    model.save(path)
    again = Combiner.load(path)
    assert again == model
    feats = {"coverage": 0.8, "missing_names": [], "semantic": None, "units": 5, "reason": "text is ignored"}
    assert again.support(feats) == pytest.approx(model.support(feats))
    # None and an absent feature take the fill; a list counts its items; clipping; caps
    z = -1.5 + 2.0 * 0.8 + 1.0 * 0.65 + 4.0 * 0.5
    assert again.support(feats) == pytest.approx(1 / (1 + math.exp(-z)))
    many = dict(feats, coverage=7.0, missing_names=["A", "B", "C", "D", "E"])
    z = -1.5 + 2.0 * 1.0 - 3.0 * 3 + 0.65 + 2.0
    assert again.support(many) == pytest.approx(1 / (1 + math.exp(-z)))
    assert again.support(dict(feats, coverage=1.0, missing_names=["A"], verifier=1.0)) == 0.5


def test_bad_weights_files_are_refused_with_the_path(tmp_path):
    (tmp_path / "a.json").write_text('{"format": 9, "bias": 0, "features": {}}')
    (tmp_path / "b.json").write_text("not json")
    for name in ("a.json", "b.json"):
        with pytest.raises(ValueError, match=name):
            Combiner.load(tmp_path / name)


def test_the_package_default_loads_and_names_the_lexical_features():
    model = load_combiner()
    assert default_path().exists()
    assert {"coverage", "fuzzy", "missing_numbers"} <= set(model.features)


def test_the_check_scores_with_its_combiner():
    index = MemoryRetriever(["Qwen2.5 was released by Alibaba Cloud in September 2024."])
    inp = CheckInput(question="", answer="Qwen2.5 was released by Alibaba Cloud.", retriever=index)
    base = GroundingCheck(index).run(inp)
    sceptic = Combiner(-20.0, {"coverage": FeatureWeight(1.0, 0.0, (0.0, 1.0))})
    low = GroundingCheck(index, combiner=sceptic).run(inp)
    assert base.confidence > 0.7 and low.confidence < 0.01
    assert low.details["graded"] == [0] and "coverage" in low.details["features"][0]


def _rows(feature: str, n: int = 200, seed: int = 1) -> list[GradedRow]:
    """Synthetic graded rows where ``feature`` (a new feature the fit has never heard of) tells the labels."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = i % 2
        good = {"coverage": rng.uniform(0.6, 1.0), "missing_numbers": [], feature: 0.0}
        bad = {"coverage": rng.uniform(0.6, 1.0), "missing_numbers": [], feature: rng.uniform(0.5, 1.0)}
        claims = [GradedClaim("c", "p", good, 0.9)] + ([GradedClaim("d", "p", bad, 0.9)] if label else [])
        rows.append(GradedRow(f"f{i % 3}", str(i), label, claims))
    return rows


def test_fit_learns_any_numeric_feature_and_the_weakest_claim_decides():
    rows = _rows("contradiction")
    model = fit(rows)
    assert "contradiction" in model.features and model.features["contradiction"].weight < -1
    assert row_auroc(model, rows) > 0.95


def test_calibrate_command_on_labelled_files(tmp_path):
    out = tmp_path / "weights.json"
    result = CliRunner().invoke(main, ["calibrate", *map(str, SAMPLES), "--out", str(out)])
    assert result.exit_code == 0, result.output
    for sample in SAMPLES:
        assert sample.stem in result.stdout
    assert "held out" in result.stdout
    model = Combiner.load(out)
    assert {"coverage", "fuzzy"} <= set(model.features)
    assert model.fitted["rows"] == 80 and len(model.fitted["per_file"]) == 2
    held = [f["auroc_held_out"] for f in model.fitted["per_file"]]
    assert all(0.5 < a <= 1.0 for a in held)
    # a policy names the file; the check then scores with it
    policy = tmp_path / "p.yaml"
    policy.write_text(f"name: p\nchecks:\n  grounding:\n    top_k: 8\n    weights: {out}\n")
    check = CliRunner().invoke(main, ["eval", str(SAMPLES[0]), "--policy", str(policy), "--json"])
    assert check.exit_code == 0, check.output


async def _decided_store(url: str) -> None:
    from guard.review import NewItem
    from guard.review.store import open_store

    store = open_store(url)
    evidence = "Qwen2.5 was released by Alibaba Cloud in September 2024. It was trained on 18 trillion tokens."
    answers = [
        ("approve", "Qwen2.5 was released by Alibaba Cloud in September 2024."),
        ("approve", "Qwen2.5 was trained on 18 trillion tokens."),
        ("reject", "Qwen2.5 was released by Google in March 2021."),
        ("edit", "Qwen2.5 was trained on 3 trillion tokens by Meta."),
        (None, "Still pending: not a verdict."),
    ]
    for action, answer in answers:
        ann = {"sentences": [{"text": answer, "evidence": [{"passage_id": "p1", "source": "s", "span": evidence}]}]}
        item = await store.create_item(NewItem(policy="default", tenant="t", model="m", answer=answer, annotation=ann,
                                               request={"messages": [{"role": "user", "content": "About Qwen2.5?"}]}))
        if action:
            assert await store.claim(item.id, "ann", 60)
            await store.decide(item.id, "ann", action, final_answer="fixed" if action == "edit" else None,
                               reason="wrong" if action == "reject" else None)
    store.close()


def test_from_reviews_on_a_real_sqlite_store(tmp_path):
    import asyncio

    from guard.checks.review_rows import rows_from_store

    url = f"sqlite:///{tmp_path / 'review.sqlite3'}"
    asyncio.run(_decided_store(url))
    rows = rows_from_store(url)
    assert sorted(r.label for r in rows) == [0, 0, 1, 1]  # pending is no verdict
    assert all("Alibaba Cloud" in r.context and r.question == "About Qwen2.5?" for r in rows)
    out = tmp_path / "w.json"
    result = CliRunner().invoke(main, ["calibrate", "--from-reviews", "--store", url, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "reviews" in result.stdout and Combiner.load(out).fitted["rows"] == 4


def test_edge_for_caught():
    conf = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95]
    labels = [1, 1, 0, 1, 1, 0, 1, 0, 0, 0]
    e = edge_for_caught(conf, labels, 0.8)
    assert e["edge"] == pytest.approx(0.5, abs=1e-3) and e["caught_share"] == 0.8
    assert e["grounded_share"] == pytest.approx(0.2) and e["review_share"] == pytest.approx(0.5)
    assert math.isnan(edge_for_caught([0.5], [0], 0.8)["edge"])


def test_eval_prints_the_edge_for_the_target(tmp_path):
    result = CliRunner().invoke(main, ["eval", str(SAMPLES[0]), "--target-caught", "0.9"])
    assert result.exit_code == 0, result.output
    assert "to catch 90%: flag below" in result.stdout
    js = CliRunner().invoke(main, ["eval", str(SAMPLES[0]), "--json"])
    line = json.loads(next(x for x in js.stdout.splitlines() if x.startswith("{")))
    assert line["target"]["target"] == 0.8 and line["target"]["caught_share"] >= 0.8


def test_units_is_not_fitted_and_weights_keep_the_prior_sign():
    from guard.checks.calibrate import calibrate

    rows = _rows("contradiction")
    start = Combiner(0.0, {"coverage": FeatureWeight(2.0, 0.0, (0.0, 1.0)), "phrase": FeatureWeight(1.0, 0.0, (0.0, 1.0)),
                           "novel_run": FeatureWeight(-0.5, 0.0, (0.0, 9.0))})
    for r in rows:
        for c in r.claims:
            wrong = c.features["contradiction"] > 0
            c.features["units"] = 30 if wrong else 5  # length "predicts" hallucination here
            c.features["coverage"] = 0.5 if wrong else 0.8
            c.features["phrase"] = 0.9 if wrong else 0.4  # higher when wrong: against its prior
            c.features["novel_run"] = 0
    free = calibrate(rows, {}, start=start, anchored=False).model
    assert "units" not in free.features
    assert "phrase" not in free.features  # fitted against its prior sign: refitted without
    assert free.features["coverage"].weight > 0 and free.features["contradiction"].weight < 0
    assert free.features["novel_run"].weight == -0.5  # never varied here: keeps the starting weight
    # anchored (the default): the starting weights stay, the new feature gets a weight
    model = calibrate(rows, {}, start=start).model
    assert "units" not in model.features
    assert {n: model.features[n] for n in start.features} == start.features
    assert model.features["contradiction"].weight < -1


def test_common_edge_meets_the_target_or_says_it_cannot():
    from guard.checks.metrics import common_edge

    easy = ([0.1, 0.2, 0.3, 0.9, 0.95], [1, 1, 1, 0, 0])
    hard = ([0.1, 0.5, 0.6, 0.55, 0.9], [1, 1, 0, 0, 0])
    both = common_edge({"easy": easy, "hard": hard}, 0.8, 0.25)
    assert both["met"] and both["files"]["hard"]["caught_share"] == 1.0
    clash = common_edge({"easy": easy, "x": ([0.1, 0.8, 0.2, 0.3, 0.9], [1, 1, 0, 0, 0])}, 0.8, 0.25)
    assert not clash["met"] and all(f["grounded_share"] <= 0.25 for f in clash["files"].values())


def test_eval_prints_one_edge_for_several_files():
    result = CliRunner().invoke(main, ["eval", *map(str, SAMPLES), "--limit", "10"])
    assert result.exit_code == 0, result.output
    assert "one hold edge for all files" in result.stdout


def test_the_hand_model_as_a_combiner_scores_as_the_check_does():
    """guard calibrate starts from it when a policy names no weights: its "as run" and
    "in sample" columns must describe the same model."""
    from guard.checks.grounding.combiner import hand_model
    from guard.checks.grounding.features import Claim, measure, score
    from guard.checks.grounding.evidence import EvidenceText

    evidence = EvidenceText.of("Qwen2.5 was released by Alibaba Cloud in September 2024. It was trained on 18 trillion tokens.")
    model = hand_model()
    for text in ("Qwen2.5 was released by Alibaba Cloud in September 2024.", "Qwen2.5 was trained on 3 trillion tokens.",
                 "Qwen2.5 was released by Google in 2021.", "Qwen2.5 was not released by Alibaba Cloud.",
                 "It is a completely unrelated sentence about cooking pasta.", "阿里云发布了新的模型。"):
        f = measure(Claim.of(text), evidence, None, [evidence])
        assert model.support(f.as_dict()) == pytest.approx(score(f), abs=2e-3), text


def test_calibrate_starts_from_the_model_the_check_runs(tmp_path):
    # fitting only a bias shift on top of the model that graded the rows cannot lose AUROC in sample
    out = tmp_path / "weights.json"
    result = CliRunner().invoke(main, ["calibrate", *map(str, SAMPLES), "--out", str(out)])
    assert result.exit_code == 0, result.output
    for t in Combiner.load(out).fitted["per_file"]:
        assert t["auroc_in_sample"] >= t["auroc_as_run"] - 0.01, t
    assert "alignment" not in Combiner.load(out).features  # excluded by default (calibrate.EXCLUDED)

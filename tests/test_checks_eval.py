"""AUROC and friends, and ``guard eval`` / ``guard check`` end to end with the real MiniLM."""

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from guard.checks.metrics import auroc, balanced_accuracy, best_f1, percentile, review_curve
from guard.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLES = sorted(FIXTURES.glob("checks_*_sample.jsonl"))


def test_auroc_known_values():
    assert auroc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert auroc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 0.0
    assert auroc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]) == 0.5
    # one inversion out of 2*2 pairs
    assert auroc([0.1, 0.6, 0.5, 0.9], [0, 0, 1, 1]) == 0.75
    assert math.isnan(auroc([0.1, 0.2], [1, 1]))


def test_auroc_matches_pairwise_definition():
    scores = [0.3, 0.7, 0.7, 0.1, 0.9, 0.4, 0.4, 0.65]
    labels = [0, 1, 0, 0, 1, 1, 0, 1]
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    pairs = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    assert auroc(scores, labels) == pytest.approx(pairs / (len(pos) * len(neg)))


def test_f1_balanced_accuracy_curve_percentile():
    scores, labels = [0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]
    f1, threshold = best_f1(scores, labels)
    assert f1 == pytest.approx(0.8) and threshold == 0.35
    assert balanced_accuracy(scores, labels, 0.5) == 0.75
    curve = review_curve([0.9, 0.6, 0.65, 0.2], labels, [0.5, 0.7])
    assert curve == [
        {"threshold": 0.5, "review_share": 0.25, "caught_share": 0.5},
        {"threshold": 0.7, "review_share": 0.75, "caught_share": 1.0},
    ]
    assert percentile([5, 1, 3, 2, 4], 50) == 3 and percentile([5, 1, 3, 2, 4], 95) == 5
    assert percentile([], 50) == 0.0


@pytest.fixture(scope="module")
def eval_output():
    result = CliRunner().invoke(main, ["eval", *map(str, SAMPLES), "--json"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_eval_json_lines(eval_output):
    assert [o["file"] for o in eval_output] == [p.stem for p in SAMPLES]
    for o in eval_output:
        assert {"file", "rows", "auroc", "f1", "balanced_accuracy", "p50_ms", "p95_ms"} <= o.keys()
        assert o["rows"] == sum(1 for _ in open(FIXTURES / f"{o['file']}.jsonl"))
        assert 0 <= o["auroc"] <= 1 and o["errors"] == 0
        assert o["p95_ms"] >= o["p50_ms"] > 0
    # the samples are easy cases: the checker must rank them mostly right
    assert sum(o["auroc"] for o in eval_output) / len(eval_output) >= 0.75


def test_eval_table_limit_and_policy_file(tmp_path):
    policy = tmp_path / "strict.yaml"
    policy.write_text(
        "name: strict\n"
        "checks:\n  grounding: {top_k: 2}\n"
        "decision:\n  bands:\n    - {min: 0.9, action: pass}\n    - {min: 0.0, action: hold}\n"
    )
    result = CliRunner().invoke(main, ["eval", str(SAMPLES[0]), "--limit", "2", "--policy", str(policy)])
    assert result.exit_code == 0, result.output
    assert "AUROC" in result.stdout and "caught" in result.stdout
    as_json = CliRunner().invoke(main, ["eval", str(SAMPLES[0]), "--limit", "2", "--policy", str(policy), "--json"])
    line = json.loads(as_json.stdout.splitlines()[0])
    assert line["rows"] == 2 and line["pass_threshold"] == 0.9
    assert list(line["balanced_accuracy_by_band"]) == ["0.9"]


def test_check_command_prints_full_json(tmp_path):
    ctx = tmp_path / "ctx.txt"
    ctx.write_text("DeepSeek-V3 has 671B total parameters. It was trained on 14.8 trillion tokens.")
    result = CliRunner().invoke(main, ["check", "-q", "How big?", "-a", "It has 670B parameters.", "--context", str(ctx)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["decision"]["action"] in {"annotate", "block", "hold", "fallback"}
    sentence = out["guard"]["sentences"][0]
    assert "number 670B not in evidence" in sentence["reasons"]
    assert sentence["evidence"][0]["passage_id"].startswith("context-0#")
    assert out["guard"]["index_version"].startswith("context-")


def test_check_command_with_a_saved_index(tmp_path):
    from guard.knowledge.embedder import Embedder
    from guard.knowledge.index import KnowledgeIndex

    index = KnowledgeIndex.from_texts(["Refunds are paid within 14 days.\n\n退款在14天内支付。"], Embedder())
    index.save(tmp_path / "idx")
    result = CliRunner().invoke(main, ["check", "-a", "Refunds are paid within 14 days.", "--index", str(tmp_path / "idx")])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["decision"]["action"] == "pass"
    assert out["guard"]["unsupported"] == []
    assert out["outcomes"][-1]["details"]["features"][0]["missing_numbers"] == []


def test_check_needs_exactly_one_source():
    result = CliRunner().invoke(main, ["check", "-a", "x"])
    assert result.exit_code != 0 and "exactly one of --index or --context" in result.output


def test_contexts_can_be_cut_like_knowledge_files():
    """``--passages index``: a shipped policy is measured with its own top_k over passages the
    size ``guard index build`` makes, not over the sentence-sized ones of the eval policy."""
    from guard.checks.evaluate import context_index
    from guard.knowledge.embedder import Embedder

    context = " ".join(f"Fact number {i} about the Aurora X{i} chip is that it weighs {i} kg." for i in range(1, 40))
    emb = Embedder("all-MiniLM-L6-v2")
    sentences, index_like = context_index(context, emb), context_index(context, emb, "index")
    assert len(index_like.passages) < len(sentences.passages)
    result = CliRunner().invoke(main, ["eval", str(SAMPLES[0]), "--limit", "4", "--passages", "index", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[0])["rows"] == 4

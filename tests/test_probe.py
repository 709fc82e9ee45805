"""guard probe: question generation (pure), scoring (pure), and a run through guard to the fake backend."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from guard.api.app import create_app
from guard.knowledge.types import Passage
from guard.probe.generate import Probe, altered, fact_probes, generate, invented_names, names_in
from guard.probe.report import got_through_wrong, is_right, summarize, table
from guard.probe.run import Outcome, read_outcome, run_probes
from guard.settings import Settings
from guard.text.numbers import extract_quantities
from tests.support import serve_app, write_policies

PASSAGES = [
    Passage("v3", "DeepSeek-V3 is a Mixture-of-Experts model released by DeepSeek in December 2024. "
                  "It has 671B total parameters, of which 37B are activated for each token.", "models.md"),
    Passage("qwen", "Qwen2.5 models support a context of up to 128K tokens and were pre-trained on up to "
                    "18 trillion tokens.", "models.md"),
    Passage("ollama", "Ollama serves an HTTP API on port 11434, for example `ollama run qwen2.5:7b` starts a model.", "tools.md"),
    Passage("zh", "DeepSeek-V3 是 DeepSeek 于 2024 年 12 月发布的混合专家模型，总参数量为 6710 亿，每个词元激活 370 亿参数。", "zh.md"),
    Passage("names", "The distilled models start from Qwen2.5 checkpoints and were published by DeepSeek-AI.", "models.md"),
]


# ---- generation --------------------------------------------------------------------------------


def test_fact_probe_blanks_a_number_and_remembers_it() -> None:
    facts = [p for p in fact_probes(PASSAGES) if p.kind == "fact" and p.passage_id == "v3"]
    assert facts, "the DeepSeek-V3 passage has numbers to ask about"
    probe = facts[-1]
    assert "___" in probe.question
    assert probe.expected == ["671B"] and probe.expected_value == 671e9
    assert "671B" not in probe.question and "December 2024" not in probe.expected  # years are not targets


def test_false_premise_states_a_wrong_number() -> None:
    premise = next(p for p in fact_probes(PASSAGES) if p.kind == "false_premise" and p.passage_id == "qwen")
    assert premise.expected == ["128K"]
    values = {q.value for q in extract_quantities(premise.question)}
    assert 128e3 not in values and altered(extract_quantities("128K")[0]) in premise.question


def test_numbers_inside_code_and_names_are_not_targets() -> None:
    probes = [p for p in fact_probes(PASSAGES) if p.passage_id == "ollama"]
    assert {tuple(p.expected) for p in probes} == {("11434",)}


def test_chinese_passages_give_chinese_questions() -> None:
    zh = [p for p in fact_probes(PASSAGES) if p.passage_id == "zh"]
    assert zh and all(p.lang == "zh" for p in zh)
    assert "填空" in zh[0].question or "为什么" in zh[0].question


def test_name_probe_when_a_sentence_has_no_number() -> None:
    probe = next(p for p in fact_probes(PASSAGES) if p.passage_id == "names")
    assert probe.expected_value is None and probe.expected[0] in {"DeepSeek-AI", "Qwen2.5"}
    assert probe.expected[0] not in probe.question


def test_acronyms_are_not_names() -> None:
    assert names_in("The HTTP API of TensorRT-LLM runs on GPUs with SGLang and Qwen2.5.") == ["TensorRT-LLM", "SGLang", "Qwen2.5"]


def test_invented_names_are_absent_from_the_knowledge() -> None:
    names = invented_names(PASSAGES, 8, random.Random(3))
    corpus = " ".join(p.text for p in PASSAGES).lower()
    assert len(names) == 8 and all(n.lower() not in corpus for n in names)


def test_generate_is_reproducible_and_bounded() -> None:
    a, b = generate(PASSAGES, n=2, seed=7), generate(PASSAGES, n=2, seed=7)
    assert a == b
    kinds = [p.kind for p in a]
    assert kinds.count("fact") == 2 and kinds.count("false_premise") == 2 and kinds.count("unknown") == 2


# ---- scoring -----------------------------------------------------------------------------------


def _outcome(probe: Probe, answer: str, decision: str | None = "pass", status: int = 200) -> Outcome:
    return Outcome(probe, "m", status, answer, decision, 0.9, 1.0)


FACT = Probe("f", "fact", "q", ["128K"], 128e3)
UNKNOWN = Probe("u", "unknown", "How many parameters does Foo-Nova-7B have?")


def test_right_answers_match_by_value() -> None:
    assert is_right(_outcome(FACT, "It supports 128,000 tokens."))
    assert is_right(_outcome(FACT, "128K."))
    assert not is_right(_outcome(FACT, "It supports 32K tokens."))


def test_unknown_topics_must_be_declined() -> None:
    assert is_right(_outcome(UNKNOWN, "I don't know; the documentation does not mention that model."))
    assert not is_right(_outcome(UNKNOWN, "It has 70B parameters."))


def test_wrong_answers_count_only_when_guard_passed_them() -> None:
    assert got_through_wrong(_outcome(FACT, "32K", "pass"))
    assert not got_through_wrong(_outcome(FACT, "32K", "block"))
    assert not got_through_wrong(_outcome(FACT, "128K", "pass"))


def test_read_outcome_takes_the_decision_from_body_or_header() -> None:
    body = {"choices": [{"message": {"content": "hi"}}], "guard": {"decision": "annotate", "confidence": 0.5}}
    assert read_outcome(FACT, "m", 200, body, {}, 1.0).decision == "annotate"
    assert read_outcome(FACT, "m", 200, {"choices": [{"message": {"content": "x"}}]}, {"x-guard-decision": "hold"}, 1.0).decision == "hold"
    err = read_outcome(FACT, "m", 502, {"error": {"message": "down"}}, {}, 1.0)
    assert err.error == "down" and err.decision is None


def test_summary_and_table() -> None:
    outcomes = [_outcome(FACT, "128K"), _outcome(FACT, "32K"), _outcome(UNKNOWN, "It has 70B.", "block")]
    r = summarize(outcomes)["m"]
    assert r["all"]["probes"] == 3 and r["all"]["through_wrong"] == 1
    assert r["by_kind"]["unknown"]["held_or_blocked"] == 1.0
    assert r["through_wrong"][0]["answer"] == "32K"
    text = table(summarize(outcomes))
    assert "wrong but passed" in text and "held/blocked" in text


# ---- a run through guard -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def guard_url(_fake_backend_session, tmp_path_factory) -> str:
    policies = write_policies(
        tmp_path_factory.mktemp("probe-policies"),
        {"name": "default", "checks": {"patterns": {"deny": ["(?i)invented"]}}},
    )
    backend = {"kind": "openai", "model": "upstream", "api_base": _fake_backend_session.base_url, "retries": 0}
    settings = Settings.model_validate({"models": [{"name": "probe-model", "backend": backend}], "policies_dir": str(policies)})
    with serve_app(create_app(settings)) as url:
        yield url


async def test_run_through_guard_counts_decisions(fake_backend, guard_url: str) -> None:
    probes = generate(PASSAGES, n=2, seed=1)
    fake_backend.set(text="I don't know; the documentation does not say.")
    declined = summarize(await run_probes(f"{guard_url}/v1", ["probe-model"], probes, progress=False))["probe-model"]
    assert declined["all"]["probes"] == len(probes) and declined["all"]["errors"] == 0
    assert declined["all"]["grounded"] == 1.0  # the pattern check passes it
    assert declined["by_kind"]["unknown"]["through_wrong"] == 0
    assert declined["by_kind"]["fact"]["through_wrong"] == 2  # declining a known fact is wrong

    fake_backend.set(text="An invented answer: 42.")
    blocked = summarize(await run_probes(f"{guard_url}/v1", ["probe-model"], probes, progress=False))["probe-model"]
    assert blocked["all"]["held_or_blocked"] == 1.0 and blocked["all"]["through_wrong"] == 0
    sent = fake_backend.requests[-1].body
    assert sent["model"] == "upstream" and sent["temperature"] == 0


def test_cli_end_to_end(fake_backend, guard_url: str, tmp_path: Path) -> None:
    from guard.knowledge.embedder import Embedder
    from guard.knowledge.index import KnowledgeIndex

    KnowledgeIndex.from_passages(PASSAGES, Embedder()).save(tmp_path / "index")
    fake_backend.set(text="It has 671B total parameters.")
    result = CliRunner().invoke(__import__("guard.cli", fromlist=["main"]).main, [
        "probe", "--model", "probe-model", "--base-url", f"{guard_url}/v1", "--index", str(tmp_path / "index"),
        "--n", "2", "--json", "--out", str(tmp_path / "probe.json"),
    ])
    assert result.exit_code == 0, result.output
    # guard runs in this process here, so its request logs share stdout: the report is the JSON block
    printed = json.loads(result.stdout[result.stdout.index("{\n"):])
    report = printed["probe-model"]
    assert report["all"]["probes"] == 6
    saved = json.loads((tmp_path / "probe.json").read_text())
    assert len(saved["outcomes"]) == 6 and saved["report"] == printed

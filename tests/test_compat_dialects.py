"""guard in front of each OpenAI-compatible server dialect (vLLM, SGLang, llama.cpp, Ollama, LMDeploy,
TensorRT-LLM), stream and non-stream, seen through the official openai SDK.

The fake backend replays each dialect from ``guard.testing.dialects``; the first test pins that
table to the shapes recorded from the servers' sources in tests/fixtures/dialects/<name>/, so the
other tests exercise the real differences: reasoning in ``reasoning_content`` or ``reasoning``,
usage as a separate chunk, on the finish chunk, or only when asked, null-filled deltas, chunks
without a ``finish_reason`` key, and flat or nested error bodies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from guard.api.app import create_app
from guard.settings import Settings
from tests.support import serve_app, write_policies

FIXTURES = Path(__file__).parent / "fixtures" / "dialects"
DIALECTS = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
ANSWER = "Paris."
THOUGHT = "The capital of France."
MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
# relay: no output checks, events pass through; the others have a pattern check, so a stream
# is buffered and replayed (checked), released sentence by sentence, or checked at the end (observe).
MODELS = ["relay-model", "checked-model", "sentence-model", "observe-model"]


def load(dialect: str, name: str) -> Any:
    return json.loads((FIXTURES / dialect / name).read_text(encoding="utf-8"))


def shape(value: Any) -> Any:
    """The structure of a JSON value: keys and value types, not the values themselves."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [shape(v) for v in value[:1]]
    return type(value).__name__


def stream_shapes(chunks: list[dict[str, Any]]) -> list[Any]:
    """Chunk shapes with runs of equal shapes collapsed (the answer's length does not matter)."""
    out: list[Any] = []
    for c in chunks:
        s = shape(c)
        if not out or out[-1] != s:
            out.append(s)
    return out


def sse_chunks(text: str) -> list[dict[str, Any]]:
    lines = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


def speak(fake: Any, dialect: str, **extra: Any) -> None:
    fake.set(dialect=dialect, reasoning="field", reasoning_text=THOUGHT, text=ANSWER, **extra)


@pytest.fixture(scope="module")
def guard_url(_fake_backend_session, tmp_path_factory) -> str:
    policies = write_policies(
        tmp_path_factory.mktemp("policies"),
        {"name": "default"},
        *({"name": mode, "checks": {"patterns": {"deny": ["(?i)forbidden"]}}, "streaming": {"mode": mode}}
          for mode in ("buffer", "sentence", "observe")),
    )
    backend = {"kind": "openai", "model": "upstream-model", "api_base": _fake_backend_session.base_url, "retries": 0}
    settings = Settings.model_validate({
        "models": [
            {"name": "relay-model", "backend": backend},
            {"name": "checked-model", "backend": backend, "policy": "buffer"},
            {"name": "sentence-model", "backend": backend, "policy": "sentence"},
            {"name": "observe-model", "backend": backend, "policy": "observe"},
            # error tests fail on purpose: a breaker that never opens keeps them independent
            # expose_errors: these tests read each dialect's error message back (issue 12 keeps
            # them from clients by default; tests/security/test_error_bodies.py checks that)
            {"name": "error-model", "backend": {**backend, "breaker": {"failures": 1_000_000}, "expose_errors": True}},
        ],
        "policies_dir": str(policies),
    })
    with serve_app(create_app(settings)) as url:
        yield url


@pytest.fixture
def client(guard_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{guard_url}/v1", api_key="unused", max_retries=0, timeout=20)


# ---- the fake backend speaks what the servers speak ------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_fake_backend_replays_recorded_shapes(fake_backend, dialect: str) -> None:
    speak(fake_backend, dialect)
    url = f"{fake_backend.base_url}/chat/completions"
    whole = httpx.post(url, json={"model": "m", "messages": MESSAGES}).json()
    assert shape(whole) == shape(load(dialect, "chat.json"))

    r = httpx.post(url, json={"model": "m", "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}})
    assert stream_shapes(sse_chunks(r.text)) == stream_shapes(load(dialect, "stream.json"))

    error = load(dialect, "error.json")
    fake_backend.set(fault="status", status=error["status"], error_message="boom")
    r = httpx.post(url, json={"model": "m", "messages": MESSAGES})
    assert r.status_code == error["status"]
    assert shape(r.json()) == shape(error["body"])


# ---- guard turns every dialect into OpenAI shapes ---------------------------------------------


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("dialect", DIALECTS)
def test_non_stream_through_guard(fake_backend, client: openai.OpenAI, dialect: str, model: str) -> None:
    speak(fake_backend, dialect)
    out = client.chat.completions.create(model=model, messages=MESSAGES)
    choice = out.choices[0]
    assert out.model == model
    assert choice.message.content == ANSWER
    assert choice.finish_reason == "stop"
    extra = choice.message.model_extra or {}
    assert extra.get("reasoning_content") == THOUGHT
    assert "reasoning" not in extra  # Ollama's field name is normalised
    assert out.usage is not None and out.usage.completion_tokens > 0
    assert fake_backend.requests[-1].body["model"] == "upstream-model"


def _stream(client: openai.OpenAI, model: str, include_usage: bool) -> list[Any]:
    options = {"include_usage": True} if include_usage else None
    return list(client.chat.completions.create(model=model, messages=MESSAGES, stream=True, stream_options=options))


def _joined(chunks: list[Any], field: str) -> str:
    parts = []
    for c in chunks:
        for choice in c.choices:
            value = getattr(choice.delta, field, None) if field == "content" else (choice.delta.model_extra or {}).get(field)
            parts.append(value or "")
    return "".join(parts)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("dialect", DIALECTS)
def test_stream_through_guard(fake_backend, client: openai.OpenAI, dialect: str, model: str) -> None:
    speak(fake_backend, dialect)
    chunks = _stream(client, model, include_usage=True)
    assert _joined(chunks, "content") == ANSWER
    assert _joined(chunks, "reasoning") == ""
    finishes = [ch.finish_reason for c in chunks for ch in c.choices if ch.finish_reason]
    assert finishes == ["stop"]
    assert all(c.model == model for c in chunks)
    usages = [c.usage for c in chunks if c.usage is not None]
    assert len(usages) == 1 and usages[0].completion_tokens > 0


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("dialect", DIALECTS)
def test_stream_keeps_reasoning_apart(fake_backend, client: openai.OpenAI, dialect: str, model: str) -> None:
    """Policy reasoning.client is keep (the default): the thinking reaches the client, as
    reasoning_content, in every streaming mode - never inside the answer."""
    speak(fake_backend, dialect)
    chunks = _stream(client, model, include_usage=False)
    assert _joined(chunks, "content") == ANSWER
    assert _joined(chunks, "reasoning_content") == THOUGHT


@pytest.mark.parametrize("dialect", ["llamacpp", "ollama"])
def test_think_tags_are_split(fake_backend, client: openai.OpenAI, dialect: str) -> None:
    """llama.cpp with --reasoning-format none and Ollama without think support inline <think>."""
    fake_backend.set(dialect=dialect, reasoning="think", reasoning_text=THOUGHT, text=ANSWER)
    out = client.chat.completions.create(model="relay-model", messages=MESSAGES)
    assert out.choices[0].message.content == ANSWER
    assert (out.choices[0].message.model_extra or {}).get("reasoning_content") == THOUGHT
    chunks = _stream(client, "relay-model", include_usage=False)
    assert _joined(chunks, "content") == ANSWER
    assert _joined(chunks, "reasoning_content") == THOUGHT


@pytest.mark.parametrize("dialect", DIALECTS)
def test_usage_not_requested(fake_backend, client: openai.OpenAI, dialect: str) -> None:
    """Without include_usage the stream still parses; servers that always send usage (llama.cpp)
    may pass it on, the others must not invent it."""
    speak(fake_backend, dialect)
    chunks = _stream(client, "relay-model", include_usage=False)
    assert _joined(chunks, "content") == ANSWER
    if dialect != "llamacpp":
        assert all(c.usage is None for c in chunks)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_backend_error_bodies_become_openai_errors(fake_backend, guard_url: str, dialect: str) -> None:
    error = load(dialect, "error.json")
    message = "backend says no: " + dialect
    fake_backend.set(dialect=dialect, fault="status", status=error["status"], error_message=message)
    client = openai.OpenAI(base_url=f"{guard_url}/v1", api_key="unused", max_retries=0)
    for stream in (False, True):
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(model="error-model", messages=MESSAGES, stream=stream)
        body = info.value.response.json()
        assert set(body["error"]) == {"message", "type", "param", "code"}
        assert message in body["error"]["message"]
        if error["status"] == 400:
            assert info.value.status_code == 400 and isinstance(info.value, openai.BadRequestError)
        else:
            assert info.value.status_code >= 400


@pytest.mark.parametrize("dialect", DIALECTS)
def test_backend_server_error_is_bad_gateway(fake_backend, client: openai.OpenAI, dialect: str) -> None:
    fake_backend.set(dialect=dialect, fault="status", status=500, error_message="engine crashed")
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="error-model", messages=MESSAGES)
    assert info.value.status_code == 502
    assert "engine crashed" in info.value.response.json()["error"]["message"]


def test_extra_sampling_parameters_reach_the_backend(fake_backend, client: openai.OpenAI) -> None:
    """Backend-specific parameters (vLLM/SGLang top_k, min_p, repetition_penalty, guided decoding,
    chat_template_kwargs; LMDeploy enable_thinking) pass through untouched."""
    extra = {
        "top_k": 20, "min_p": 0.05, "repetition_penalty": 1.1,
        "chat_template_kwargs": {"enable_thinking": False}, "guided_json": {"type": "object"},
        "enable_thinking": False,
    }
    client.chat.completions.create(model="relay-model", messages=MESSAGES, extra_body=extra)
    body = fake_backend.requests[-1].body
    assert {k: body.get(k) for k in extra} == extra


def test_completions_endpoint_stream_usage(fake_backend, client: openai.OpenAI) -> None:
    fake_backend.set(dialect="vllm", text=ANSWER)
    chunks = list(client.completions.create(
        model="relay-model", prompt="Capital of France:", stream=True, stream_options={"include_usage": True}
    ))
    assert "".join(ch.text for c in chunks for ch in c.choices) == ANSWER
    assert [c.usage.completion_tokens for c in chunks if c.usage] == [1]

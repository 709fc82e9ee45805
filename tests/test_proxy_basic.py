"""The official openai SDK against guard on loopback, in front of the fake backend."""

from __future__ import annotations

import httpx
import pytest
from openai import OpenAI

from tests.support import run_guard, settings_for, write_policies


@pytest.fixture
def proxy(fake_backend, tmp_path):
    write_policies(tmp_path / "policies", {"name": "default"})
    with run_guard(settings_for(fake_backend.base_url, tmp_path / "policies")) as base:
        yield base


def client(base: str) -> OpenAI:
    return OpenAI(base_url=base, api_key="unused", max_retries=0)


def test_chat_non_stream_relays_answer_usage_and_upstream_model(proxy, fake_backend):
    fake_backend.set(text="Paris is the capital of France.")
    r = client(proxy).chat.completions.create(model="test-model", messages=[{"role": "user", "content": "Capital of France?"}])
    assert r.choices[0].message.content == "Paris is the capital of France."
    assert r.model == "test-model"  # the public name, not the upstream one
    assert r.usage.completion_tokens > 0 and r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert fake_backend.requests[-1].body["model"] == "upstream-model"
    assert r.model_extra["guard"]["policy"] == "default"


def test_chat_stream_with_usage_is_parsed_by_the_sdk(proxy, fake_backend):
    fake_backend.set(tokens=12)
    stream = client(proxy).chat.completions.create(
        model="test-model", messages=[{"role": "user", "content": "hi"}], stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text.split()) == 12
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 12


def test_raw_sse_is_openai_framed(proxy, fake_backend):
    fake_backend.set(tokens=3)
    with httpx.stream("POST", f"{proxy}/chat/completions", json={"model": "test-model", "stream": True, "messages": [{"role": "user", "content": "x"}]}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        body = r.read().decode()
    events = [e for e in body.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"


def test_legacy_completions_stream_and_non_stream(proxy, fake_backend):
    c = client(proxy)
    r = c.completions.create(model="test-model", prompt="Once upon", max_tokens=5)
    assert len(r.choices[0].text.split()) == 5
    assert fake_backend.requests[-1].path == "/v1/completions"
    chunks = list(c.completions.create(model="test-model", prompt="Once", max_tokens=4, stream=True, stream_options={"include_usage": True}))
    assert "".join(ch.choices[0].text for ch in chunks if ch.choices).split().__len__() == 4
    assert chunks[-1].usage.completion_tokens == 4


def test_models_health_and_ready(proxy):
    models = client(proxy).models.list()
    assert [m.id for m in models.data] == ["test-model"]
    root = proxy.removesuffix("/v1")
    assert httpx.get(f"{root}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{root}/readyz")
    assert ready.status_code == 200 and ready.json()["backends"]["test-model"] == "ok"


def test_request_id_is_honoured_and_returned(proxy, fake_backend):
    r = httpx.post(f"{proxy}/chat/completions", headers={"x-request-id": "abc-123"}, json={"model": "test-model", "messages": [{"role": "user", "content": "x"}]})
    assert r.headers["x-request-id"] == "abc-123"
    assert r.json()["guard"]["request_id"] == "abc-123"
    assert fake_backend.requests[-1].headers["x-request-id"] == "abc-123"
    r2 = httpx.post(f"{proxy}/chat/completions", headers={"x-request-id": "bad id with spaces"}, json={"model": "test-model", "messages": [{"role": "user", "content": "x"}]})
    assert r2.headers["x-request-id"] != "bad id with spaces" and len(r2.headers["x-request-id"]) == 32


def test_quick_start_passes_any_model_name_and_lists_backend_models(fake_backend):
    from guard.commands.serve import quick_settings

    with run_guard(quick_settings(fake_backend.base_url, None, "127.0.0.1", 0, "*")) as base:
        c = client(base)
        r = c.chat.completions.create(model="whatever-7b", messages=[{"role": "user", "content": "x"}])
        assert r.model == "whatever-7b"
        assert fake_backend.requests[-1].body["model"] == "whatever-7b"
        assert [m.id for m in c.models.list().data] == ["fake-model"]


def test_litellm_backend_kind_reaches_the_backend(fake_backend, monkeypatch):
    """``kind: litellm`` (for providers without the OpenAI protocol) goes through litellm the library."""
    from guard.settings import Settings

    monkeypatch.setenv("GUARD_TEST_PROVIDER_KEY", "sk-test-key")
    settings = Settings.model_validate({
        "models": [{"name": "via-litellm", "backend": {"kind": "litellm", "model": "openai/upstream-x", "api_base": fake_backend.base_url, "api_key_env": "GUARD_TEST_PROVIDER_KEY", "retries": 0}}],
    })
    fake_backend.set(text="Hello from litellm.")
    with run_guard(settings) as base:
        c = client(base)
        r = c.chat.completions.create(model="via-litellm", messages=[{"role": "user", "content": "hi"}], temperature=0.3)
        assert r.choices[0].message.content == "Hello from litellm."
        assert r.model == "via-litellm"
        sent = fake_backend.requests[-1].body
        assert sent["model"] == "upstream-x" and sent["temperature"] == 0.3
        assert fake_backend.requests[-1].headers["authorization"] == "Bearer sk-test-key"
        chunks = list(c.chat.completions.create(model="via-litellm", messages=[{"role": "user", "content": "hi"}], stream=True))
        assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == "Hello from litellm."
        fake_backend.set(fault="status", status=500)
        err = httpx.post(f"{base}/chat/completions", json={"model": "via-litellm", "messages": [{"role": "user", "content": "hi"}]})
        assert err.status_code == 502 and err.json()["error"]["type"] == "server_error"

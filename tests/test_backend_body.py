"""What a backend receives and what a dead one makes clients do: text parts joined for backends
that cannot render them, usage asked for on every stream, and the breaker's retry-after."""

from __future__ import annotations

import httpx
import pytest

from tests.support import run_guard, settings_for

PARTS = [{"type": "text", "text": "What is"}, {"type": "text", "text": "the capital of France?"}]


def settings(fake_backend, **backend):
    s = settings_for(fake_backend.base_url)
    for k, v in backend.items():
        setattr(s.models[0].backend, k, v)
    return s


def ask(base, **body):
    return httpx.post(f"{base}/chat/completions", json={"model": "test-model", **body}, timeout=10)


def test_text_parts_are_joined_when_configured(fake_backend) -> None:
    with run_guard(settings(fake_backend, flatten_text_parts=True)) as base:
        image = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]
        messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": PARTS}, {"role": "user", "content": image}]
        assert ask(base, messages=messages).status_code == 200
        sent = fake_backend.requests[-1].body["messages"]
        assert sent[0]["content"] == "Be brief."
        assert sent[1]["content"] == "What is\nthe capital of France?"
        assert sent[2]["content"] == image  # not text only: left for the backend
        assert ask(base, messages=[{"role": "user", "content": PARTS}], stream=True).status_code == 200
        assert fake_backend.requests[-1].body["messages"][0]["content"] == "What is\nthe capital of France?"


def test_text_parts_pass_through_by_default(fake_backend) -> None:
    with run_guard(settings(fake_backend)) as base:
        assert ask(base, messages=[{"role": "user", "content": PARTS}]).status_code == 200
        assert fake_backend.requests[-1].body["messages"][0]["content"] == PARTS


def test_the_embedded_default_joins_text_parts() -> None:
    from pathlib import Path

    from guard.settings import load_settings

    config = load_settings(Path(__file__).resolve().parent.parent / "guard.yaml")
    assert all(m.backend.flatten_text_parts for m in config.models)


def test_usage_is_asked_for_on_every_stream_and_kept_from_clients_that_did_not(fake_backend) -> None:
    with run_guard(settings(fake_backend)) as base:
        r = ask(base, messages=[{"role": "user", "content": "hi"}], stream=True)
        assert fake_backend.requests[-1].body["stream_options"] == {"include_usage": True}
        assert b'"choices":[]' not in r.content and b'"usage":{' not in r.content
    with run_guard(settings(fake_backend, stream_usage=False)) as base:
        ask(base, messages=[{"role": "user", "content": "hi"}], stream=True)
        assert "stream_options" not in fake_backend.requests[-1].body


@pytest.mark.parametrize("breaker, retry_after, should_retry", [
    ({}, "1", None),  # the default: short, so an SDK's retries end quickly
    ({"retry_after_s": None}, "60", None),  # the remaining cool-down
    ({"retry_after_s": 5, "client_retry": False}, "5", "false"),
])
def test_an_open_circuit_says_when_to_retry(fake_backend, breaker, retry_after, should_retry) -> None:
    s = settings_for("http://127.0.0.1:9/v1")
    s.models[0].backend.breaker = s.models[0].backend.breaker.model_validate({"failures": 1, "cooldown_s": 60, **breaker})
    with run_guard(s) as base:
        assert ask(base, messages=[{"role": "user", "content": "hi"}]).status_code == 502
        r = ask(base, messages=[{"role": "user", "content": "hi"}])
        assert r.status_code == 503 and r.json()["error"]["code"] == "backend_circuit_open"
        assert r.headers["retry-after"] == retry_after
        assert r.headers.get("x-should-retry") == should_retry


def test_an_sdk_does_not_retry_when_told_not_to(fake_backend) -> None:
    import openai

    s = settings_for("http://127.0.0.1:9/v1")
    s.models[0].backend.breaker = s.models[0].backend.breaker.model_validate({"failures": 1, "client_retry": False})
    with run_guard(s) as base:
        ask(base, messages=[{"role": "user", "content": "hi"}])  # opens the circuit
        seen = []
        client = openai.OpenAI(base_url=base, api_key="x", max_retries=2, http_client=httpx.Client(event_hooks={"response": [seen.append]}))
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="test-model", messages=[{"role": "user", "content": "hi"}])
        assert [r.status_code for r in seen] == [503]  # one attempt, no retries

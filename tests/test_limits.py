"""Request limits: body size, message count and length, per-key rate and concurrency."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from guard.api.app import create_app
from guard.errors import RateLimited
from guard.limits import KeyLimiter
from guard.settings import Settings, hash_key
from tests.support import FakeClock, serve_app

CHAT = "/v1/chat/completions"
ASK = [{"role": "user", "content": "hi"}]



# ---------------------------------------------------------------- the limiter itself


def test_token_bucket_allows_a_burst_then_refills_at_the_rate():
    clock = FakeClock(1000.0)
    limiter = KeyLimiter(clock)
    for _ in range(3):
        limiter.admit("k", 3, None).release()
    with pytest.raises(RateLimited) as e:
        limiter.admit("k", 3, None)
    assert e.value.headers["retry-after"] == "20"  # 3 per minute: one every 20 s
    clock.t += 19.0
    with pytest.raises(RateLimited):
        limiter.admit("k", 3, None)
    clock.t += 1.0
    limiter.admit("k", 3, None).release()
    limiter.admit("other", 3, None).release()  # keys do not share buckets


def test_concurrency_slots_are_released_once():
    limiter = KeyLimiter(FakeClock())
    a = limiter.admit("k", None, 2)
    limiter.admit("k", None, 2)
    with pytest.raises(RateLimited) as e:
        limiter.admit("k", None, 2)
    assert e.value.code == "concurrency_limit_exceeded"
    a.release()
    a.release()  # twice: still only one slot freed
    assert limiter.in_flight("k") == 1
    limiter.admit("k", None, 2)
    with pytest.raises(RateLimited):
        limiter.admit("k", None, 2)


def test_a_request_refused_for_concurrency_does_not_spend_a_rate_token():
    clock = FakeClock(1000.0)
    limiter = KeyLimiter(clock)
    held = limiter.admit("k", 1, 1)
    with pytest.raises(RateLimited) as e:
        limiter.admit("k", 1, 1)
    assert e.value.code == "concurrency_limit_exceeded"
    held.release()
    clock.t += 60
    limiter.admit("k", 1, 1)  # the bucket refilled to its single token and it is still there


# ---------------------------------------------------------------- through guard


def keyed_settings(url: str, **limits: Any) -> Settings:
    return Settings.model_validate({
        "models": [{"name": "m", "backend": {"kind": "openai", "model": "up", "api_base": url, "retries": 0}}],
        "auth": {"mode": "keys", "keys": [
            {"hash": hash_key("sk-limited"), "tenant": "a", **limits},
            {"hash": hash_key("sk-free"), "tenant": "b"},
        ]},
        "limits": {"max_body_bytes": 20_000, "max_messages": 3, "max_message_chars": 1000},
    })


def post(base: str, key: str, timeout: float = 15, **body: Any) -> httpx.Response:
    payload = {"model": "m", "messages": ASK, **body}
    return httpx.post(base + CHAT, json=payload, headers={"authorization": f"Bearer {key}"}, timeout=timeout)


def test_rate_limit_gives_429_with_retry_after(fake_backend):
    with serve_app(create_app(keyed_settings(fake_backend.base_url, rate_per_minute=2))) as base:
        assert post(base, "sk-limited").status_code == 200
        assert post(base, "sk-limited").status_code == 200
        r = post(base, "sk-limited")
        assert r.status_code == 429
        assert r.json()["error"]["code"] == "rate_limit_exceeded"
        assert 25 <= int(r.headers["retry-after"]) <= 30
        assert len(fake_backend.requests) == 2
        assert post(base, "sk-free").status_code == 200  # other keys are not affected


def test_concurrency_limit_gives_429_while_a_stream_is_in_flight(fake_backend):
    with serve_app(create_app(keyed_settings(fake_backend.base_url, max_concurrent=1))) as base:
        done: dict[str, Any] = {}

        def slow_stream() -> None:
            done["r"] = post(base, "sk-limited", stream=True, fake={"tokens": 10, "tpot_ms": 100})

        t = threading.Thread(target=slow_stream)
        t.start()
        time.sleep(0.4)  # the stream is mid-way
        r = post(base, "sk-limited")
        assert r.status_code == 429
        assert r.json()["error"]["code"] == "concurrency_limit_exceeded"
        assert r.headers["retry-after"] == "1"
        assert post(base, "sk-free").status_code == 200
        t.join(10)
        assert done["r"].status_code == 200 and done["r"].text.endswith("data: [DONE]\n\n")
        assert post(base, "sk-limited").status_code == 200  # the slot came back with the last byte


def test_concurrency_slot_is_freed_by_a_client_disconnect_and_a_backend_error(fake_backend):
    with serve_app(create_app(keyed_settings(fake_backend.base_url, max_concurrent=1))) as base:
        body = {"model": "m", "messages": ASK, "stream": True, "fake": {"tokens": 100, "tpot_ms": 50}}
        headers = {"authorization": "Bearer sk-limited"}
        with httpx.Client(timeout=10) as c, c.stream("POST", base + CHAT, json=body, headers=headers) as r:
            next(line for line in r.iter_lines() if "Lorem" in line)
        deadline = time.monotonic() + 3  # the disconnect reaches guard within milliseconds
        while (r := post(base, "sk-limited")).status_code == 429 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert r.status_code == 200
        assert post(base, "sk-limited", fake={"fault": "status", "status": 500}).status_code == 502
        assert post(base, "sk-limited").status_code == 200


# ---------------------------------------------------------------- body and messages


def test_body_size_message_count_and_length_limits(fake_backend):
    with serve_app(create_app(keyed_settings(fake_backend.base_url))) as base:
        r = post(base, "sk-free", messages=[{"role": "user", "content": "x" * 30_000}])
        assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
        r = post(base, "sk-free", messages=[{"role": "user", "content": "x"}] * 4)
        assert r.status_code == 400 and r.json()["error"]["code"] == "too_many_messages"
        r = post(base, "sk-free", messages=[{"role": "user", "content": "x" * 1500}])
        assert r.status_code == 413 and r.json()["error"]["param"] == "messages"
        assert len(fake_backend.requests) == 0
        assert post(base, "sk-free").status_code == 200


def test_body_over_the_limit_without_content_length_is_refused(fake_backend):
    with serve_app(create_app(keyed_settings(fake_backend.base_url))) as base:

        def chunks():
            for _ in range(30):
                yield b"x" * 1000

        r = httpx.post(base + CHAT, content=chunks(), headers={"authorization": "Bearer sk-free"})
        assert r.status_code == 413
        assert post(base, "sk-free").status_code == 200

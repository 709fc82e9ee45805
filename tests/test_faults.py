"""Backend faults reproduced against the fake backend, through a real guard on loopback.

Each test asserts what the client gets, exactly, and that the proxy serves the next request.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson
import pytest

from guard.api.app import create_app
from guard.settings import Settings
from tests.support import FakeClock, free_port, serve_app

CHAT = "/v1/chat/completions"
ASK = [{"role": "user", "content": "What is the capital of France?"}]


def model(name: str, url: str, *, fallbacks: list[str] | None = None, **backend: Any) -> dict[str, Any]:
    return {
        "name": name,
        "backend": {"kind": "openai", "model": "upstream-model", "api_base": url, "retries": 0, **backend},
        "fallbacks": fallbacks or [],
    }


def guard_for(*models: dict[str, Any]):
    return serve_app(create_app(Settings.model_validate({"models": list(models)})))


def chat(base: str, name: str = "m", timeout: float = 15, **body: Any) -> httpx.Response:
    return httpx.post(base + CHAT, json={"model": name, "messages": ASK, **body}, timeout=timeout)


def events(r: httpx.Response) -> list[Any]:
    """The ``data:`` payloads of an SSE body, JSON-decoded except ``[DONE]``."""
    out = []
    for block in r.text.split("\n\n"):
        if block.startswith("data: "):
            payload = block[len("data: "):]
            out.append(payload if payload == "[DONE]" else orjson.loads(payload))
    return out


def assert_serves(base: str, name: str = "m") -> None:
    r = chat(base, name)
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"]


def error_of(r: httpx.Response) -> dict[str, Any]:
    return r.json()["error"]


# ---------------------------------------------------------------- timeouts


@pytest.mark.parametrize("stream", [False, True])
def test_hung_backend_gives_504_within_the_read_timeout(fake_backend, stream):
    with guard_for(model("m", fake_backend.base_url, timeouts={"read": 0.5})) as base:
        started = time.monotonic()
        r = chat(base, stream=stream, fake={"fault": "hang"})
        elapsed = time.monotonic() - started
        assert r.status_code == 504
        assert error_of(r)["code"] == "backend_timeout"
        assert 0.4 < elapsed < 2.5
        assert_serves(base)


def test_total_timeout_ends_a_slow_stream_with_an_error_event(fake_backend):
    # 20 tokens at 100 ms each take 2 s; the total budget is 0.8 s. Each gap is under the read timeout.
    with guard_for(model("m", fake_backend.base_url, timeouts={"total": 0.8, "read": 5})) as base:
        started = time.monotonic()
        r = chat(base, stream=True, fake={"tokens": 20, "tpot_ms": 100})
        assert time.monotonic() - started < 2.0
        assert r.status_code == 200
        got = events(r)
        assert got[-1]["error"]["code"] == "backend_timeout"
        assert "[DONE]" not in got
        assert_serves(base)


def test_timeouts_are_per_model(fake_backend):
    quick = model("quick", fake_backend.base_url, timeouts={"read": 0.3})
    patient = model("patient", fake_backend.base_url, timeouts={"read": 5})
    with guard_for(quick, patient) as base:
        assert chat(base, "quick", fake={"ttft_ms": 800}).status_code == 504
        assert chat(base, "patient", fake={"ttft_ms": 800}).status_code == 200


@pytest.fixture
def blackhole():
    """A port whose accept queue is full: connecting to it hangs until the connect timeout."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
    time.sleep(0.1)
    yield f"http://127.0.0.1:{port}/v1"
    for s in [*fillers, server]:
        s.close()


def test_connect_timeout_gives_504_and_the_fallback_serves(fake_backend, blackhole):
    slow = model("slow", blackhole, timeouts={"connect": 0.5, "read": 30}, fallbacks=["spare"])
    alone = model("alone", blackhole, timeouts={"connect": 0.5, "read": 30})
    with guard_for(slow, alone, model("spare", fake_backend.base_url)) as base:
        started = time.monotonic()
        r = chat(base, "alone")
        assert r.status_code == 504 and error_of(r)["code"] == "backend_timeout"
        assert time.monotonic() - started < 2
        r = chat(base, "slow")
        assert r.status_code == 200 and r.json()["guard"]["served_by"] == "spare"


def test_a_timeout_is_not_retried_on_the_same_backend(fake_backend):
    with guard_for(model("m", fake_backend.base_url, retries=2, timeouts={"read": 0.3})) as base:
        assert chat(base, fake={"fault": "hang"}).status_code == 504
        assert len(fake_backend.requests) == 1


# ---------------------------------------------------------------- broken answers


def test_drop_mid_stream_gives_an_error_event_and_a_closed_stream(fake_backend):
    with guard_for(model("m", fake_backend.base_url)) as base:
        r = chat(base, stream=True, fake={"fault": "drop", "tokens": 10, "drop_after": 4})
        assert r.status_code == 200
        got = events(r)
        text = "".join(e["choices"][0]["delta"].get("content") or "" for e in got[:-1])
        assert text == "Lorem ipsum dolor sit"  # what was relayed before the drop
        assert got[-1] == {
            "error": {"message": "backend 'm' dropped the connection", "type": "server_error", "param": None, "code": "backend_error"}
        }
        assert "[DONE]" not in got
        assert_serves(base)


def test_drop_of_a_whole_answer_gives_502(fake_backend):
    with guard_for(model("m", fake_backend.base_url)) as base:
        r = chat(base, fake={"fault": "drop"})
        assert r.status_code == 502
        assert error_of(r)["type"] == "server_error"
        assert_serves(base)


def test_garbage_json_gives_502(fake_backend):
    with guard_for(model("m", fake_backend.base_url)) as base:
        r = chat(base, fake={"fault": "garbage"})
        assert r.status_code == 502
        assert error_of(r) == {
            "message": "backend 'm' sent a body that is not JSON", "type": "server_error", "param": None, "code": "backend_error"
        }
        assert_serves(base)


def test_broken_sse_gives_an_error_event(fake_backend):
    with guard_for(model("m", fake_backend.base_url)) as base:
        r = chat(base, stream=True, fake={"fault": "garbage"})
        got = events(r)
        assert got[-1]["error"]["message"] == "backend 'm' sent a malformed stream event"
        assert "[DONE]" not in got
        assert_serves(base)


@pytest.mark.parametrize("style", ["dialect", "plain", "html"])
def test_backend_500_gives_502_without_its_message(fake_backend, style):
    """The backend's own words can name internal hosts or keys: logged, not relayed (issue 12)."""
    with guard_for(model("m", fake_backend.base_url)) as base:
        r = chat(base, fake={"fault": "status", "status": 500, "error_style": style, "error_message": "CUDA out of memory"})
        assert r.status_code == 502
        assert "answered 500" in error_of(r)["message"] and "CUDA out of memory" not in error_of(r)["message"]
        assert_serves(base)


def test_backend_429_stays_429_with_retry_after(fake_backend):
    with guard_for(model("m", fake_backend.base_url, retries=2)) as base:
        r = chat(base, fake={"fault": "status", "status": 429})
        assert r.status_code == 429
        assert r.headers["retry-after"] == "1"
        assert error_of(r)["code"] == "rate_limit_exceeded"
        assert len(fake_backend.requests) == 1  # not retried: the backend asked to slow down
        assert_serves(base)


def test_connection_refused_gives_502(fake_backend):
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with guard_for(model("dead", dead), model("m", fake_backend.base_url)) as base:
        r = chat(base, "dead")
        assert r.status_code == 502
        assert error_of(r)["code"] == "backend_unreachable"
        assert_serves(base)


# ---------------------------------------------------------------- retries and fallbacks


def test_a_500_is_retried_with_backoff(fake_backend):
    with guard_for(model("m", fake_backend.base_url, retries=2)) as base:
        r = chat(base, fake={"fault": "status", "status": 503})
        assert r.status_code == 502
        assert len(fake_backend.requests) == 3


@pytest.mark.parametrize("stream", [False, True])
def test_fallback_serves_when_the_first_backend_is_down(fake_backend, stream):
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with guard_for(model("main", dead, fallbacks=["spare"]), model("spare", fake_backend.base_url)) as base:
        r = chat(base, "main", stream=stream)
        assert r.status_code == 200
        if stream:
            got = events(r)
            assert got[-1] == "[DONE]"
            assert all(e["model"] == "main" for e in got[:-1])
        else:
            assert r.json()["model"] == "main"
            assert r.json()["guard"]["served_by"] == "spare"


def test_no_fallback_once_the_stream_has_started(fake_backend):
    with guard_for(model("main", fake_backend.base_url, fallbacks=["spare"]), model("spare", fake_backend.base_url)) as base:
        r = chat(base, "main", stream=True, fake={"fault": "drop", "tokens": 8})
        assert events(r)[-1]["error"]["code"] == "backend_error"
        assert len(fake_backend.requests) == 1  # part of the answer was out: nothing is retried


# ---------------------------------------------------------------- circuit breaker


def test_breaker_opens_answers_503_fast_and_recovers(fake_backend):
    m = model("m", fake_backend.base_url, breaker={"failures": 2, "cooldown_s": 1.0})
    with guard_for(m) as base:
        fake_backend.set(fault="status", status=500)
        assert chat(base).status_code == 502
        assert chat(base).status_code == 502
        started = time.monotonic()
        r = chat(base)
        assert time.monotonic() - started < 0.5  # no backend call: well under any backend wait
        assert r.status_code == 503
        assert error_of(r)["code"] == "backend_circuit_open"
        assert r.headers["retry-after"] == "1"
        assert len(fake_backend.requests) == 2  # the third never reached the backend

        ready = httpx.get(base + "/readyz")
        assert ready.status_code == 503
        assert ready.json()["backends"]["m"].startswith("circuit open after 2 failures")
        metrics = httpx.get(base + "/metrics").text
        assert 'guard_backend_circuit_state{backend="m"} 2.0' in metrics

        fake_backend.reset()
        time.sleep(1.1)  # cool-down over: one trial goes through, succeeds, and closes the breaker
        assert_serves(base)
        assert httpx.get(base + "/readyz").status_code == 200
        assert_serves(base)


def test_open_breaker_sends_requests_to_the_fallback(fake_backend):
    dead = f"http://127.0.0.1:{free_port()}/v1"
    main = model("main", dead, fallbacks=["spare"], breaker={"failures": 1, "cooldown_s": 60})
    with guard_for(main, model("spare", fake_backend.base_url)) as base:
        for _ in range(3):
            r = chat(base, "main")
            assert r.status_code == 200 and r.json()["guard"]["served_by"] == "spare"
        ready = httpx.get(base + "/readyz").json()
        assert ready["status"] == "ready"  # the spare serves
        assert ready["backends"]["main"].startswith("circuit open")


def test_a_400_does_not_open_the_breaker(fake_backend):
    with guard_for(model("m", fake_backend.base_url, breaker={"failures": 1, "cooldown_s": 60})) as base:
        r = chat(base, fake={"fault": "status", "status": 400})
        assert r.status_code == 400
        assert_serves(base)


# ---------------------------------------------------------------- client disconnect


def test_client_disconnect_cancels_the_backend_request(fake_backend):
    with guard_for(model("m", fake_backend.base_url)) as base:
        body = {"model": "m", "messages": ASK, "stream": True, "fake": {"tokens": 200, "tpot_ms": 50}}
        with httpx.Client(timeout=10) as client, client.stream("POST", base + CHAT, json=body) as r:
            assert r.status_code == 200
            lines = r.iter_lines()
            for line in lines:
                if line.startswith("data: ") and "Lorem" in line:
                    break
        # The client is gone after ~1 token of a 10 s answer; the backend must see it go too.
        deadline = time.monotonic() + 3
        while fake_backend.requests[-1].outcome != "client_disconnected" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fake_backend.requests[-1].outcome == "client_disconnected"
        assert_serves(base)
        metrics = httpx.get(base + "/metrics").text
        assert 'status="499",stream="true"' in metrics


# ---------------------------------------------------------------- the breaker alone



def test_breaker_states_with_a_fake_clock():
    from guard.backend.breaker import CircuitBreaker

    clock = FakeClock(100.0)
    b = CircuitBreaker(failures=3, cooldown_s=10, clock=clock)
    b.failure()
    b.failure()
    b.success()  # not consecutive any more
    b.failure()
    b.failure()
    assert b.allow() and b.status().state == "closed"
    b.failure()
    assert b.status().state == "open" and not b.allow()
    clock.t += 4
    b.failure()  # a request sent before it opened, failing late: the cool-down is not extended
    assert b.status().retry_in_s == 6
    clock.t += 6
    assert b.status().state == "half_open"
    assert b.allow()  # the one trial
    assert not b.allow()  # nobody else while it runs
    b.failure()  # the trial failed: a fresh cool-down
    assert b.status().state == "open" and b.status().retry_in_s == 10
    clock.t += 10
    assert b.allow()
    b.abandon()  # the trial's client went away: another may try
    assert b.allow()
    b.success()
    assert b.status().state == "closed" and b.allow() and b.allow()

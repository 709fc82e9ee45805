"""Issue 12, Low items: what guard tells clients about its backend, and when it stops asking.

The attacks: a backend error body that carries an internal address and a token; a backend that
cannot be reached at a private address; a client that hangs up while a non-stream or
buffer-mode answer is still being generated.
"""

from __future__ import annotations

import time

import httpx
import pytest

from guard.settings import Settings
from tests.security.sec_support import chat, serve_guard, settings
from tests.support import free_port

SECRET = "upstream http://10.20.30.40:8001/generate failed; token=sk-internal-7f3a"


def _with_backend(s: Settings, **backend) -> Settings:
    data = s.model_dump()
    data["models"][0]["backend"].update(backend)
    return Settings.model_validate(data)


@pytest.mark.parametrize("status", [500, 400, 404, 429])
def test_a_backend_error_body_is_logged_not_relayed(fake_backend, tmp_path, capfd, status):
    with serve_guard(settings(fake_backend.base_url, tmp_path)) as (base, _):
        r = chat(base, fake={"fault": "status", "status": status, "error_message": SECRET})
        assert r.status_code == {500: 502}.get(status, status)
        assert "10.20.30.40" not in r.text and "sk-internal" not in r.text
        assert r.json()["error"]["message"]  # still says what happened, briefly
    assert "sk-internal-7f3a" in capfd.readouterr().out  # the operator has it in the log


def test_a_stream_error_body_is_not_relayed(fake_backend, tmp_path):
    with serve_guard(settings(fake_backend.base_url, tmp_path)) as (base, _):
        r = chat(base, stream=True, fake={"fault": "status", "status": 503, "error_message": SECRET})
        assert "10.20.30.40" not in r.text and "sk-internal" not in r.text


def test_the_operator_can_choose_to_relay_them(fake_backend, tmp_path):
    s = _with_backend(settings(fake_backend.base_url, tmp_path), expose_errors=True)
    with serve_guard(s) as (base, _):
        r = chat(base, fake={"fault": "status", "status": 400, "error_message": "top_k must be positive"})
        assert r.status_code == 400 and "top_k must be positive" in r.json()["error"]["message"]


def test_an_unreachable_backend_address_is_not_told(fake_backend, tmp_path):
    port = free_port()
    s = settings(f"http://127.0.0.1:{port}/v1", tmp_path)
    with serve_guard(s) as (base, _):
        r = chat(base)
        assert r.status_code == 502 and r.json()["error"]["code"] == "backend_unreachable"
        assert str(port) not in r.text and "Errno" not in r.text  # the OS's words stay in the log


def _wait_for_outcome(fake_backend, outcome: str, seconds: float = 4) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if fake_backend.requests and fake_backend.requests[-1].outcome == outcome:
            break
        time.sleep(0.05)
    return fake_backend.requests[-1].outcome if fake_backend.requests else "none"


def test_a_non_stream_client_that_leaves_stops_the_backend(fake_backend, tmp_path):
    with serve_guard(settings(fake_backend.base_url, tmp_path)) as (base, _):
        with pytest.raises(httpx.ReadTimeout):
            chat(base, timeout=0.5, fake={"fault": "hang"})
        assert _wait_for_outcome(fake_backend, "client_disconnected") == "client_disconnected"
        assert chat(base).status_code == 200


def test_a_buffer_mode_client_that_leaves_stops_the_backend(fake_backend, tmp_path):
    policy = {"name": "default", "checks": {"patterns": {"deny": ["forbidden"]}}, "streaming": {"mode": "buffer"}}
    with serve_guard(settings(fake_backend.base_url, tmp_path, policy=policy)) as (base, _):
        with pytest.raises(httpx.ReadTimeout):
            chat(base, timeout=0.5, stream=True, fake={"tokens": 200, "tpot_ms": 50})  # a 10 s answer
        assert _wait_for_outcome(fake_backend, "client_disconnected") == "client_disconnected"
        metrics = httpx.get(f"{base}/metrics").text
        assert 'status="499"' in metrics

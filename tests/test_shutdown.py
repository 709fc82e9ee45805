"""Graceful shutdown of a real ``guard serve`` process: SIGTERM lets in-flight streams finish."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support import free_port

GUARD = str(Path(sys.executable).with_name("guard"))
# uvicorn re-raises the signal once it has shut down cleanly, so the exit status says "SIGTERM".
CLEAN_EXIT = (0, -signal.SIGTERM)


@contextmanager
def guard_process(tmp_path: Path, backend_url: str, grace_s: float) -> Iterator[tuple[subprocess.Popen, str]]:
    port = free_port()
    config = {
        "server": {"host": "127.0.0.1", "port": port, "log_format": "json"},
        "auth": {"mode": "none"},
        "models": [{"name": "m", "backend": {"kind": "openai", "model": "up", "api_base": backend_url}}],
        "limits": {"shutdown_grace_s": grace_s},
    }
    path = tmp_path / "guard.yaml"
    path.write_text(yaml.safe_dump(config))
    log = open(tmp_path / "guard.log", "wb")
    proc = subprocess.Popen([GUARD, "serve", "--config", str(path), "--no-warm"], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("guard serve did not start: " + (tmp_path / "guard.log").read_text())
            time.sleep(0.2)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        log.close()


def stream_in_thread(base: str, fake: dict[str, Any]) -> tuple[threading.Thread, dict[str, Any], threading.Event]:
    """Start a stream; ``started`` is set once its first token has arrived."""
    out: dict[str, Any] = {"lines": []}
    started = threading.Event()

    def run() -> None:
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True, "fake": fake}
        try:
            with httpx.stream("POST", base + "/v1/chat/completions", json=body, timeout=30) as r:
                out["status"] = r.status_code
                for line in r.iter_lines():
                    if not line:
                        continue  # the blank line after each event
                    out["lines"].append(line)
                    if "Lorem" in line:
                        started.set()
        except httpx.HTTPError as e:
            out["error"] = e
        started.set()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out, started


def test_sigterm_lets_an_in_flight_stream_finish(fake_backend, tmp_path):
    with guard_process(tmp_path, fake_backend.base_url, grace_s=10) as (proc, base):
        t, out, started = stream_in_thread(base, {"tokens": 20, "tpot_ms": 100})  # ~2 s
        assert started.wait(10)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        with pytest.raises(httpx.TransportError):  # no new connections while draining
            httpx.get(base + "/healthz", timeout=1)
        t.join(15)
        assert "error" not in out
        assert out["status"] == 200
        assert out["lines"][-1] == "data: [DONE]"
        text = "".join(line for line in out["lines"] if "content" in line)
        assert text.count('"content"') >= 20
        assert proc.wait(10) in CLEAN_EXIT


def test_a_stream_longer_than_the_grace_period_is_cut_not_left_hanging(fake_backend, tmp_path):
    with guard_process(tmp_path, fake_backend.base_url, grace_s=1) as (proc, base):
        t, out, started = stream_in_thread(base, {"tokens": 100, "tpot_ms": 100})  # ~10 s
        assert started.wait(10)
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        t.join(10)
        assert time.monotonic() - began < 5
        assert not t.is_alive()
        assert out["lines"][-1] != "data: [DONE]"
    # The backend's request was closed with guard, not left generating for nobody.
    deadline = time.monotonic() + 3
    while fake_backend.requests[-1].outcome != "client_disconnected" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake_backend.requests[-1].outcome == "client_disconnected"


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_sigterm_when_idle_exits_at_once(fake_backend, tmp_path):
    with guard_process(tmp_path, fake_backend.base_url, grace_s=30) as (proc, _base):
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) in CLEAN_EXIT
        assert time.monotonic() - began < 3

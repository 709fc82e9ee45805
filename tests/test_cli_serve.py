"""``guard serve`` as a user runs it: a real process, JSON logs with one event per request."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx

from tests.support import free_port


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("guard serve did not become healthy")


def test_quick_start_serve_logs_json_events_with_request_ids(fake_backend, tmp_path):
    policy = tmp_path / "clamp.yaml"
    policy.write_text("name: clamp\nsampling:\n  temperature: {max: 0.5, mode: clamp}\n")
    port = free_port()
    cmd = [sys.executable, "-m", "guard", "serve", "--backend", fake_backend.base_url, "--policy", str(policy), "--port", str(port)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        wait_ready(f"http://127.0.0.1:{port}/healthz", proc)
        r = httpx.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            headers={"x-request-id": "req-42"},
            json={"model": "any-model", "temperature": 0.9, "messages": [{"role": "user", "content": "hi"}]},
        )
        assert r.status_code == 200 and r.headers["x-guard-policy"] == "clamp"
        bad = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", headers={"x-request-id": "req-43"}, content=b"{")
        assert bad.status_code == 400
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    events = [json.loads(line) for line in err.decode().splitlines() if line.startswith("{")]
    names = [e["event"] for e in events]
    assert "auth_disabled" in names  # no-auth mode says so loudly
    ok = [e for e in events if e["event"] == "request" and e.get("request_id") == "req-42"]
    assert len(ok) == 1
    assert ok[0]["policy"] == "clamp" and ok[0]["status"] == 200
    assert ok[0]["changes"] == [{"param": "temperature", "from": 0.9, "to": 0.5, "reason": "clamped"}]
    failed = [e for e in events if e["event"] == "request" and e.get("request_id") == "req-43"]
    assert len(failed) == 1 and failed[0]["status"] == 400

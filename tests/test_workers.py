"""`guard serve --workers N`: N processes on one port, metrics summed across them, limits divided."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from guard.settings import hash_key
from tests.support import child_pids, free_port

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-workers"


def children(pid: int) -> list[int]:
    return child_pids(pid, skip=b"multiprocessing.resource_tracker")


@pytest.fixture
def two_workers(fake_backend, tmp_path):
    port = free_port()
    config = {
        "server": {"host": "127.0.0.1", "port": port, "log_format": "json"},
        "auth": {"mode": "keys", "keys": [{"hash": hash_key(KEY), "tenant": "t", "rate_per_minute": 6}, {"hash": hash_key("sk-free"), "tenant": "t"}]},
        "models": [{"name": "m", "backend": {"kind": "openai", "model": "x", "api_base": fake_backend.base_url}}],
    }
    path = tmp_path / "guard.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT), PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    proc = subprocess.Popen([sys.executable, "-m", "guard", "serve", "--config", str(path), "--workers", "2", "--no-warm"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200 and len(children(proc.pid)) == 2:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    try:
        yield proc, base, metrics_dir
    finally:
        proc.terminate()
        proc.wait(30)


def ask(base: str, key: str) -> int:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client() as client:  # a new connection each time: the kernel spreads them over workers
        return client.post(base + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}, timeout=30).status_code


def test_two_workers_serve_and_metrics_add_up(two_workers):
    proc, base, metrics_dir = two_workers
    assert len(children(proc.pid)) == 2
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: ask(base, "sk-free"), range(40)))
    assert codes == [200] * 40
    pids = {f.stem.rsplit("_", 1)[-1] for f in metrics_dir.glob("counter_*.db")}
    assert len(pids) == 2, f"requests reached {len(pids)} worker(s)"
    text = httpx.get(base + "/metrics").text
    total = sum(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == "guard_requests_total")
    assert total == 40  # every worker's count, whichever worker answered the scrape


def test_without_a_store_each_worker_enforces_its_share(two_workers):
    _, base, _ = two_workers
    codes = [ask(base, KEY) for _ in range(12)]
    # 6 per minute shared out as 3 per worker: never more than 6 in total, whichever worker answers
    assert 3 <= codes.count(200) <= 6 and set(codes) <= {200, 429}

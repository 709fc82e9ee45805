"""The review queue across real proxy processes: a SIGKILL under load, and two replicas racing."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bcrypt
import httpx
import pytest
import yaml

from guard.review import open_store
from guard.settings import hash_key
from tests.review_support import PG_URL, pg_unreachable_reason
from tests.support import free_port

KEY = "crash-key"
PASSWORD_HASH = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode()


def write_config(tmp_path: Path, backend_url: str, index_dir: Path, store_url: str, wait_s: float) -> Path:
    pol = tmp_path / "policies"
    pol.mkdir(exist_ok=True)
    (pol / "default.yaml").write_text(yaml.safe_dump({
        "name": "default",
        "checks": {"grounding": {}},
        "decision": {"bands": [{"min": 0.6, "action": "pass"}, {"min": 0.0, "action": "hold"}], "timeout_ms": 60000},
        "hold": {"wait_s": wait_s},
    }))
    config = {
        "auth": {"mode": "keys", "keys": [{"hash": hash_key(KEY), "tenant": "t"}]},
        "models": [{"name": "m", "backend": {"kind": "openai", "model": "x", "api_base": backend_url}}],
        "policies_dir": str(pol),
        "knowledge": {"index_dir": str(index_dir)},
        "review": {"store_url": store_url, "reviewers": [{"username": "a", "password_hash": PASSWORD_HASH}, {"username": "b", "password_hash": PASSWORD_HASH}], "session_secret_env": "GUARD_TEST_SESSION_SECRET"},
    }
    path = tmp_path / f"guard-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start(config: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "GUARD_TEST_SESSION_SECRET": "s" * 32}
    proc = subprocess.Popen([sys.executable, "-m", "guard", "serve", "--config", str(config), "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, "guard serve exited"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("guard serve did not start")


def items(store_url: str):
    store = open_store(store_url)
    try:
        return asyncio.run(store.list_items(limit=500))
    finally:
        store.close()


def test_sigkill_while_holding_loses_nothing(fake_backend, knowledge_index, tmp_path):
    fake_backend.set(text="DeepSeek-V3 has 670B parameters and 18 trillion tokens.")
    store_url = f"sqlite:///{tmp_path / 'q.sqlite3'}"
    config = write_config(tmp_path, fake_backend.base_url, knowledge_index, store_url, wait_s=120)
    port = free_port()
    proc = start(config, port)
    callers = 8
    errors: list[str] = []

    def call(i: int) -> None:
        try:
            httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", timeout=180,
                       headers={"authorization": f"Bearer {KEY}", "x-request-id": f"crash-{i}"},
                       json={"model": "m", "messages": [{"role": "user", "content": f"Question {i} about DeepSeek-V3?"}]})
        except httpx.HTTPError as e:
            errors.append(type(e).__name__)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(callers)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 120
        while len(items(store_url)) < callers:
            assert time.monotonic() < deadline, "the held items never reached the store"
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        for t in threads:
            t.join(30)
        assert len(errors) == callers  # every waiting caller lost its connection
        proc = start(config, port)  # the same store, a new process

        held = items(store_url)
        assert sorted(i.request_id for i in held) == sorted(f"crash-{i}" for i in range(callers))
        store = open_store(store_url)
        for item in held:
            assert asyncio.run(store.claim(item.id, "a", 60))
            asyncio.run(store.decide(item.id, "a", "edit", final_answer=f"fixed {item.request_id}"))
        store.close()
        for i in range(callers):
            r = httpx.get(f"http://127.0.0.1:{port}/v1/guard/reviews", params={"request_id": f"crash-{i}"}, headers={"authorization": f"Bearer {KEY}"})
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "edited" and r.json()["final_answer"] == f"fixed crash-{i}"
    finally:
        proc.kill()
        proc.wait(10)


@pytest.fixture
def pg_store_url():
    reason = pg_unreachable_reason()
    if reason:
        pytest.skip(reason)
    import psycopg

    schema = f"guard_race_{uuid.uuid4().hex[:10]}"
    yield f"{PG_URL}?schema={schema}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def reviewer(base: str, user: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=f"{base}/review", timeout=30)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"username": user, "password": "pw", "csrf": token})
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text).group(1)
    return client, token


def test_two_proxies_on_one_postgresql_one_claim_wins_every_round(fake_backend, knowledge_index, tmp_path, pg_store_url):
    fake_backend.set(text="DeepSeek-V3 has 670B parameters.")
    config = write_config(tmp_path, fake_backend.base_url, knowledge_index, pg_store_url, wait_s=0)
    ports = [free_port(), free_port()]
    procs = [start(config, p) for p in ports]
    try:
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        rounds = 25
        ids = []
        for i in range(rounds):  # held through alternating replicas
            r = httpx.post(f"{bases[i % 2]}/v1/chat/completions", headers={"authorization": f"Bearer {KEY}"}, timeout=60,
                           json={"model": "m", "messages": [{"role": "user", "content": f"q{i}"}]})
            ids.append(r.json()["guard"]["review_id"])
        (ca, ta), (cb, tb) = reviewer(bases[0], "a"), reviewer(bases[1], "b")
        barrier = threading.Barrier(2)

        def claim(client: httpx.Client, token: str, item_id: str) -> str:
            barrier.wait()
            r = client.post(f"/items/{item_id}/claim", data={"csrf": token}, follow_redirects=False)
            return r.headers["location"].rsplit("msg=", 1)[-1]

        wins = {"a": 0, "b": 0}
        with ThreadPoolExecutor(2) as pool:
            for item_id in ids:
                fa = pool.submit(claim, ca, ta, item_id)
                fb = pool.submit(claim, cb, tb, item_id)
                outcome = sorted([fa.result(), fb.result()])
                assert outcome == ["claimed", "lost"], outcome
                wins["a" if fa.result() == "claimed" else "b"] += 1
        held = {i.id: i for i in items(pg_store_url)}
        for item_id in ids:
            assert held[item_id].status == "claimed" and held[item_id].reviewer in ("a", "b")
        assert sum(wins.values()) == rounds
    finally:
        for p in procs:
            p.kill()
            p.wait(10)

"""``guard review hash-password`` and ``guard review serve`` (a real process on loopback)."""

from __future__ import annotations

from tests.support import free_port

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import bcrypt
import httpx
from click.testing import CliRunner

from review_queue.cli import review


def test_hash_password_prints_a_bcrypt_hash():
    result = CliRunner().invoke(review, ["hash-password", "--rounds", "4"], input="correct horse\ncorrect horse\n")
    assert result.exit_code == 0, result.output
    hashed = result.output.strip().splitlines()[-1]
    assert bcrypt.checkpw(b"correct horse", hashed.encode())
    short = CliRunner().invoke(review, ["hash-password", "--password", "short"])
    assert short.exit_code == 2


def test_serve_runs_the_app_alone(tmp_path: Path):
    hashed = bcrypt.hashpw(b"ann-password", bcrypt.gensalt(rounds=4)).decode()
    (tmp_path / "guard.yaml").write_text(
        "review:\n"
        "  store_url: sqlite:///data/review.sqlite3\n"
        "  language: zh\n"
        "  reviewers:\n"
        f"    - {{username: ann, password_hash: '{hashed}'}}\n",
        encoding="utf-8",
    )
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from guard.cli import main; main()", "review", "serve", "--config", str(tmp_path / "guard.yaml"),
         "--port", str(port)],
        cwd=tmp_path, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()
            try:
                page = httpx.get(f"{base}/login", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "guard review serve did not start"
                time.sleep(0.2)
        assert page.status_code == 200 and "审核员登录" in page.text  # language from the config
        with httpx.Client(base_url=base, cookies=page.cookies) as client:
            token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            r = client.post("/login", data={"username": "ann", "password": "ann-password", "csrf": token})
            assert r.status_code == 303 and r.headers["location"] == "/"
            assert client.get("/stats").status_code == 200
        assert (tmp_path / "data" / "review.sqlite3").exists()  # the store path is relative to the config
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

"""`guard up` (scripts/serve): the llama.cpp child goes with it, and a taken backend port stops it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.support import child_pids, free_port, write_policies

ROOT = Path(__file__).resolve().parent.parent


def write_config(tmp_path: Path, port: int, backend_port: int) -> Path:
    policies = write_policies(tmp_path / "policies", {"name": "default"})
    config = {
        "server": {"host": "127.0.0.1", "port": port, "log_format": "json"},
        "auth": {"mode": "none"},
        "models": [{"name": "smollm2", "backend": {"kind": "openai", "model": "smollm2", "api_base": f"http://127.0.0.1:{backend_port}/v1"}}],
        "policies_dir": str(policies),
        "default_policy": "default",
    }
    path = tmp_path / "guard.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def start_up(tmp_path: Path, config: Path, backend_port: int) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "guard", "up", "--config", str(config), "--backend-port", str(backend_port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def children(pid: int) -> list[int]:
    return child_pids(pid)


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_llama_server_too(tmp_path, sig):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (scripts/setup installs it)")
    port, backend_port = free_port(), free_port()
    proc = start_up(tmp_path, write_config(tmp_path, port, backend_port), backend_port)
    try:
        assert wait_until(lambda: listening(port) or proc.poll() is not None, 120), "guard up did not start"
        assert proc.poll() is None, proc.stderr.read()
        llama = children(proc.pid)
        assert llama and listening(backend_port)
        proc.send_signal(sig)
        proc.wait(30)
        assert wait_until(lambda: not any(alive(p) for p in llama), 15), "the llama.cpp server outlived guard up"
        assert not listening(backend_port)
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in children(proc.pid):
            os.kill(p, signal.SIGKILL)


def test_refuses_a_backend_port_that_is_taken(tmp_path):
    port = free_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        proc = start_up(tmp_path, write_config(tmp_path, port, taken), taken)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert f"port {taken}" in err and "--backend-port" in err
    assert not (tmp_path / "var" / "llama-server.log").exists(), "no llama.cpp server was started"

"""Running guard for real on loopback in tests: uvicorn in a thread, a free port, clean stop."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
import yaml

from guard.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_app(app: Any, **options: Any) -> Iterator[str]:
    """Serve an ASGI app on 127.0.0.1:<free port>; yields ``http://127.0.0.1:PORT``.

    ``options`` are more uvicorn settings (guard's own ``uvicorn_options``, say); the address
    and the short shutdown stay the tests'."""
    port = free_port()
    options = {"log_level": "warning", **options, "host": "127.0.0.1", "port": port, "timeout_graceful_shutdown": 2}
    config = uvicorn.Config(app, lifespan="on", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("guard did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def write_policies(directory: Path, *policies: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for p in policies:
        (directory / f"{p['name']}.yaml").write_text(yaml.safe_dump(p, allow_unicode=True), encoding="utf-8")
    return directory


def settings_for(backend_url: str, policies_dir: Path | None = None, **overrides: Any) -> Settings:
    """One public model ``test-model`` (upstream name ``upstream-model``) on the given backend."""
    data: dict[str, Any] = {
        "models": [
            {"name": "test-model", "backend": {"kind": "openai", "model": "upstream-model", "api_base": backend_url, "retries": 0}},
        ],
        "policies_dir": str(policies_dir) if policies_dir else None,
    }
    data.update(overrides)
    return Settings.model_validate(data)


@contextmanager
def run_guard(settings: Settings, **app_options: Any) -> Iterator[str]:
    """A real guard on loopback for ``settings``; yields its OpenAI base URL (``.../v1``)."""
    from guard.api.app import create_app

    with serve_app(create_app(settings, **app_options)) as url:
        yield url + "/v1"


class FakeClock:
    """A clock tests move by hand (``clock.t += 5``) for breakers, limiters and leases."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t


def child_pids(pid: int, skip: bytes | None = None) -> list[int]:
    """The live processes whose parent is ``pid`` (read from /proc), optionally without those
    whose command line contains ``skip``."""
    from pathlib import Path

    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes() if skip else b""
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and not (skip and skip in cmdline):
            out.append(int(entry.name))
    return out

"""The processes a proxy benchmark talks to: the fake backend, guard, and LiteLLM's proxy.

Each runs as its own process so the load client, the proxy and the backend do not share a GIL.
LiteLLM lives in its own virtualenv (bench/.venv-litellm), created on first use, so its
pinned dependencies never touch guard's environment.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
LITELLM_VENV = BENCH_DIR / ".venv-litellm"
LITELLM_SPEC = "litellm[proxy]==1.108.7"  # pinned so runs stay comparable; bump deliberately
MODEL = "fake-model"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Target:
    name: str
    base_url: str  # what an OpenAI client takes, ending in /v1
    proc: subprocess.Popen | None = None
    log: Path | None = None
    version: str | None = None
    peak_rss: int = 0  # bytes, the largest sampled RSS of the process tree
    idle_rss: int = 0  # bytes, after start-up and before any load
    family: list[int] = field(default_factory=list)  # the process and its descendants, refreshed now and then
    samples: int = 0

    def sample_rss(self) -> int:
        """Current RSS of the process tree; scanning /proc for the tree is done only every 25th
        sample, so sampling stays cheap next to the load client sharing this process."""
        if self.proc is None:
            return 0
        if self.samples % 25 == 0:
            self.family = family_of(self.proc.pid)
        self.samples += 1
        rss = rss_of(self.family)
        self.peak_rss = max(self.peak_rss, rss)
        return rss


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time the processes have used so far."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / CLOCK_TICKS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def family_of(pid: int) -> list[int]:
    """``pid`` and all its descendants (workers a proxy may fork)."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(b")", 1)[1].split()[1])
    family, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent and p not in family]
        family.update(children)
        frontier.extend(children)
    return sorted(family)


def rss_of(pids: list[int]) -> int:
    """Resident memory in bytes of ``pids`` together (those that still exist)."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/statm", "rb") as f:
                total += int(f.read().split()[1]) * PAGE_SIZE
        except OSError:
            continue
    return total


def tree_rss(pid: int) -> int:
    return rss_of(family_of(pid))


def _spawn(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})}, cwd=REPO, start_new_session=True,
        )


def wait_ready(target: Target, path: str, timeout: float) -> None:
    """Poll ``path`` (relative to the server root) until it answers 200; fail early if the process died."""
    root = target.base_url.removesuffix("/v1")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if target.proc is not None and target.proc.poll() is not None:
            raise RuntimeError(f"{target.name} exited with {target.proc.returncode}; see {target.log}")
        try:
            if httpx.get(root + path, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{target.name} not ready after {timeout:.0f}s; see {target.log}")


def start_backend(logs: Path) -> Target:
    port = free_port()
    cmd = [sys.executable, "-m", "guard.testing.fake_backend", "--port", str(port), "--max-records", "0"]
    target = Target("backend", f"http://127.0.0.1:{port}/v1", _spawn(cmd, logs / "backend.log"), logs / "backend.log")
    wait_ready(target, "/health", 30)
    return target


def start_guard(backend_url: str, logs: Path, guard_bin: str) -> Target:
    port = free_port()
    cmd = [guard_bin, "serve", "--backend", backend_url, "--port", str(port)]
    target = Target("guard", f"http://127.0.0.1:{port}/v1", _spawn(cmd, logs / "guard.log"), logs / "guard.log")
    wait_ready(target, "/healthz", 180)
    return target


def start_guard_config(config: Path, logs: Path, name: str, workers: int = 1) -> Target:
    """``guard serve --config`` on a free port with ``workers`` processes, ready on /readyz."""
    port = free_port()
    cmd = [sys.executable, "-m", "guard", "serve", "--config", str(config), "--port", str(port), "--workers", str(workers)]
    target = Target(name, f"http://127.0.0.1:{port}/v1", _spawn(cmd, logs / f"{name}.log"), logs / f"{name}.log")
    wait_ready(target, "/readyz", 240)
    return target


def ensure_litellm_venv(venv: Path = LITELLM_VENV) -> Path:
    """The litellm CLI of the benchmark's own virtualenv, creating the venv on first use."""
    cli = venv / "bin" / "litellm"
    if cli.exists():
        return cli
    print(f"creating {venv} and installing {LITELLM_SPEC} (one time, a few minutes)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", LITELLM_SPEC], check=True)
    return cli


def litellm_version(venv: Path = LITELLM_VENV) -> str:
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True, text=True, check=True,
    )
    return out.stdout.strip()


def litellm_config(backend_url: str) -> str:
    """One model, the openai/ provider pointed at the fake backend: the same path guard gets."""
    return (
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: openai/{MODEL}\n"
        f"      api_base: {backend_url}\n"
        "      api_key: sk-fake\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
        "general_settings:\n"
        "  dangerously_permit_weak_or_unset_master_key: true\n"  # guard's quick start has no auth either
    )


def start_litellm(backend_url: str, logs: Path) -> Target:
    cli = ensure_litellm_venv()
    config = logs / "litellm.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(litellm_config(backend_url))
    port = free_port()
    cmd = [str(cli), "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]
    env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False"}
    target = Target("litellm", f"http://127.0.0.1:{port}/v1", _spawn(cmd, logs / "litellm.log", env),
                    logs / "litellm.log", version=litellm_version())
    wait_ready(target, "/health/liveliness", 180)
    return target


def stop(target: Target) -> None:
    """SIGTERM the target's process group, then SIGKILL it if it lingers."""
    proc = target.proc
    if proc is None or proc.poll() is not None:
        return
    pgid = os.getpgid(proc.pid)
    os.killpg(pgid, 15)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(pgid, 9)
        proc.wait(5)

"""Proxy overhead benchmark: the fake backend called directly, through guard, and through LiteLLM.

All three are measured in one run, interleaved (each cell runs the targets in rounds, rotating
their order) so machine noise lands on all of them alike. Non-stream and stream, at several
concurrencies; it reports added latency (p50, p99), TTFT and TPOT for streams, requests per
second and the peak RSS of each proxy process. Everything stays on loopback and every cell is
bounded in requests and seconds.

    python -m bench.bench_proxy                      # all targets, results in bench/results/proxy.json
    python -m bench.bench_proxy --targets direct,guard --quick
    python -m bench.bench_proxy --write-readme       # also refresh the README's marked section
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import os
import platform
import shutil
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

from bench import targets as procs
from bench.loadgen import LoadResult, run_load
from bench.report import compare, goals, markdown, write_readme
from bench.targets import Target, cpu_seconds, family_of

RESULTS = procs.BENCH_DIR / "results" / "proxy.json"
README = procs.REPO / "README.md"
MIB = 1024 * 1024

# Requests per target per cell, by (mode, concurrency); --scale multiplies them.
REQUESTS = {
    ("non-stream", 1): 400, ("non-stream", 16): 2000, ("non-stream", 64): 3000,
    ("stream", 1): 40, ("stream", 16): 320, ("stream", 64): 1000,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.bench_proxy", description=__doc__.split("\n")[0])
    p.add_argument("--targets", default="direct,guard,litellm", help="comma list of direct, guard, litellm")
    p.add_argument("--modes", default="non-stream,stream")
    p.add_argument("--concurrency", default="1,16,64")
    p.add_argument("--scale", type=float, default=1.0, help="multiply the requests per cell")
    p.add_argument("--quick", action="store_true", help="a tenth of the requests, for a smoke run")
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds per cell")
    p.add_argument("--max-seconds", type=float, default=12.0, help="per target per cell, over all rounds")
    p.add_argument("--max-minutes", type=float, default=9.0, help="skip the remaining cells after this")
    p.add_argument("--nonstream-ttft-ms", type=float, default=0.0)
    p.add_argument("--nonstream-tpot-ms", type=float, default=0.0)
    p.add_argument("--ttft-ms", type=float, default=20.0, help="stream profile of the fake backend")
    p.add_argument("--tpot-ms", type=float, default=5.0, help="stream profile of the fake backend")
    p.add_argument("--tokens", type=int, default=32, help="output tokens per answer")
    p.add_argument("--guard-bin", default=str(procs.REPO / ".venv" / "bin" / "guard"))
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--write-readme", action="store_true")
    return p.parse_args(argv)


def backend_profiles(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    return {
        "non-stream": {"ttft_ms": args.nonstream_ttft_ms, "tpot_ms": args.nonstream_tpot_ms, "tokens": args.tokens},
        "stream": {"ttft_ms": args.ttft_ms, "tpot_ms": args.tpot_ms, "tokens": args.tokens},
    }


def configure_backend(backend: Target, profile: dict[str, float]) -> None:
    root = backend.base_url.removesuffix("/v1")
    httpx.post(f"{root}/_fake/config", json=profile, timeout=5).raise_for_status()


async def _sample_memory(watched: list[Target], stop: asyncio.Event) -> None:
    while not stop.is_set():
        for target in watched:
            target.sample_rss()
        try:
            await asyncio.wait_for(stop.wait(), 0.2)
        except asyncio.TimeoutError:
            pass


async def measure(
    args: argparse.Namespace, backend: Target, load_targets: list[Target], watched: list[Target],
) -> list[dict[str, Any]]:
    stop = asyncio.Event()
    sampler = asyncio.create_task(_sample_memory(watched, stop))
    deadline = time.monotonic() + args.max_minutes * 60
    scale = args.scale * (0.1 if args.quick else 1.0)
    cells: list[dict[str, Any]] = []
    try:
        for mode in args.modes.split(","):
            configure_backend(backend, backend_profiles(args)[mode])
            for conc in (int(c) for c in args.concurrency.split(",")):
                if time.monotonic() > deadline:
                    print(f"time budget spent: skipping {mode} c={conc}", flush=True)
                    continue
                budget = max(conc, math.ceil(REQUESTS.get((mode, conc), 500) * scale))
                cells += await _cell(args, mode, conc, budget, load_targets, watched)
    finally:
        stop.set()
        await sampler
    return cells


async def settle(watched: list[Target], busy_share: float = 0.1, limit_s: float = 10.0) -> None:
    """Wait until the proxies and the backend are idle (under ``busy_share`` of a core for
    0.2 s), at most ``limit_s``: work a slow target left behind when its round stopped (queued
    requests, background flushes) must not be charged to the target measured next."""
    pids = [pid for t in watched if t.proc is not None for pid in family_of(t.proc.pid)]
    deadline = time.monotonic() + limit_s
    before = cpu_seconds(pids)
    while time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        now = cpu_seconds(pids)
        if now - before < 0.2 * busy_share:
            return
        before = now


async def _cell(
    args: argparse.Namespace, mode: str, conc: int, budget: int, load_targets: list[Target], watched: list[Target],
) -> list[dict[str, Any]]:
    results = {t.name: LoadResult() for t in load_targets}
    per_round = math.ceil(budget / args.rounds)
    for round_no in range(args.rounds):
        shift = round_no % len(load_targets)
        for target in load_targets[shift:] + load_targets[:shift]:
            await settle(watched)
            results[target.name].merge(await run_load(
                target.base_url, model=procs.MODEL, stream=mode == "stream", concurrency=conc,
                requests=per_round, max_seconds=args.max_seconds / args.rounds,
            ))
    cells = []
    for name, result in results.items():
        cell = {"target": name, "mode": mode, "concurrency": conc, **result.summary()}
        cells.append(cell)
        print(
            f"{mode:10} c={conc:<3} {name:8} {cell['rps']:>8} req/s  p50 {cell['latency_p50_ms']} ms"
            f"  p99 {cell['latency_p99_ms']} ms" + (f"  ttft {cell.get('ttft_p50_ms')} ms" if mode == "stream" else "")
            + (f"  errors {cell['errors']}: {cell['first_error']}" if cell["errors"] else ""),
            flush=True,
        )
    return cells


def environment() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "aiohttp": metadata.version("aiohttp"),
        "guard": metadata.version("guard"),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }


def start_targets(names: list[str], logs: Path, guard_bin: str) -> tuple[Target, list[Target], list[Target]]:
    """The backend, the targets to load (direct first), and the processes to watch for memory."""
    backend = procs.start_backend(logs)
    started = [backend]
    load_targets = [Target("direct", backend.base_url)] if "direct" in names else []
    try:
        if "guard" in names:
            started.append(procs.start_guard(backend.base_url, logs, guard_bin))
            load_targets.append(started[-1])
        if "litellm" in names:
            started.append(procs.start_litellm(backend.base_url, logs))
            load_targets.append(started[-1])
    except Exception:
        for target in started:
            procs.stop(target)
        raise
    return backend, load_targets, started


def run(args: argparse.Namespace) -> dict[str, Any]:
    names = args.targets.split(",")
    logs = Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    env = environment()
    if env["loadavg_start"][0] > (env["cpus"] or 1):
        print(f"warning: load average {env['loadavg_start'][0]} on {env['cpus']} cores; numbers will be noisy", flush=True)
    backend, load_targets, started = start_targets(names, logs, args.guard_bin)
    try:
        time.sleep(1.0)
        for target in started:
            target.idle_rss = target.sample_rss()
        loop = _new_loop()
        try:
            cells = loop.run_until_complete(measure(args, backend, load_targets, started))
        finally:
            loop.close()
    finally:
        for target in started:
            procs.stop(target)
    env["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    rows = compare(cells)
    result = {
        "finished_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "environment": env,
        "backend_profiles": backend_profiles(args),
        "load": {
            "rounds": args.rounds, "max_seconds_per_cell": args.max_seconds,
            "description": f"Each cell: a fixed number of requests per target (capped at {args.max_seconds:g} s), "
                           f"closed loop, in {args.rounds} interleaved rounds.",
        },
        "rows": rows,
        "processes": {
            t.name: {"idle_rss_mib": round(t.idle_rss / MIB, 1), "peak_rss_mib": round(t.peak_rss / MIB, 1),
                     "version": t.version}
            for t in started
        },
        "goals": {name: goals(rows, name) for name in ("guard", "litellm") if name in names},
    }
    shutil.rmtree(logs, ignore_errors=True)
    return result


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    result = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print()
    print(markdown(result))
    print(f"\nwrote {args.out}")
    if args.write_readme:
        print("README section updated" if write_readme(README, result) else f"no {README}; not written")


if __name__ == "__main__":
    main()

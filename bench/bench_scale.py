"""Scale-out figures: checked answers per second with 1 and 2 workers, and what Redis limits add.

    .venv/bin/python -m bench.bench_scale [--seconds 20] [--write-readme]

1. **Workers**: ``guard serve --workers 1`` and then ``--workers 2`` with the default policy
   (grounding on, the sample index in var/index) in front of the fake backend, which answers
   every request with the same five-sentence answer about the sample knowledge; a closed-loop
   client at concurrency 16 counts checked answers per second. The goal: 2 workers at least
   1.6 × one worker on 2 cores.
2. **Redis limits**: one worker, no checks, an API key with (generous) rate and concurrency
   limits, in-process and then with ``limits.store_url`` on the local Redis: the added p50 per
   request at concurrency 1 (goal ≤ 0.3 ms), and the throughput at concurrency 64 beside the
   backend's own (goal ≥ 0.40 of direct, as in the proxy benchmark).

The load client, guard and the backend are separate processes on 127.0.0.1; the figures are
whole-machine figures (the client shares the cores). Results: bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import yaml

from bench.loadgen import run_load
from bench.readme import markers, replace_section
from bench.targets import REPO, Target, start_backend, start_guard_config, stop, tree_rss

RESULTS = REPO / "bench" / "results" / "scale.json"
KEY = "sk-bench"
ANSWER = (
    "DeepSeek-V3 has 671B total parameters. It activates 37B parameters for each token. "
    "It was pre-trained on 14.8 trillion tokens. Qwen2.5 comes from the Qwen team at Alibaba Cloud. "
    "Llama 3.1 supports a context length of 128K tokens."
)


def config(tmp: Path, backend_url: str, *, checks: bool, store_url: str | None = None) -> Path:
    from guard.settings import hash_key

    policies = tmp / "policies"
    policies.mkdir(parents=True, exist_ok=True)
    if checks:
        policy = yaml.safe_load((REPO / "policies" / "default.yaml").read_text(encoding="utf-8"))
    else:
        policy = {"name": "default"}
    (policies / "default.yaml").write_text(yaml.safe_dump(policy))
    limits: dict[str, Any] = {}
    if store_url:
        limits = {"store_url": store_url, "store_prefix": f"bench-{uuid.uuid4().hex[:6]}:"}
    data = {
        "server": {"host": "127.0.0.1", "log_format": "json", "log_level": "warning"},
        "auth": {"mode": "keys", "keys": [{"hash": hash_key(KEY), "tenant": "bench", "rate_per_minute": 10_000_000, "max_concurrent": 10_000}]},
        "models": [{"name": "fake-model", "backend": {"kind": "openai", "model": "fake-model", "api_base": backend_url}}],
        "policies_dir": str(policies),
        "knowledge": {"index_dir": str(REPO / "var" / "index")} if checks else {},
        "limits": limits,
        "review": {"store_url": f"sqlite:///{tmp / uuid.uuid4().hex[:6]}.sqlite3"} if checks else {},
    }
    path = tmp / f"guard-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def start(cfg: Path, workers: int, logs: Path, name: str) -> Target:
    return start_guard_config(cfg, logs, name, workers)


async def load(target: Target, concurrency: int, seconds: float, requests: int = 10**9, fake: dict | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {KEY}"}
    result = await run_load(target.base_url, concurrency=concurrency, requests=requests, max_seconds=seconds,
                            headers=headers, warmup=concurrency * 4, fake=fake)
    return result.summary()


async def workers_figures(backend: Target, tmp: Path, logs: Path, seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    cfg = config(tmp, backend.base_url, checks=True)
    for workers in (1, 2):
        target = start(cfg, workers, logs, f"workers{workers}")
        try:
            summary = await load(target, 16, seconds, fake={"text": ANSWER})
            summary["rss_mb"] = round(tree_rss(target.proc.pid) / 2**20)
            out[f"workers_{workers}"] = summary
        finally:
            stop(target)
    one, two = out["workers_1"]["rps"], out["workers_2"]["rps"]
    out["ratio"] = round(two / one, 2) if one else None
    out["goal_met"] = bool(one) and two >= 1.6 * one
    return out


async def limits_figures(backend: Target, tmp: Path, logs: Path, redis_url: str, seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    direct = await run_load(backend.base_url, concurrency=64, requests=10**9, max_seconds=seconds, warmup=256)
    out["direct_c64_rps"] = direct.summary()["rps"]
    for name, store in (("local", None), ("redis", redis_url)):
        target = start(config(tmp, backend.base_url, checks=False, store_url=store), 1, logs, f"limits-{name}")
        try:
            c1 = await load(target, 1, seconds, requests=3000)
            c64 = await load(target, 64, seconds)
            out[name] = {"c1_p50_ms": c1["latency_p50_ms"], "c1_requests": c1["requests"], "c64_rps": c64["rps"], "errors": c1["errors"] + c64["errors"]}
        finally:
            stop(target)
    out["redis_added_p50_ms"] = round(out["redis"]["c1_p50_ms"] - out["local"]["c1_p50_ms"], 3)
    out["redis_c64_ratio_of_direct"] = round(out["redis"]["c64_rps"] / out["direct_c64_rps"], 2) if out["direct_c64_rps"] else None
    out["goal_added_p50_met"] = out["redis_added_p50_ms"] <= 0.3
    out["goal_c64_met"] = (out["redis_c64_ratio_of_direct"] or 0) >= 0.40
    return out


def readme_section(result: dict[str, Any]) -> str:
    start_marker, end_marker = markers("scale")
    w, lim = result["workers"], result["limits"]
    return "\n".join([
        start_marker,
        f"`bench/bench_scale.py` on {result['cpus']} cores, fake backend, closed-loop client on the same machine:",
        "",
        "| figure | measured | goal |",
        "|---|---|---|",
        f"| checked answers/s, default policy (grounding on), c=16: 1 worker → 2 workers | {w['workers_1']['rps']} → {w['workers_2']['rps']} "
        f"(× {w['ratio']}; resident {w['workers_1']['rss_mb']} → {w['workers_2']['rss_mb']} MB) | × 1.6: {'met' if w['goal_met'] else 'not met'} |",
        f"| p50 at c=1, limits in process → in Redis | {lim['local']['c1_p50_ms']} → {lim['redis']['c1_p50_ms']} ms "
        f"(+{lim['redis_added_p50_ms']} ms) | ≤ +0.3 ms: {'met' if lim['goal_added_p50_met'] else 'not met'} |",
        f"| c=64 throughput with Redis limits, of the backend's own | {lim['redis']['c64_rps']} / {lim['direct_c64_rps']} req/s "
        f"= {lim['redis_c64_ratio_of_direct']} (in-process limits, same setup: {lim['local']['c64_rps']} req/s = "
        f"{round(lim['local']['c64_rps'] / lim['direct_c64_rps'], 2)}) | ≥ 0.40: {'met' if lim['goal_c64_met'] else 'not met'} |",
        end_marker,
    ])


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    logs = REPO / "bench" / "results" / "scale-logs"
    tmp = logs / uuid.uuid4().hex[:8]
    backend = start_backend(logs)
    try:
        result: dict[str, Any] = {"cpus": os.cpu_count(), "load_avg_1m_start": round(os.getloadavg()[0], 2)}
        if not args.skip_workers:
            result["workers"] = await workers_figures(backend, tmp, logs, args.seconds)
            print(json.dumps({"workers": result["workers"]}), flush=True)
        if not args.skip_limits:
            result["limits"] = await limits_figures(backend, tmp, logs, args.redis_url, args.seconds)
            print(json.dumps({"limits": result["limits"]}), flush=True)
        result["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
        return result
    finally:
        stop(backend)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--skip-workers", action="store_true")
    parser.add_argument("--skip-limits", action="store_true")
    parser.add_argument("--write-readme", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    if args.write_readme and "workers" in result and "limits" in result:
        replace_section("scale", readme_section(result), "Scale-out benchmark")


if __name__ == "__main__":
    main()

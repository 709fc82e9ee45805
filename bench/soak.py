"""Soak test: guard under sustained load with checks on, for errors and memory growth.

A real ``guard serve`` (own process) in front of the fake backend (own process), a closed-loop
aiohttp client in this process: ``--concurrency`` workers, half streaming, half not, for
``--seconds``. The policy runs pattern, PII and length checks (and grounding when
``--index DIR`` names a built knowledge index); streams use the sentence mode, the busiest path.
Every answer is new (random numbers, English and Chinese, some with PII or a denied word, some
supported by the sample knowledge base), so caches do not hide the checks' cost. A few requests
ask the fake backend for a fault (a 500, a stream dropped half-way), so the error paths are
soaked too; their outcome is checked like any other.

The run fails (exit 1) on any unexpected outcome, on RSS growth of the guard process beyond
``--max-growth-mb`` between the end of the warm-up and the end of the run, or when guard's
own request counter disagrees with the client's. Results go to bench/results/soak.json and,
with ``--write-readme``, into README.md between the soak markers.

    python -m bench.soak                         # 5 minutes at concurrency 64
    python -m bench.soak --seconds 20 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml

from bench.loadgen import percentile
from bench.readme import markers, replace_section
from bench.targets import REPO, Target, free_port, start_backend, stop, wait_ready

README = REPO / "README.md"
RESULTS = REPO / "bench" / "results" / "soak.json"
START, END = markers("soak")
ASK = [{"role": "user", "content": "What should I know about serving open models such as DeepSeek-V3?"}]
FAULT_RATE = 0.02  # of requests, split between backend 500s and streams dropped half-way
# Answers are built from these with random numbers, so every answer is new to the checks'
# caches (the embedding cache above all), in English and Chinese, some with PII or a denied word.
SENTENCES = [
    "DeepSeek-V3 has {n}B parameters in total.",
    "The model was trained on {n} H800 GPUs for about two months.",
    "Refunds for damaged items take {n} business days.",
    "Contact support at user{n}@example.com for details.",
    "The quantized model needs {n} GB of memory.",
    "Never share your password {n} with anyone.",
    "该模型在{n}张GPU上训练。",
    "退款通常需要{n}个工作日。",
    "请拨打138{n:08d}联系客服。",
]
# Statements the sample knowledge base supports, so grounded runs take the pass path too.
GROUNDED = [
    "DeepSeek-V3 activates 37B of its 671B parameters per token.",
    "All 671B parameters must be loaded, so memory follows the total parameter count.",
    "vLLM, SGLang, Ollama and llama.cpp's llama-server expose an OpenAI-compatible API.",
    "Models up to about 8B parameters fit on one 24 GB GPU in 16-bit precision.",
    "For interactive chat, time to first token decides how fast the reply starts.",
]

POLICY = {
    "name": "default",
    "checks": {
        "patterns": {"deny": ["(?i)\\bpassword\\b", "(?i)api[_-]?key"], "deny_keywords": ["机密"]},
        "pii": {"enabled": True},
        "max_chars": 4000,
    },
    "streaming": {"mode": "sentence"},
}


# ---------------------------------------------------------------- processes


def write_config(folder: Path, backend_url: str, port: int, index: Path | None) -> Path:
    policy = dict(POLICY)
    if index is not None:
        policy["checks"] = {**POLICY["checks"], "grounding": {"top_k": 4}}
    (folder / "policies").mkdir(parents=True, exist_ok=True)
    (folder / "policies" / "default.yaml").write_text(yaml.safe_dump(policy, allow_unicode=True))
    config = {
        "server": {"host": "127.0.0.1", "port": port, "log_format": "json", "log_level": "info"},
        "auth": {"mode": "none"},
        "models": [{"name": "fake-model", "backend": {"kind": "openai", "model": "fake-model", "api_base": backend_url, "retries": 0}}],
        "policies_dir": "policies",
        "review": {"store_url": f"sqlite:///{folder / 'review.sqlite3'}"},
        "knowledge": {"index_dir": str(index.resolve())} if index else {},
    }
    path = folder / "guard.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start_guard(config: Path, port: int, log: Path) -> Target:
    guard = str(Path(sys.executable).with_name("guard"))
    with open(log, "wb") as out:
        proc = subprocess.Popen([guard, "serve", "--config", str(config)], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=REPO, start_new_session=True)
    target = Target("guard", f"http://127.0.0.1:{port}/v1", proc, log)
    wait_ready(target, "/healthz", 180)
    return target


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm", "rb") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# ---------------------------------------------------------------- one request


def answer(rng: random.Random) -> str:
    if rng.random() < 0.4:
        return " ".join(rng.sample(GROUNDED, rng.randint(1, 3)))
    return " ".join(rng.choice(SENTENCES).format(n=rng.randint(1, 99_999)) for _ in range(rng.randint(2, 5)))


async def one(session: aiohttp.ClientSession, url: str, stream: bool, fault: str | None, text: str) -> tuple[str, float]:
    """Send one request; the outcome is ``ok``, ``expected:<fault>`` or ``unexpected:<what>``."""
    body: dict[str, Any] = {"model": "fake-model", "messages": ASK, "stream": stream, "fake": {"text": text}}
    if fault == "status":
        body["fake"].update(fault="status", status=500)
    elif fault == "drop":
        body["fake"].update(fault="drop")
    started = time.perf_counter()
    async with session.post(url, data=orjson.dumps(body), headers={"content-type": "application/json"}) as resp:
        raw = await resp.read()
    elapsed = time.perf_counter() - started
    return classify(resp.status, raw, stream, fault), elapsed


def classify(status: int, raw: bytes, stream: bool, fault: str | None) -> str:
    if fault == "status":
        return "expected:status" if status == 502 else f"unexpected:{status} for a backend 500"
    if status != 200:
        return f"unexpected:{status} {raw[:120]!r}"
    if not stream:
        content = orjson.loads(raw)["choices"][0]["message"]["content"]
        return "ok" if content else "unexpected:empty answer"
    last = raw.rstrip(b"\n").rsplit(b"\n\n", 1)[-1]
    if fault == "drop":
        if last == b"data: [DONE]" and b'"content_filter"' in raw:
            return "expected:withheld_before_drop"  # a sentence failed its checks before the drop point
        return "expected:drop" if b'"error"' in last else f"unexpected:dropped stream ended with {last[:120]!r}"
    return "ok" if last == b"data: [DONE]" else f"unexpected:stream ended with {last[:120]!r}"


# ---------------------------------------------------------------- the run


async def load(base: str, seconds: float, concurrency: int, warmup_s: float, pid: int, seed: int) -> dict[str, Any]:
    url = base + "/v1/chat/completions"
    rng = random.Random(seed)
    outcomes: Counter[str] = Counter()
    latencies: dict[bool, list[float]] = {True: [], False: []}
    rss: list[tuple[float, float]] = []
    started = time.monotonic()
    deadline = started + seconds

    async def worker(i: int, session: aiohttp.ClientSession) -> None:
        stream = i % 2 == 1
        while time.monotonic() < deadline:
            roll = rng.random()
            fault = ("status" if roll < FAULT_RATE / 2 else "drop" if stream else None) if roll < FAULT_RATE else None
            try:
                outcome, elapsed = await one(session, url, stream, fault, answer(rng))
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, KeyError) as e:
                outcome, elapsed = f"unexpected:{type(e).__name__}: {e}"[:200], 0.0
            outcomes[outcome] += 1
            if outcome == "ok":
                latencies[stream].append(elapsed)

    async def sampler() -> None:
        while time.monotonic() < deadline:
            rss.append((round(time.monotonic() - started, 1), round(rss_mb(pid), 1)))
            await asyncio.sleep(2)

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(sampler(), *(worker(i, session) for i in range(concurrency)))
    wall = time.monotonic() - started
    return {"outcomes": outcomes, "latencies": latencies, "rss": rss, "wall": wall, "warmup_s": warmup_s}


def memory(rss: list[tuple[float, float]], warmup_s: float) -> dict[str, float]:
    """RSS at the end of the warm-up and at the end (medians of three samples), and the growth
    over the second half of the measured part alone: bounded caches filling up show as early
    growth that stops; a leak keeps growing in the second half too."""
    after = [mb for t, mb in rss if t >= warmup_s]
    if len(after) < 2:
        after = [mb for _, mb in rss[-2:]]
    baseline = statistics.median(after[:3])
    middle = statistics.median(after[len(after) // 2 : len(after) // 2 + 3])
    final = statistics.median(after[-3:])
    return {
        "baseline_mb": baseline, "final_mb": final, "peak_mb": max(mb for _, mb in rss),
        "growth_mb": round(final - baseline, 1), "second_half_growth_mb": round(final - middle, 1),
    }


async def guard_metrics(base: str) -> dict[str, Any]:
    """What guard itself counted: requests, decisions, and the mean time its checks took."""
    async with aiohttp.ClientSession() as s, s.get(base + "/metrics") as r:
        text = await r.text()
    decisions: Counter[str] = Counter()
    for m in re.finditer(r'^guard_requests_total\{[^}]*decision="([^"]*)"[^}]*\} (\S+)$', text, re.M):
        decisions[m.group(1)] += int(float(m.group(2)))
    sums = {k: sum(float(v) for v in re.findall(rf"^guard_check_duration_seconds_{k}\{{[^}}]*\}} (\S+)$", text, re.M)) for k in ("sum", "count")}
    check_ms = round(1000 * sums["sum"] / sums["count"], 1) if sums["count"] else None
    return {"total": sum(decisions.values()), "decisions": dict(decisions), "checks": int(sums["count"]), "check_mean_ms": check_ms}


def summarise(run: dict[str, Any], mem: dict[str, float], counted: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    outcomes: Counter[str] = run["outcomes"]
    total = sum(outcomes.values())
    unexpected = {k: v for k, v in outcomes.items() if k.startswith("unexpected")}
    ms = lambda v: None if v is None else round(v * 1000, 1)  # noqa: E731
    lat = run["latencies"]
    failures = []
    if unexpected:
        failures.append(f"{sum(unexpected.values())} unexpected outcomes")
    if mem["growth_mb"] > args.max_growth_mb:
        failures.append(f"RSS grew {mem['growth_mb']} MB (bound {args.max_growth_mb} MB)")
    if counted["total"] != total:
        failures.append(f"guard counted {counted['total']} requests, the client sent {total}")
    return {
        "finished_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seconds": args.seconds, "concurrency": args.concurrency, "grounding": bool(args.index),
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "requests": total, "rps": round(total / run["wall"], 1),
        "ok": outcomes["ok"], "expected_faults": {k[9:]: v for k, v in outcomes.items() if k.startswith("expected")},
        "unexpected": unexpected,
        "latency_ms": {
            "non_stream_p50": ms(percentile(lat[False], 50)), "non_stream_p99": ms(percentile(lat[False], 99)),
            "stream_p50": ms(percentile(lat[True], 50)), "stream_p99": ms(percentile(lat[True], 99)),
        },
        "memory": {**mem, "bound_mb": args.max_growth_mb, "warmup_s": run["warmup_s"]},
        "guard_counted": counted["total"], "decisions": counted["decisions"],
        "checks_run": counted["checks"], "check_mean_ms": counted["check_mean_ms"],
        "passed": not failures, "failures": failures,
    }


def readme_section(r: dict[str, Any]) -> str:
    m, lat = r["memory"], r["latency_ms"]
    faults = ", ".join(f"{v} {k}" for k, v in sorted(r["expected_faults"].items())) or "none"
    decisions = ", ".join(f"{k} {v}" for k, v in sorted(r["decisions"].items(), key=lambda kv: -kv[1]))
    checks = "pattern, PII and length checks" + (" and grounding" if r["grounding"] else "") + ", streams in sentence mode"
    lines = [
        START,
        f"Soak run {r['finished_at']} (`python -m bench.soak --seconds {r['seconds']:.0f} --concurrency {r['concurrency']}"
        f"{' --index var/index' if r['grounding'] else ''}`), "
        f"{r['cpus']} CPU cores shared by client, guard and the fake backend; {checks}.",
        "",
        "| requests | req/s | unexpected | injected faults handled | p50 / p99 non-stream | p50 / p99 stream | RSS after warm-up → end (peak) | result |",
        "|---|---|---|---|---|---|---|---|",
        f"| {r['requests']} | {r['rps']} | {sum(r['unexpected'].values())} | {faults} | "
        f"{lat['non_stream_p50']} / {lat['non_stream_p99']} ms | {lat['stream_p50']} / {lat['stream_p99']} ms | "
        f"{m['baseline_mb']:.0f} → {m['final_mb']:.0f} MB ({m['peak_mb']:.0f}), growth {m['growth_mb']} MB "
        f"({m['second_half_growth_mb']} MB in the second half), bound {m['bound_mb']} MB | "
        f"{'pass' if r['passed'] else 'FAIL: ' + '; '.join(r['failures'])} |",
        "",
        f"guard's own counters: decisions {decisions}; {r['checks_run']} check runs, mean {r['check_mean_ms']} ms. "
        "(`error`: answered with an error status, the injected backend 500s; `none`: streams that failed before a decision). "
        "A check that overruns the policy's `timeout_ms` under this load is a block (`on_error: closed`), not an error.",
        END,
    ]
    return "\n".join(lines)


def write_readme(section: str, path: Path = README) -> None:
    """Replace the marked section, or append it (and the markers) at the end of README.md."""
    replace_section("soak", section, "Soak test", path)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=300)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--warmup", type=float, default=None, help="seconds before the RSS baseline (default: a fifth, at most 60)")
    p.add_argument("--max-growth-mb", type=float, default=40.0)
    p.add_argument("--index", type=Path, default=None, help="a built knowledge index: turns grounding on")
    p.add_argument("--ttft-ms", type=float, default=20)
    p.add_argument("--tpot-ms", type=float, default=2)
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--write-readme", action="store_true")
    p.add_argument("--results", type=Path, default=RESULTS)
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, Any]:
    warmup = args.warmup if args.warmup is not None else min(60.0, args.seconds / 5)
    with tempfile.TemporaryDirectory(prefix="guard-soak-") as tmp:
        folder = Path(tmp)
        backend = start_backend(folder)
        guard = None
        try:
            import httpx

            httpx.post(backend.base_url.removesuffix("/v1") + "/_fake/config",
                       json={"ttft_ms": args.ttft_ms, "tpot_ms": args.tpot_ms})
            port = free_port()
            guard = start_guard(write_config(folder, backend.base_url, port, args.index), port, folder / "guard.log")
            base = f"http://127.0.0.1:{port}"
            result = asyncio.run(load(base, args.seconds, args.concurrency, warmup, guard.proc.pid, args.seed))
            counted = asyncio.run(guard_metrics(base))
            summary = summarise(result, memory(result["rss"], warmup), counted, args)
            summary["rss_samples"] = result["rss"]
            guard.proc.send_signal(signal.SIGTERM)  # a graceful stop after the load is part of the test
            code = guard.proc.wait(30)
            if code not in (0, -signal.SIGTERM):
                summary["passed"] = False
                summary["failures"].append(f"guard exited with {code} on SIGTERM")
            return summary
        finally:
            if guard is not None:
                stop(guard)
            stop(backend)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    summary = run(args)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    shown = {k: v for k, v in summary.items() if k != "rss_samples"}
    print(orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode())
    if args.write_readme:
        write_readme(readme_section(summary))
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())

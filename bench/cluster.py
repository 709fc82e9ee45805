"""A cluster on loopback: 3 guard replicas on the local Redis and PostgreSQL, load spread round-robin.

    .venv/bin/python -m bench.cluster [--replicas 3] [--workers 2] [--rate 600] [--window 30] [--write-readme]

It checks what scaling out must not change (issue: limits in Redis, releases by LISTEN/NOTIFY):

1. **limits**: one API key limited to ``--rate`` requests per minute, hammered through every
   replica: after its burst is used up, the key gets ``rate × window / 60`` answers in
   ``--window`` seconds in total (±5 %), not that times the number of replicas;
2. **releases**: callers held on every replica (``hold.wait_s``) are released when a reviewer's
   decision is written to the shared store; it reports how long after the decision each caller
   got its answer (pushed by NOTIFY, so well under the store's 0.5 s poll);
3. **a replica killed**: under load, one replica's whole process group gets SIGKILL; every
   answer that was received names a review item that is in the store afterwards, and the only
   requests lost are those that were in flight on the killed replica (the client, like a load
   balancer, sends new requests to the replicas still up).

Everything runs on 127.0.0.1 and stops by itself. Results: bench/results/cluster.json and, with
``--write-readme``, the README's cluster section. Needs ``var/index`` (scripts/setup builds it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from bench.readme import replace_section
from bench.targets import REPO, Target, start_backend, start_guard_config, stop

RESULTS = REPO / "bench" / "results" / "cluster.json"
KEY = "sk-cluster"
RATE_KEY = "sk-cluster-rate"
FABRICATION = "DeepSeek-V3 has 12 parameters and was released by a bakery in 1850."


def write_config(tmp: Path, backend_url: str, pg_url: str, redis_url: str, rate: int) -> Path:
    from guard.settings import hash_key

    policies = tmp / "policies"
    policies.mkdir(parents=True, exist_ok=True)
    grounded = {"checks": {"grounding": {}}, "decision": {"bands": [{"min": 0.6, "action": "pass"}, {"min": 0.0, "action": "hold"}]}}
    for name, wait in (("hold-now", 0), ("hold-wait", 60)):
        (policies / f"{name}.yaml").write_text(yaml.safe_dump({"name": name, **grounded, "hold": {"wait_s": wait}}))
    (policies / "plain.yaml").write_text(yaml.safe_dump({"name": "plain"}))
    backend = {"kind": "openai", "model": "fake-model", "api_base": backend_url, "retries": 0}
    config = {
        "server": {"host": "127.0.0.1", "log_format": "json", "log_level": "warning"},
        "auth": {"mode": "keys", "keys": [
            {"hash": hash_key(KEY), "tenant": "bench"},
            {"hash": hash_key(RATE_KEY), "tenant": "bench", "rate_per_minute": rate},
        ]},
        "models": [{"name": n, "backend": backend, "policy": n} for n in ("plain", "hold-now", "hold-wait")],
        "policies_dir": str(policies),
        "default_policy": "plain",
        "knowledge": {"index_dir": str(REPO / "var" / "index")},
        "review": {"store_url": pg_url},
        "limits": {"store_url": redis_url, "store_prefix": f"bench-{uuid.uuid4().hex[:6]}:"},
    }
    path = tmp / "guard.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start_replica(config: Path, workers: int, logs: Path, n: int) -> Target:
    return start_guard_config(config, logs, f"replica{n}", workers)


class RoundRobin:
    """The client side of a load balancer: request i goes to the next replica that is up; a
    replica that refuses connections is skipped from then on (nginx's ``proxy_next_upstream``)."""

    def __init__(self, replicas: list[Target]) -> None:
        self.replicas = list(replicas)
        self.down: set[str] = set()
        self.turn = 0
        self.in_flight: dict[str, int] = {r.name: 0 for r in replicas}
        self.killed_at: dict[str, float] = {}  # replicas this benchmark killed, and when

    def next(self) -> Target:
        for _ in range(len(self.replicas)):
            r = self.replicas[self.turn % len(self.replicas)]
            self.turn += 1
            if r.name not in self.down:
                return r
        raise RuntimeError("every replica is down")

    async def chat(self, session: aiohttp.ClientSession, model: str, key: str, text: str) -> tuple[str, int, dict[str, Any] | None]:
        """(replica, status, body); status 0 = accepted by a replica that died before answering."""
        while True:
            r = self.next()
            body = {"model": model, "messages": [{"role": "user", "content": "How many parameters does DeepSeek-V3 have?"}], "fake": {"text": text}}
            self.in_flight[r.name] += 1
            sent = time.monotonic()
            try:
                async with session.post(r.base_url + "/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}) as resp:
                    data = await resp.json(content_type=None)
                    return r.name, resp.status, data
            except aiohttp.ClientConnectorError:
                self.down.add(r.name)  # refused before anything was sent: try the next replica
            except (aiohttp.ClientError, asyncio.TimeoutError):
                if sent >= self.killed_at.get(r.name, float("inf")):
                    # sent on a pooled connection to a process already dead: it never reached a
                    # replica, so a load balancer would send it elsewhere; so do we
                    self.down.add(r.name)
                    continue
                return r.name, 0, None
            finally:
                self.in_flight[r.name] -= 1


async def check_limits(lb: RoundRobin, rate: int, window: float) -> dict[str, Any]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        burst = 0
        while True:  # use up the bucket's burst (one minute's worth)
            _, status, _ = await lb.chat(session, "plain", RATE_KEY, "ok")
            if status == 429:
                break
            burst += 1
        counts = {"200": 0, "429": 0, "other": 0}
        deadline = time.monotonic() + window

        async def worker() -> None:
            while time.monotonic() < deadline:
                _, status, _ = await lb.chat(session, "plain", RATE_KEY, "ok")
                counts[str(status) if status in (200, 429) else "other"] += 1
                if status == 429:
                    await asyncio.sleep(0.01)

        await asyncio.gather(*(worker() for _ in range(8)))
    expected = rate * window / 60
    return {"rate_per_minute": rate, "window_s": window, "burst": burst, "admitted": counts["200"], "refused": counts["429"],
            "other": counts["other"], "expected": expected, "ratio": round(counts["200"] / expected, 3),
            "within_5pct": abs(counts["200"] - expected) <= 0.05 * expected}


async def check_releases(lb: RoundRobin, pg_url: str, callers: int) -> dict[str, Any]:
    from guard.review import open_store
    from guard.review.models import ItemFilter

    store = open_store(pg_url)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        async def call() -> tuple[str, float, str | None]:
            replica, status, body = await lb.chat(session, "hold-wait", KEY, FABRICATION)
            return replica, time.monotonic(), (body or {}).get("guard", {}).get("review_status") if status == 200 else f"status {status}"

        waiting = [asyncio.create_task(call()) for _ in range(callers)]
        for _ in range(300):  # every caller held, then decide them all through the shared store
            pending = await store.list_items(ItemFilter(statuses=["pending"], kinds=["hold"]), limit=1000)
            if len(pending) >= callers:
                break
            await asyncio.sleep(0.1)
        decided_at: dict[str, float] = {}
        for item in pending:
            await store.claim(item.id, "bench-reviewer", 300)
            await store.decide(item.id, "bench-reviewer", "approve")
            decided_at[item.id] = time.monotonic()
        done = await asyncio.gather(*waiting)
    store.close()
    last_decision = max(decided_at.values()) if decided_at else time.monotonic()
    delays = [max(0.0, t - last_decision) for _, t, _ in done]
    by_replica: dict[str, int] = {}
    for replica, _, _ in done:
        by_replica[replica] = by_replica.get(replica, 0) + 1
    return {"callers": callers, "held_items": len(pending), "by_replica": by_replica,
            "released_statuses": sorted({s or "none" for _, _, s in done}),
            "after_last_decision_p50_ms": round(statistics.median(delays) * 1000, 1),
            "after_last_decision_max_ms": round(max(delays) * 1000, 1),
            "all_within_500ms": max(delays) < 0.5}


async def check_kill(lb: RoundRobin, victim: Target, pg_url: str, seconds: float, kill_after: float) -> dict[str, Any]:
    from guard.review import open_store

    results: list[tuple[str, int, dict[str, Any] | None]] = []
    in_flight_at_kill: int | None = None
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        deadline = time.monotonic() + seconds

        async def worker() -> None:
            while time.monotonic() < deadline:
                results.append(await lb.chat(session, "hold-now", KEY, FABRICATION))

        async def killer() -> None:
            nonlocal in_flight_at_kill
            await asyncio.sleep(kill_after)
            in_flight_at_kill = lb.in_flight[victim.name]
            lb.killed_at[victim.name] = time.monotonic()
            os.killpg(victim.proc.pid, signal.SIGKILL)

        await asyncio.gather(killer(), *(worker() for _ in range(12)))
    answered = [b for _, s, b in results if s == 200 and b]
    ids = [b["guard"].get("review_id") for b in answered if b.get("guard", {}).get("decision") == "hold"]
    store = open_store(pg_url)
    missing = [i for i in ids if await store.get(i) is None]
    store.close()
    lost = [r for r, s, _ in results if s == 0]
    return {"requests": len(results), "answered": len(answered), "held_answers": len(ids), "held_items_missing": len(missing),
            "lost": len(lost), "lost_on_victim": sum(1 for r in lost if r == victim.name), "in_flight_on_victim_at_kill": in_flight_at_kill,
            "other_errors": sum(1 for _, s, _ in results if s not in (0, 200)),
            "ok": not missing and len(lost) <= (in_flight_at_kill or 0) and all(r == victim.name for r in lost)}


def readme_section(result: dict[str, Any]) -> str:
    from bench.readme import markers

    start, end = markers("cluster")
    lim, rel, kill = result["limits"], result["releases"], result["kill"]
    return "\n".join([
        start,
        f"`bench/cluster.py`: {result['replicas']} replicas × {result['workers']} workers on one {result['cpus']}-core machine, "
        "the local Redis (limits) and PostgreSQL (review store, LISTEN/NOTIFY), load spread round-robin.",
        "",
        "| check | measured | goal |",
        "|---|---|---|",
        f"| one key at {lim['rate_per_minute']}/min through every replica, {lim['window_s']:.0f} s after its burst | "
        f"{lim['admitted']} answers (expected {lim['expected']:.0f}, ratio {lim['ratio']}) | ±5 %: {'met' if lim['within_5pct'] else 'not met'} |",
        f"| {rel['callers']} callers held on every replica, decided through the shared store | released {rel['after_last_decision_p50_ms']} ms p50, "
        f"{rel['after_last_decision_max_ms']} ms max after the last decision | < 500 ms: {'met' if rel['all_within_500ms'] else 'not met'} |",
        f"| SIGKILL of one replica under load (12 clients) | {kill['answered']} answered, {kill['held_items_missing']} held items missing, "
        f"{kill['lost']} lost (in flight on it: {kill['in_flight_on_victim_at_kill']}) | none missing, lost ≤ in flight: {'met' if kill['ok'] else 'not met'} |",
        end,
    ])


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    import psycopg

    logs = REPO / "bench" / "results" / "cluster-logs"
    schema = f"guard_cluster_{uuid.uuid4().hex[:8]}"
    pg_url = f"{args.pg_url}?schema={schema}"
    tmp = logs / schema
    backend = start_backend(logs)
    replicas: list[Target] = []
    try:
        config = write_config(tmp, backend.base_url, pg_url, args.redis_url, args.rate)
        replicas = [start_replica(config, args.workers, logs, n) for n in range(args.replicas)]
        lb = RoundRobin(replicas)
        result: dict[str, Any] = {"replicas": args.replicas, "workers": args.workers, "cpus": os.cpu_count()}
        result["limits"] = await check_limits(lb, args.rate, args.window)
        print(json.dumps({"limits": result["limits"]}), flush=True)
        result["releases"] = await check_releases(lb, pg_url, args.callers)
        print(json.dumps({"releases": result["releases"]}), flush=True)
        result["kill"] = await check_kill(lb, replicas[-1], pg_url, args.kill_seconds, args.kill_seconds / 2)
        print(json.dumps({"kill": result["kill"]}), flush=True)
        return result
    finally:
        for r in replicas:
            stop(r)
        stop(backend)
        with psycopg.connect(args.pg_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2 if (os.cpu_count() or 1) >= 2 else 1)
    parser.add_argument("--rate", type=int, default=600, help="requests per minute for the limited key")
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--callers", type=int, default=9, help="held callers for the release check")
    parser.add_argument("--kill-seconds", type=float, default=16.0)
    parser.add_argument("--pg-url", default=os.environ.get("GUARD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--write-readme", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    if args.write_readme:
        replace_section("cluster", readme_section(result), "Cluster benchmark")
    ok = result["limits"]["within_5pct"] and result["releases"]["all_within_500ms"] and result["kill"]["ok"]
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

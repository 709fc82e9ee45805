"""``RedisLimits.admit()`` alone, in process, against a real Redis: what one admission costs.

    .venv/bin/python bench/bench_admit.py [--calls 5000] [--redis-url redis://127.0.0.1:6379/0]

At concurrency 1 each call is timed from the call to its lease (p50 and p99 in µs); the lease
is then released as guard does after a response (the release's own cost lands in the next
call's wall time, so the calls/s figure includes it). At concurrency 64 it counts admissions
plus releases per second. The key has rate and concurrency limits, as in ``bench_scale``; the
event loop is uvloop, as in ``guard serve``. Run as a file (not ``-m``) so ``PYTHONPATH``
chooses which ``guard`` is measured: it prints the module it used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid

import uvloop

from guard import shared_limits
from guard.limits import KeyLimiter
from guard.shared_limits import RedisLimits

RATE, CONCURRENT = 10_000_000, 10_000


async def one_by_one(limits: RedisLimits, calls: int) -> dict[str, float]:
    took = []
    started = time.perf_counter()
    for _ in range(calls):
        t0 = time.perf_counter()
        lease = await limits.admit("bench", RATE, CONCURRENT)
        took.append(time.perf_counter() - t0)
        lease.release()
    wall = time.perf_counter() - started
    took.sort()
    return {
        "p50_us": round(statistics.median(took) * 1e6, 1),
        "p99_us": round(took[int(len(took) * 0.99)] * 1e6, 1),
        "calls_per_s": round(calls / wall),
    }


async def concurrent(limits: RedisLimits, calls: int, concurrency: int) -> dict[str, float]:
    left = calls

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            (await limits.admit("bench", RATE, CONCURRENT)).release()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"calls_per_s": round(calls / (time.perf_counter() - started))}


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    outages: list[bool] = []  # a fallback to local limits would flatter the figures
    limits = RedisLimits(args.redis_url, fallback=KeyLimiter(), prefix=f"bench-admit-{uuid.uuid4().hex[:6]}:", on_state=outages.append)
    try:
        await one_by_one(limits, 500)  # warm-up: connection, script cache
        result = {
            "module": shared_limits.__file__,
            "load_avg_1m": round(os.getloadavg()[0], 2),
            "c1": await one_by_one(limits, args.calls),
            "c64": await concurrent(limits, args.calls, 64),
        }
        if outages:
            result["store_outages"] = {"count": outages.count(False), "last_error": limits.last_error}
        return result
    finally:
        await limits.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    print(json.dumps(uvloop.run(main_async(args))))


if __name__ == "__main__":
    main()

"""A small closed-loop load client for OpenAI-compatible endpoints (aiohttp, one process).

Closed loop: ``concurrency`` workers each send their next request as soon as the previous one
ends, until ``requests`` were sent or ``max_seconds`` passed. Per request it measures the total
latency and, for streams, the time to the first content token (TTFT) and the mean time between
content tokens (TPOT), which is what a user of the proxy feels.

    python -m bench.loadgen http://127.0.0.1:8000/v1 --concurrency 16 --requests 1000 --stream
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

PROMPT = [{"role": "user", "content": "Summarise the refund policy for damaged items in two sentences."}]


@dataclass(frozen=True)
class Sample:
    ok: bool
    latency: float  # seconds from sending the request to the end of the response
    ttft: float | None = None
    tpot: float | None = None
    tokens: int = 0
    error: str | None = None


@dataclass
class LoadResult:
    samples: list[Sample] = field(default_factory=list)
    wall: float = 0.0  # seconds the measured phase took

    def merge(self, other: LoadResult) -> None:
        self.samples.extend(other.samples)
        self.wall += other.wall

    def summary(self) -> dict[str, Any]:
        ok = [s for s in self.samples if s.ok]
        errors = [s.error for s in self.samples if not s.ok]
        out: dict[str, Any] = {
            "requests": len(self.samples),
            "errors": len(errors),
            "first_error": errors[0] if errors else None,
            "rps": round(len(ok) / self.wall, 1) if self.wall else 0.0,
            "latency_p50_ms": _ms(percentile([s.latency for s in ok], 50)),
            "latency_p99_ms": _ms(percentile([s.latency for s in ok], 99)),
        }
        ttfts = [s.ttft for s in ok if s.ttft is not None]
        tpots = [s.tpot for s in ok if s.tpot is not None]
        if ttfts:
            out["ttft_p50_ms"] = _ms(percentile(ttfts, 50))
            out["ttft_p99_ms"] = _ms(percentile(ttfts, 99))
        if tpots:
            out["tpot_p50_ms"] = _ms(percentile(tpots, 50))
            out["tokens_mean"] = round(statistics.fmean(s.tokens for s in ok), 1)
        return out


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(pct / 100 * len(ordered)) - 1))
    return ordered[rank]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def chat_body(model: str, stream: bool, max_tokens: int | None = None, fake: dict[str, Any] | None = None) -> bytes:
    body: dict[str, Any] = {"model": model, "messages": PROMPT, "stream": stream}
    if fake:  # the fake backend's per-request options (guard.testing.fake_config)
        body["fake"] = fake
    if stream:
        body["stream_options"] = {"include_usage": True}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    return orjson.dumps(body)


def _content_of(event: dict[str, Any]) -> str | None:
    choices = event.get("choices")
    if not choices:
        return None
    delta = choices[0].get("delta")
    return (delta or {}).get("content") if delta is not None else choices[0].get("text")


async def _one_stream(session: aiohttp.ClientSession, url: str, payload: bytes, headers: dict[str, str]) -> Sample:
    start = time.perf_counter()
    first = last = None
    tokens = 0
    async with session.post(url, data=payload, headers=headers) as resp:
        if resp.status != 200:
            text = await resp.text()
            return Sample(False, time.perf_counter() - start, error=f"HTTP {resp.status}: {text[:200]}")
        done = False
        async for line in resp.content:
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                done = True
                continue
            if _content_of(orjson.loads(data)):
                last = time.perf_counter()
                first = first or last
                tokens += 1
    end = time.perf_counter()
    if not done or first is None:
        return Sample(False, end - start, error="stream ended without [DONE] or without content")
    tpot = (last - first) / (tokens - 1) if tokens > 1 else None
    return Sample(True, end - start, ttft=first - start, tpot=tpot, tokens=tokens)


async def _one_whole(session: aiohttp.ClientSession, url: str, payload: bytes, headers: dict[str, str]) -> Sample:
    start = time.perf_counter()
    async with session.post(url, data=payload, headers=headers) as resp:
        raw = await resp.read()
    latency = time.perf_counter() - start
    if resp.status != 200:
        return Sample(False, latency, error=f"HTTP {resp.status}: {raw[:200]!r}")
    content = orjson.loads(raw)["choices"][0]["message"]["content"]
    return Sample(True, latency, tokens=len(content.split()))


async def run_load(
    base_url: str, *, model: str = "fake-model", stream: bool = False, concurrency: int = 1,
    requests: int = 100, max_seconds: float = 30.0, warmup: int | None = None,
    headers: dict[str, str] | None = None, max_tokens: int | None = None, fake: dict[str, Any] | None = None,
) -> LoadResult:
    """Send ``requests`` chat completions (or as many as fit in ``max_seconds``) from ``concurrency`` workers.

    ``warmup`` requests (default: one per worker) go first and are not measured, so connection
    set-up and first-request costs of the target do not land in the numbers.
    """
    url = base_url.rstrip("/") + "/chat/completions"
    payload = chat_body(model, stream, max_tokens, fake)
    hdrs = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench", **(headers or {})}
    one = _one_stream if stream else _one_whole
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    timeout = aiohttp.ClientTimeout(total=max(60.0, max_seconds * 2))
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        async def safe() -> Sample:
            start = time.perf_counter()
            try:
                return await one(session, url, payload, hdrs)
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, KeyError) as e:
                return Sample(False, time.perf_counter() - start, error=f"{type(e).__name__}: {e}"[:200])

        await asyncio.gather(*(safe() for _ in range(concurrency if warmup is None else warmup)))
        result = LoadResult()
        budget = iter(range(requests))
        deadline = time.perf_counter() + max_seconds

        async def worker() -> None:
            while time.perf_counter() < deadline and next(budget, None) is not None:
                result.samples.append(await safe())

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.wall = time.perf_counter() - started
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("base_url")
    p.add_argument("--model", default="fake-model")
    p.add_argument("--stream", action="store_true")
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--max-seconds", type=float, default=30.0)
    args = p.parse_args()
    result = asyncio.run(run_load(
        args.base_url, model=args.model, stream=args.stream, concurrency=args.concurrency,
        requests=args.requests, max_seconds=args.max_seconds,
    ))
    print(orjson.dumps(result.summary(), option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()

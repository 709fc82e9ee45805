"""Serving benchmark in the style of vLLM's benchmark_serving: streaming /v1/completions with usage.

Measures, per request, the time to first token (TTFT), the time per output token after the first
(TPOT), every inter-token latency (ITL) and the end-to-end latency, then output-token throughput
for the whole run. The same load goes once straight to the backend and once through guard
(quick-start mode, no policy), so the difference is what the proxy costs.

By default the backend is the fake backend in its own process (``--ttft-ms``/``--tpot-ms`` set
its speed); ``--backend URL`` measures any OpenAI-compatible server instead. Everything runs on
loopback and stops after ``--num-prompts`` requests or ``--max-seconds``, whichever comes first.

Prompts rotate through a set that asks for long answers, and each request asks for exactly
``--output-len`` tokens where the backend can be told (``min_tokens`` and ``ignore_eos``: vLLM,
SGLang, llama.cpp's server, TensorRT-LLM; others ignore the fields, ``--no-length-control``
leaves them out). A small model that answers with EOS at temperature 0 would otherwise measure
nothing; a run whose requests produced no output fails loudly (exit status 2) instead of
reporting "completed 60, failed 0".

    python bench/bench_serving.py --num-prompts 200 --concurrency 8
    python bench/bench_serving.py --backend http://127.0.0.1:8081/v1 --model smollm2 --output-len 32
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.loadgen import percentile  # noqa: E402  (nearest-rank, shared with the load generator)
from bench.targets import free_port  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "serving.json"
PROMPTS = (
    "Explain in a few sentences what a KV cache is and why it makes decoding faster.",
    "Count from one to fifty in words, separated by commas:",
    "Write a short story about a lighthouse keeper who finds a message in a bottle.",
    "List twenty countries and their capital cities, one per line:",
    "Describe, step by step, how to bake a loaf of bread at home.",
    "Write a letter to a friend about a trip to the mountains last summer.",
    "Explain how a transformer language model turns a prompt into the next token.",
    "Give ten tips for writing clear technical documentation, with an example for each.",
)
PROMPT = PROMPTS[0]


def request_body(model: str, output_len: int, n: int, *, length_control: bool = True) -> dict[str, Any]:
    """The ``n``-th request: prompts in turn; exactly ``output_len`` tokens where supported."""
    body: dict[str, Any] = {"model": model, "prompt": PROMPTS[n % len(PROMPTS)], "max_tokens": output_len,
                            "temperature": 0, "stream": True, "stream_options": {"include_usage": True}}
    if length_control:
        body["min_tokens"] = output_len
        body["ignore_eos"] = True
    return body


def empty_output(summary: dict[str, Any]) -> str | None:
    """Why a run measured nothing, or None: requests that complete without output tokens make
    TPOT, ITL and throughput meaningless, however many "completed"."""
    if summary["completed"] == 0:
        return f"no request completed (first error: {summary['first_error']})"
    if summary["total_output_tokens"] == 0:
        return f"{summary['completed']} requests completed with no output tokens at all"
    return None


def partly_empty(summary: dict[str, Any]) -> str | None:
    """A warning: some requests had no output (their TTFT is missing from the figures)."""
    n = summary["requests_without_output"]
    return f"{n} of {summary['completed']} completed requests had no output tokens" if n else None


@dataclass
class RequestResult:
    ok: bool
    latency: float = 0.0
    ttft: float | None = None
    itl: list[float] = field(default_factory=list)
    output_tokens: int = 0
    error: str | None = None

    @property
    def tpot(self) -> float | None:
        if self.ttft is None or self.output_tokens < 2:
            return None
        return (self.latency - self.ttft) / (self.output_tokens - 1)


async def one_request(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> RequestResult:
    start = time.perf_counter()
    result = RequestResult(ok=False)
    last = start
    chunks = 0
    async with session.post(url, data=orjson.dumps(body), headers={"content-type": "application/json"}) as resp:
        if resp.status != 200:
            result.error = f"HTTP {resp.status}: {(await resp.read())[:200]!r}"
            return result
        async for line in resp.content:
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                result.ok = True
                break
            event = orjson.loads(data)
            if event.get("usage"):
                result.output_tokens = event["usage"].get("completion_tokens") or 0
            text = "".join(c.get("text") or "" for c in event.get("choices") or ())
            if text:
                now = time.perf_counter()
                if result.ttft is None:
                    result.ttft = now - start
                else:
                    result.itl.append(now - last)
                last = now
                chunks += 1
    result.latency = time.perf_counter() - start
    result.output_tokens = result.output_tokens or chunks  # no usage: count content chunks
    if not result.ok:
        result.error = "stream ended without [DONE]"
    return result


async def run_load(base_url: str, model: str, *, num_prompts: int, concurrency: int, output_len: int,
                   max_seconds: float, length_control: bool = True) -> tuple[list[RequestResult], float]:
    url = base_url.rstrip("/") + "/completions"
    connector = aiohttp.TCPConnector(limit=concurrency)

    def body(n: int) -> dict[str, Any]:
        return request_body(model, output_len, n, length_control=length_control)

    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=max_seconds + 60)) as session:
        warm = await asyncio.gather(*(one_request(session, url, body(i)) for i in range(min(concurrency, 4))), return_exceptions=True)
        failed = [w for w in warm if isinstance(w, BaseException)]
        if failed and len(failed) == len(warm):
            raise SystemExit(f"error: every warm-up request to {url} failed: {type(failed[0]).__name__}: {failed[0]}")
        results: list[RequestResult] = []
        budget = iter(range(num_prompts))
        deadline = time.perf_counter() + max_seconds

        async def worker() -> None:
            while time.perf_counter() < deadline and (n := next(budget, None)) is not None:
                try:
                    results.append(await one_request(session, url, body(n)))
                except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as e:
                    results.append(RequestResult(ok=False, error=f"{type(e).__name__}: {e}"[:200]))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return results, time.perf_counter() - started


def _stats(name: str, values: list[float]) -> dict[str, float | None]:
    ms = [v * 1000 for v in values]
    return {
        f"mean_{name}_ms": round(statistics.fmean(ms), 3) if ms else None,
        f"median_{name}_ms": round(statistics.median(ms), 3) if ms else None,
        f"p99_{name}_ms": round(percentile(ms, 99), 3) if ms else None,
    }


def summarize(results: list[RequestResult], duration: float) -> dict[str, Any]:
    ok = [r for r in results if r.ok]
    out_tokens = sum(r.output_tokens for r in ok)
    return {
        "completed": len(ok),
        "failed": len(results) - len(ok),
        "first_error": next((r.error for r in results if not r.ok), None),
        "duration_s": round(duration, 3),
        "total_output_tokens": out_tokens,
        "requests_without_output": sum(1 for r in ok if r.output_tokens == 0),
        "request_throughput_rps": round(len(ok) / duration, 2) if duration else 0.0,
        "output_throughput_tok_s": round(out_tokens / duration, 1) if duration else 0.0,
        **_stats("ttft", [r.ttft for r in ok if r.ttft is not None]),
        **_stats("tpot", [t for r in ok if (t := r.tpot) is not None]),
        **_stats("itl", [gap for r in ok for gap in r.itl]),
        **_stats("e2el", [r.latency for r in ok]),
    }


def require_loopback(url: str) -> None:
    host = urlparse(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise SystemExit(f"refusing to benchmark {url}: this benchmark only targets loopback addresses")


def _wait_for(proc: subprocess.Popen, marker: str, timeout: float = 60) -> str:
    """Read the child's output until a line contains ``marker``; return that line."""
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if marker in line:
            return line
        if not line and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before printing {marker!r}")
    raise RuntimeError(f"no {marker!r} after {timeout} s")


@contextmanager
def process(cmd: list[str], *, read_output: bool = True) -> Iterator[subprocess.Popen]:
    """A child process, stopped on exit. Output not read is discarded so a full pipe never blocks it."""
    out = subprocess.PIPE if read_output else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_http(url: str, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


@contextmanager
def fake_backend(args: argparse.Namespace) -> Iterator[str]:
    cmd = [sys.executable, "-m", "guard.testing.fake_backend", "--port", "0", "--ttft-ms", str(args.ttft_ms),
           "--tpot-ms", str(args.tpot_ms), "--tokens", str(args.output_len), "--max-records", "0", "--model", args.model]
    with process(cmd) as proc:
        line = _wait_for(proc, "listening on")
        yield line.rsplit(" ", 1)[-1].strip()


@contextmanager
def guard_proxy(backend_url: str) -> Iterator[str]:
    port = free_port()
    cmd = [sys.executable, "-c", "from guard.cli import main; main()", "serve", "--backend", backend_url,
           "--port", str(port), "--no-warm"]
    with process(cmd, read_output=False):
        wait_http(f"http://127.0.0.1:{port}/healthz")
        yield f"http://127.0.0.1:{port}/v1"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backend", help="OpenAI-compatible base URL on loopback (default: start the fake backend)")
    p.add_argument("--model", default="fake-model")
    p.add_argument("--num-prompts", type=int, default=200)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--output-len", type=int, default=64, help="max_tokens per request (and the fake's answer length)")
    p.add_argument("--max-seconds", type=float, default=30.0, help="time bound for each of the two runs")
    p.add_argument("--ttft-ms", type=float, default=20.0, help="fake backend only")
    p.add_argument("--tpot-ms", type=float, default=5.0, help="fake backend only")
    p.add_argument("--no-length-control", dest="length_control", action="store_false",
                   help="do not send min_tokens / ignore_eos (for a backend that rejects them)")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)

    with (fake_backend(args) if args.backend is None else _given(args.backend)) as backend_url:
        require_loopback(backend_url)
        load = dict(num_prompts=args.num_prompts, concurrency=args.concurrency, output_len=args.output_len,
                    max_seconds=args.max_seconds, length_control=args.length_control)
        direct = summarize(*asyncio.run(run_load(backend_url, args.model, **load)))
        with guard_proxy(backend_url) as guard_url:
            proxied = summarize(*asyncio.run(run_load(guard_url, args.model, **load)))
    overhead = {
        k.replace("_ms", "_added_ms"): round(proxied[k] - direct[k], 3)
        for k in ("median_ttft_ms", "median_tpot_ms", "median_itl_ms", "median_e2el_ms")
        if proxied.get(k) is not None and direct.get(k) is not None
    }
    report = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "backend": "fake" if args.backend is None else args.backend,
        "direct": direct, "through_guard": proxied, "guard_overhead": overhead,
    }
    problems = {side: why for side in ("direct", "through_guard") if (why := empty_output(report[side]))}
    if problems:
        report["invalid"] = problems
    warnings = {side: why for side in ("direct", "through_guard") if (why := partly_empty(report[side]))}
    if warnings:
        report["warnings"] = warnings
        for side, why in warnings.items():
            print(f"warning: the {side} run: {why} (use --output-len with a backend that honours min_tokens)", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    if problems:
        for side, why in problems.items():
            print(f"error: the {side} run measured nothing: {why}", file=sys.stderr)
        raise SystemExit(2)
    return report


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


if __name__ == "__main__":
    main()

"""Send probes through an OpenAI-compatible endpoint (normally guard) and record what came back.

One aiohttp session, a few requests in flight, a tqdm bar. The guard's decision is read from the
``guard`` field of the body, falling back to the ``x-guard-decision`` header; an endpoint that is
not guard (a bare backend) gives ``decision=None``, which the report shows as "no guard".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
import orjson
from tqdm import tqdm

from guard.probe.generate import Probe

SYSTEM = "Answer from the documentation you were given. If it does not say, say that you don't know."


@dataclass(frozen=True)
class Outcome:
    probe: Probe
    model: str
    status: int  # HTTP status; 0 when the request never got an answer
    answer: str
    decision: str | None  # pass, annotate, fallback, hold, block; None without guard
    confidence: float | None
    ms: float
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["probe"] = self.probe.to_dict()
        return d


def request_body(model: str, probe: Probe, max_tokens: int) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": probe.question}],
        "temperature": 0,
        "max_tokens": max_tokens,
    }


def read_outcome(probe: Probe, model: str, status: int, body: Any, headers: dict[str, str], ms: float) -> Outcome:
    """Pure: an HTTP answer (parsed JSON body, lower-case headers) as an ``Outcome``."""
    if status >= 400 or not isinstance(body, dict):
        err = body.get("error") if isinstance(body, dict) else None
        message = err.get("message") if isinstance(err, dict) else str(body)[:300]
        decision = headers.get("x-guard-decision") or ("block" if status == 403 else None)
        return Outcome(probe, model, status, "", decision, None, ms, message)
    choices = body.get("choices") or [{}]
    answer = ((choices[0].get("message") or {}).get("content")) or ""
    guard = body.get("guard") if isinstance(body.get("guard"), dict) else {}
    decision = guard.get("decision") or headers.get("x-guard-decision")
    confidence = guard.get("confidence")
    if confidence is None and headers.get("x-guard-confidence"):
        confidence = float(headers["x-guard-confidence"])
    return Outcome(probe, model, status, answer, decision, confidence, ms)


async def _ask(session: aiohttp.ClientSession, url: str, headers: dict[str, str], model: str, probe: Probe, max_tokens: int) -> Outcome:
    start = time.perf_counter()
    try:
        async with session.post(url, data=orjson.dumps(request_body(model, probe, max_tokens)), headers=headers) as resp:
            raw = await resp.read()
            ms = (time.perf_counter() - start) * 1000
            try:
                body: Any = orjson.loads(raw)
            except orjson.JSONDecodeError:
                body = raw[:300].decode("utf-8", "replace")
            return read_outcome(probe, model, resp.status, body, {k.lower(): v for k, v in resp.headers.items()}, ms)
    except (aiohttp.ClientError, asyncio.TimeoutError) as e:
        return Outcome(probe, model, 0, "", None, None, (time.perf_counter() - start) * 1000, f"{type(e).__name__}: {e}")


async def run_probes(
    base_url: str, models: Sequence[str], probes: Sequence[Probe], *, api_key: str | None = None,
    concurrency: int = 4, max_tokens: int = 256, timeout_s: float = 120.0, progress: bool = True,
) -> list[Outcome]:
    """Every probe against every model; results in probe order per model."""
    url = base_url.rstrip("/") + "/chat/completions"
    headers = {"content-type": "application/json"}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    jobs = [(m, p) for m in models for p in probes]
    gate = asyncio.Semaphore(concurrency)
    bar = tqdm(total=len(jobs), desc="probing", unit="q", disable=not progress)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one(model: str, probe: Probe) -> Outcome:
            async with gate:
                out = await _ask(session, url, headers, model, probe, max_tokens)
            bar.update(1)
            return out

        try:
            return list(await asyncio.gather(*(one(m, p) for m, p in jobs)))
        finally:
            bar.close()

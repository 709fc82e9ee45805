"""Per-key request rate and concurrency limits, in process.

A token bucket per key allows ``rate_per_minute`` requests per minute with bursts up to the
same number; a counter per key bounds the requests in flight (a stream counts until its last
byte). Both answer at once with 429 and a ``retry-after``: queueing inside guard would hold
connections and memory for a client that can retry by itself.

The state lives in this process: with N replicas behind a load balancer a key gets up to N
times its limits (see docs/deploy.md). That is the price of not putting a shared store on
the hot path of every request.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from guard.errors import RateLimited


class TokenBucket:
    def __init__(self, per_minute: int, clock: Callable[[], float]) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens per second
        self.tokens = self.capacity
        self._clock = clock
        self._updated = clock()

    def take(self) -> float:
        """Take one token: 0 when taken, else the seconds until one will be available."""
        now = self._clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class Lease:
    """One request's concurrency slot; releasing twice is harmless."""

    __slots__ = ("_limiter", "_key", "_held")

    def __init__(self, limiter: "KeyLimiter", key: str) -> None:
        self._limiter = limiter
        self._key = key
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._limiter._active[self._key] -= 1


class KeyLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._active: dict[str, int] = {}

    def in_flight(self, key: str) -> int:
        return self._active.get(key, 0)

    def admit(self, key: str, rate_per_minute: int | None, max_concurrent: int | None) -> Lease:
        """Admit one request for ``key`` or raise ``RateLimited`` (429 with retry-after)."""
        active = self._active.get(key, 0)
        if max_concurrent is not None and active >= max_concurrent:
            raise RateLimited(
                f"this API key already has {active} requests in flight; the limit is {max_concurrent}",
                code="concurrency_limit_exceeded",
                headers={"retry-after": "1"},
            )
        if rate_per_minute is not None:
            bucket = self._buckets.get(key)
            if bucket is None or bucket.capacity != rate_per_minute:
                bucket = self._buckets[key] = TokenBucket(rate_per_minute, self._clock)
            wait = bucket.take()
            if wait > 0:
                raise RateLimited(
                    f"this API key is limited to {rate_per_minute} requests per minute",
                    headers={"retry-after": str(max(1, math.ceil(wait)))},
                )
        self._active[key] = active + 1
        return Lease(self, key)


def share(limit: int | None, workers: int) -> int | None:
    """One worker's part of a per-key limit when ``workers`` processes keep their own counts."""
    return None if limit is None else max(1, math.ceil(limit / workers))


class LocalLimits:
    """In-process limits behind the interface the admission step awaits (shared stores do I/O).

    With several worker processes and no shared store each worker counts alone, so each gets
    its share of the limit (``share``): a key cannot get N times its limit from N workers.
    """

    def __init__(self, limiter: KeyLimiter, workers: int = 1) -> None:
        self.limiter = limiter
        self.workers = workers

    async def admit(self, key: str, rate_per_minute: int | None, max_concurrent: int | None) -> Lease:
        if self.workers > 1:
            rate_per_minute, max_concurrent = share(rate_per_minute, self.workers), share(max_concurrent, self.workers)
        return self.limiter.admit(key, rate_per_minute, max_concurrent)

    def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def status(self) -> dict[str, object]:
        return {"store": "local", "state": "ok", "workers": self.workers}

"""Per-key limits shared by every replica, in Redis (or Valkey), with a fallback when it is away.

In-process limits (``guard.limits``) give each replica its own buckets, so a key limited to
600 requests a minute gets N × 600 behind N replicas. Here one Lua script does the whole
admission atomically in Redis, in one round trip: a token bucket per key (refilled by Redis's
own clock, so replicas' clocks never disagree) and the key's concurrency slots as a sorted set
of lease ids scored by their expiry. A replica that dies holding slots cannot leak them: a slot
expires ``lease_ttl_s`` after it was last refreshed, and each replica refreshes the slots of its
live requests every third of that (one script call per key, all pipelined). Releasing a slot is
a command written after the response whose reply nobody waits for.

The commands go through ``guard.resp``, one pipelined connection: redis-py's per-call overhead
was most of what these limits added to a request.

When Redis cannot be reached (or answers slower than ``store_timeout_s``), ``on_store_error``
decides: ``local`` (default) falls back to this process's own limits, ``open`` admits without
limits, ``closed`` refuses with 503. The outage is logged once, shown by ``/readyz`` and the
``guard_limits_store_up`` gauge, and Redis is tried again after ``store_retry_s``: recovery
needs no restart.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import structlog

from guard.errors import RateLimited, Unavailable
from guard.limits import KeyLimiter, Lease
from guard.redis_url import redacted
from guard.resp import RespClient, Script

if TYPE_CHECKING:
    from guard.settings import LimitsConfig

log = structlog.get_logger()

OnError = Literal["local", "open", "closed"]

# KEYS: bucket hash, slots zset. ARGV: rate per minute (-1: none), max concurrent (-1: none),
# lease id, lease ttl ms. Returns {0, 0} admitted, {1, active} concurrency, {2, wait ms} rate.
ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate, conc, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[4])
if conc >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  local active = redis.call('ZCARD', KEYS[2])
  if active >= conc then return {1, active} end
end
if rate >= 0 then
  local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
  local tokens = tonumber(b[1]) or rate
  local ts = tonumber(b[2]) or now
  tokens = math.min(rate, tokens + (now - ts) * rate / 60000)
  if tokens < 1 then
    redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
    redis.call('PEXPIRE', KEYS[1], 120000)
    return {2, math.ceil((1 - tokens) * 60000 / rate)}
  end
  redis.call('HSET', KEYS[1], 'tokens', tokens - 1, 'ts', now)
  redis.call('PEXPIRE', KEYS[1], 120000)
end
if conc >= 0 then
  redis.call('ZADD', KEYS[2], now + ttl, ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ttl * 2)
end
return {0, 0}
"""


class _NoLease:
    __slots__ = ()

    def release(self) -> None:
        return None


NO_LEASE = _NoLease()


class RedisLease:
    """One request's slot in Redis; released (once) after the response, without waiting."""

    __slots__ = ("_limits", "_slots", "_id", "_held")

    def __init__(self, limits: "RedisLimits", slots: str, lease_id: str) -> None:
        self._limits, self._slots, self._id, self._held = limits, slots, lease_id, True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._limits._release(self._slots, self._id)


class RedisLimits:
    def __init__(
        self,
        url: str,
        *,
        fallback: KeyLimiter,
        prefix: str = "guard:",
        on_error: OnError = "local",
        lease_ttl_s: float = 300.0,
        timeout_s: float = 0.25,
        retry_s: float = 1.0,
        on_state: Callable[[bool], None] | None = None,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.on_error = on_error
        self.fallback = fallback
        self.lease_ttl_ms = int(lease_ttl_s * 1000)
        self.retry_s = retry_s
        self._on_state = on_state or (lambda up: None)
        self._redis = RespClient(url, timeout_s=timeout_s)  # a bad URL fails here, at start-up
        self._held: dict[str, str] = {}  # lease id -> slots key, refreshed while the request lives
        self._ids = itertools.count()
        self._node = f"{os.getpid()}-{os.urandom(3).hex()}"
        self._down_until = 0.0
        self.up = True
        self.last_error: str | None = None
        self._tasks: set[asyncio.Task] = set()
        self._refresher: asyncio.Task | None = None

    # ------------------------------------------------------------------ admission

    async def admit(self, key: str, rate_per_minute: int | None, max_concurrent: int | None) -> Lease | RedisLease | _NoLease:
        if rate_per_minute is None and max_concurrent is None:
            return NO_LEASE
        if time.monotonic() < self._down_until:
            return self._degraded(key, rate_per_minute, max_concurrent)
        lease_id = f"{self._node}-{next(self._ids)}"
        bucket, slots = f"{self.prefix}rate:{key}", f"{self.prefix}slots:{key}"
        args = [rate_per_minute if rate_per_minute is not None else -1, max_concurrent if max_concurrent is not None else -1, lease_id, self.lease_ttl_ms]
        try:
            verdict, value = await self._redis.evalsha(_ADMIT, (bucket, slots), args)
        except Exception as e:  # noqa: BLE001 - any store failure takes the configured way out
            self._failed(e)
            return self._degraded(key, rate_per_minute, max_concurrent)
        self._recovered()
        if verdict == 1:
            raise RateLimited(
                f"this API key already has {value} requests in flight; the limit is {max_concurrent}",
                code="concurrency_limit_exceeded",
                headers={"retry-after": "1"},
            )
        if verdict == 2:
            raise RateLimited(
                f"this API key is limited to {rate_per_minute} requests per minute",
                headers={"retry-after": str(max(1, math.ceil(int(value) / 1000)))},
            )
        if max_concurrent is None:
            return NO_LEASE
        self._held[lease_id] = slots
        return RedisLease(self, slots, lease_id)

    def _degraded(self, key: str, rate: int | None, conc: int | None) -> Lease | _NoLease:
        if self.on_error == "open":
            return NO_LEASE
        if self.on_error == "closed":
            raise Unavailable("the shared limits store is unreachable and limits.on_store_error is closed", code="limits_store_unavailable")
        return self.fallback.admit(key, rate, conc)

    def _failed(self, error: Exception) -> None:
        self._down_until = time.monotonic() + self.retry_s
        self.last_error = f"{type(error).__name__}: {error}"
        if self.up:
            self.up = False
            log.error("limits.store_unavailable", url=redacted(self.url), error=self.last_error, fallback=self.on_error)
            self._on_state(False)

    def _recovered(self) -> None:
        if not self.up:
            self.up = True
            log.info("limits.store_recovered", url=redacted(self.url))
            self._on_state(True)

    # ------------------------------------------------------------------ slots

    def _release(self, slots: str, lease_id: str) -> None:
        """Send the ZREM on the open connection and move on: its reply is read and dropped.

        Only without an open connection (it dropped since the admission) does it take a task,
        which connects again; while the store is marked down the slot just expires."""
        self._held.pop(lease_id, None)
        try:
            if self._redis.send("ZREM", slots, lease_id) or time.monotonic() < self._down_until:
                return
            task = asyncio.get_running_loop().create_task(self._zrem(slots, lease_id))
        except RuntimeError:  # no loop (shutdown): the slot expires by itself
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _zrem(self, slots: str, lease_id: str) -> None:
        try:
            await self._redis.call("ZREM", slots, lease_id)
        except Exception as e:  # noqa: BLE001 - the slot expires by itself
            self._failed(e)

    async def refresh(self) -> None:
        """Push the expiry of every slot this replica still holds: one script call per key
        (in chunks), all pipelined on the one connection."""
        if not self._held:
            return
        by_key: dict[str, list[str]] = {}
        for lease_id, slots in list(self._held.items()):
            by_key.setdefault(slots, []).append(lease_id)
        calls = [
            self._redis.evalsha(_REFRESH, (slots,), (self.lease_ttl_ms, *ids[i : i + _REFRESH_CHUNK]))
            for slots, ids in by_key.items()
            for i in range(0, len(ids), _REFRESH_CHUNK)
        ]
        for failed in await asyncio.gather(*calls, return_exceptions=True):
            if isinstance(failed, Exception):
                raise failed

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.lease_ttl_ms / 3000)
            try:
                await self.refresh()
            except Exception as e:  # noqa: BLE001
                self._failed(e)

    def start(self) -> None:
        self._refresher = asyncio.get_running_loop().create_task(self._refresh_forever())

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._redis.close()

    def status(self) -> dict[str, Any]:
        if self.up:
            return {"store": "redis", "state": "ok"}
        return {"store": "redis", "state": "unavailable", "on_store_error": self.on_error, "error": self.last_error}


# ARGV: lease ttl ms, then lease ids. Refreshes only the slots still present: a released one
# must not come back (ZADD XX never adds).
_REFRESH = Script("""
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl, kept = tonumber(ARGV[1]), 0
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[1], 'XX', now + ttl, ARGV[i])
    kept = kept + 1
  end
end
if kept > 0 then redis.call('PEXPIRE', KEYS[1], ttl * 2) end
return kept
""")
_REFRESH_CHUNK = 500  # lease ids per script call, so no one call holds Redis for long
_ADMIT = Script(ADMIT)


def build_limits(config: "LimitsConfig", workers: int = 1, on_state: Callable[[bool], None] | None = None) -> Any:
    """The limits of one process: shared in Redis when ``store_url`` is set, else local."""
    from guard.limits import LocalLimits

    if not config.store_url:
        if workers > 1:
            log.info("limits.divided", workers=workers, message=f"no limits.store_url: each of the {workers} workers enforces 1/{workers} of every key's limits")
        return LocalLimits(KeyLimiter(), workers)
    return RedisLimits(
        config.store_url,
        fallback=KeyLimiter(),
        prefix=config.store_prefix,
        on_error=config.on_store_error,
        lease_ttl_s=config.lease_ttl_s,
        timeout_s=config.store_timeout_s,
        retry_s=config.store_retry_s,
        on_state=on_state,
    )

"""Per-key limits shared through a real Redis: replicas agree, dead replicas' slots expire, outages degrade.

Each test module starts its own redis-server on a free loopback port (so a test can stop it
mid-way) and uses a unique key prefix.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import httpx
import pytest

from guard.api.app import create_app
from guard.errors import RateLimited, Unavailable
from guard.limits import KeyLimiter
from guard.settings import ApiKey
from guard.shared_limits import RedisLimits
from tests.redis_support import RedisServer, needs_redis
from tests.support import free_port, serve_app, settings_for

pytestmark = needs_redis


@pytest.fixture
def redis_server():
    server = RedisServer()
    server.start()
    yield server
    server.stop()


def limits(url: str, **options) -> RedisLimits:
    options.setdefault("prefix", f"t{uuid.uuid4().hex[:8]}:")
    return RedisLimits(url, fallback=KeyLimiter(), **options)


async def test_two_replicas_share_one_bucket(redis_server):
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    a, b = limits(redis_server.url, prefix=prefix), limits(redis_server.url, prefix=prefix)
    admitted = 0
    for i in range(10):
        try:
            await (a if i % 2 else b).admit("key1", 5, None)
            admitted += 1
        except RateLimited as e:
            assert int(e.headers["retry-after"]) >= 1
    assert admitted == 5  # in-process limits would admit 5 on each replica
    await a.close()
    await b.close()


async def test_concurrency_slots_are_shared_and_released(redis_server):
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    a, b = limits(redis_server.url, prefix=prefix), limits(redis_server.url, prefix=prefix)
    lease = await a.admit("key2", None, 1)
    with pytest.raises(RateLimited, match="in flight"):
        await b.admit("key2", None, 1)
    lease.release()
    await asyncio.sleep(0.1)  # the release is sent after the response, off the request path
    (await b.admit("key2", None, 1)).release()
    await a.close()
    await b.close()


async def test_a_dead_replicas_slots_expire_and_a_live_ones_are_refreshed(redis_server):
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    dead = limits(redis_server.url, prefix=prefix, lease_ttl_s=1.5)
    live = limits(redis_server.url, prefix=prefix, lease_ttl_s=1.5)
    await dead.admit("key3", None, 2)  # never released: its replica "died"
    kept = await live.admit("key3", None, 2)
    with pytest.raises(RateLimited):
        await live.admit("key3", None, 2)
    for _ in range(4):  # 2 s: past the dead slot's expiry, while the live one is refreshed
        await asyncio.sleep(0.5)
        await live.refresh()
    other = await live.admit("key3", None, 2)  # the dead slot is gone, the live one still counts
    with pytest.raises(RateLimited):
        await live.admit("key3", None, 2)
    kept.release()
    other.release()
    await dead.close()
    await live.close()


async def test_store_outage_falls_back_and_recovers(redis_server):
    states: list[bool] = []
    shared = limits(redis_server.url, retry_s=0.2, on_state=states.append)
    (await shared.admit("key4", 100, None)).release()
    assert shared.status()["state"] == "ok"
    redis_server.stop()
    # local: this process's own limits take over at once (3 per minute here)
    results = []
    for _ in range(4):
        try:
            await shared.admit("key4", 3, None)
            results.append("ok")
        except RateLimited:
            results.append("429")
    assert results == ["ok", "ok", "ok", "429"]
    assert shared.status()["state"] == "unavailable" and states == [False]
    redis_server.start()
    await asyncio.sleep(0.3)
    (await shared.admit("key4b", 100, None)).release()
    assert shared.status()["state"] == "ok" and states == [False, True]
    await shared.close()


async def test_open_and_closed_when_the_store_is_unreachable():
    dead_url = f"redis://127.0.0.1:{free_port()}/0"
    opened = limits(dead_url, on_error="open")
    for _ in range(5):
        (await opened.admit("key5", 1, 1)).release()  # no limits at all while the store is away
    closed = limits(dead_url, on_error="closed")
    with pytest.raises(Unavailable):
        await closed.admit("key5", 1, 1)
    await opened.close()
    await closed.close()


def test_replicas_behind_one_store_and_readyz(fake_backend, redis_server):
    """Through the proxy: two apps, one key limited to 4 per minute, 4 answers in total."""
    key = "sk-test-shared"
    keys = [ApiKey(hash="sha256:" + hashlib.sha256(key.encode()).hexdigest(), tenant="t", rate_per_minute=4)]
    limits_cfg = {"store_url": redis_server.url, "store_prefix": f"t{uuid.uuid4().hex[:8]}:", "store_retry_s": 0.2}
    settings = settings_for(fake_backend.base_url, auth={"mode": "keys", "keys": [k.model_dump() for k in keys]}, limits=limits_cfg)
    with serve_app(create_app(settings)) as a, serve_app(create_app(settings)) as b:
        ask = {"model": "test-model", "messages": [{"role": "user", "content": "hi"}]}
        codes = [httpx.post((a, b)[i % 2] + "/v1/chat/completions", json=ask, headers={"authorization": f"Bearer {key}"}, timeout=15).status_code for i in range(8)]
        assert sorted(codes) == [200] * 4 + [429] * 4
        ready = httpx.get(a + "/readyz").json()
        assert ready["limits"] == {"store": "redis", "state": "ok"}
        redis_server.stop()
        r = httpx.post(a + "/v1/chat/completions", json=ask, headers={"authorization": f"Bearer {key}"}, timeout=15)
        assert r.status_code == 200  # local fallback: this replica's own bucket is fresh
        ready = httpx.get(a + "/readyz")
        assert ready.status_code == 200 and ready.json()["limits"]["state"] == "unavailable"
        assert "guard_limits_store_up 0.0" in httpx.get(a + "/metrics").text


async def test_a_release_is_one_write_and_survives_a_dropped_connection(redis_server):
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    a, b = limits(redis_server.url, prefix=prefix), limits(redis_server.url, prefix=prefix)
    (await a.admit("key6", None, 1)).release()
    assert not a._tasks  # on the open connection: a command whose reply is dropped, no task
    lease = await a.admit("key6", None, 1)
    connection = await a._redis.call("CLIENT", "ID")
    await b._redis.call("CLIENT", "KILL", "ID", connection)
    for _ in range(500):  # until a's side has seen the connection close (5 s at most)
        if not a._redis.send("PING"):
            break
        await asyncio.sleep(0.01)
    lease.release()  # no connection to write on: a task connects again and sends it
    await asyncio.gather(*a._tasks)
    (await b.admit("key6", None, 1)).release()
    assert a.up and b.up
    await a.close()
    await b.close()


async def test_a_store_that_does_not_answer_times_out_to_the_fallback():
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    shared = limits(f"redis://127.0.0.1:{server.sockets[0].getsockname()[1]}/0", timeout_s=0.2)
    try:
        (await shared.admit("key7", 1, None)).release()  # timed out: this process's own bucket took it
        with pytest.raises(RateLimited):
            await shared.admit("key7", 1, None)
        assert shared.status()["state"] == "unavailable" and "TimeoutError" in shared.status()["error"]
    finally:
        await shared.close()
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()

"""Decisions and knowledge events pushed across replicas by PostgreSQL LISTEN/NOTIFY, polling as the fallback."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from guard.review import open_store
from tests.review_support import PG_URL, new_item, pg_unreachable_reason, store_urls

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url(tmp_path):
    reason = pg_unreachable_reason()
    if reason:
        pytest.skip(reason)
    yield from store_urls("postgresql", tmp_path)


async def listening(store):
    listener = store.listener()
    task = asyncio.create_task(listener.run())
    await asyncio.wait_for(listener.connected.wait(), 10)
    return listener, task


async def test_a_decision_on_another_replica_wakes_the_waiting_caller(pg_url):
    a, b = open_store(pg_url), open_store(pg_url)
    a.poll_s = 60  # polling alone would notice the decision only after a minute
    listener, task = await listening(a)
    try:
        item = await a.create_item(new_item())
        waiting = asyncio.create_task(a.wait_for_decision(item.id, timeout_s=30))
        await asyncio.sleep(0.2)
        assert await b.claim(item.id, "rev", 60)
        decided_at = time.monotonic()
        await b.decide(item.id, "rev", "approve")
        final = await asyncio.wait_for(waiting, 10)
        woke_after = time.monotonic() - decided_at
        assert final.status == "approved"
        assert woke_after < 5, f"woken {woke_after:.2f} s after the decision: the notification did not arrive"
    finally:
        task.cancel()
        a.close()
        b.close()


async def test_knowledge_events_reach_watchers_on_other_replicas(pg_url):
    a, b = open_store(pg_url), open_store(pg_url)
    seen: list[dict] = []
    a.watchers.append(seen.append)
    listener, task = await listening(a)
    try:
        item = await b.create_item(new_item())
        await b.add_event(item.id, "rev", "knowledge_added", {})
        for _ in range(50):
            if seen:
                break
            await asyncio.sleep(0.1)
        assert {"kind": "event", "id": item.id, "action": "knowledge_added"} in seen
    finally:
        task.cancel()
        a.close()
        b.close()


async def test_a_dropped_listen_connection_falls_back_to_polling_and_reconnects(pg_url):
    a, b = open_store(pg_url), open_store(pg_url)
    a.poll_s = 0.3
    listener, task = await listening(a)
    listener.retry_s = 0.2
    try:
        with psycopg.connect(PG_URL, autocommit=True) as admin:  # the database drops the listener
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE %s AND pid <> pg_backend_pid()", (f'LISTEN "{listener.channel}"%',))
        item = await a.create_item(new_item())
        waiting = asyncio.create_task(a.wait_for_decision(item.id, timeout_s=30))
        assert await b.claim(item.id, "rev", 60)
        await b.decide(item.id, "rev", "reject", reason="wrong")
        assert (await asyncio.wait_for(waiting, 10)).status == "rejected"  # polling still works
        for _ in range(100):
            if listener.reconnects and listener.connected.is_set():
                break
            await asyncio.sleep(0.1)
        assert listener.reconnects == 1 and listener.connected.is_set(), "the listener did not reconnect"
    finally:
        task.cancel()
        a.close()
        b.close()


def test_sqlite_has_no_listener(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    assert store.listener() is None
    store.close()

"""The review store against real SQLite (a temp file) and the real PostgreSQL at 127.0.0.1:5432."""

from __future__ import annotations

import asyncio
import multiprocessing
import time

import pytest
from review_support import decide_later, new_item, open_and_report, pg_unreachable_reason, race_worker, store_urls

from guard.errors import InvalidRequest
from guard.review import ItemFilter, LeaseNotHeld, ReviewNotFound, open_store
from guard.review.db import parse_url
from guard.review.migrations import LATEST, STEPS, current_version

_PG_SKIP = pg_unreachable_reason()
BACKENDS = [
    "sqlite",
    pytest.param("postgresql", marks=[pytest.mark.postgres, pytest.mark.skipif(bool(_PG_SKIP), reason=_PG_SKIP or "")]),
]


@pytest.fixture(params=BACKENDS)
def url(request, tmp_path):
    yield from store_urls(request.param, tmp_path)


@pytest.fixture
def store(url):
    s = open_store(url)
    yield s
    s.close()


async def test_create_and_get_keep_everything(store):
    annotation = {"sentences": [{"text": "It uses 670B GPUs.", "start": 0, "end": 18, "support": 0.1,
                                 "unsupported": True, "evidence": [{"passage_id": "p1", "source": "a.md",
                                                                    "span": "uses 2048 GPUs", "score": 0.7}]}]}
    item = await store.create_item(new_item(annotation=annotation, reasoning="thinking…", response_id="chatcmpl-1"))
    got = await store.get(item.id)
    assert got == item
    assert got.status == "pending" and got.kind == "hold"
    assert got.risk == pytest.approx(0.7)
    assert got.annotation == annotation
    assert got.reasoning == "thinking…"
    assert got.question == "How many GPUs?"
    assert got.deadline == pytest.approx(got.created_at + 3600)
    assert [e.action for e in await store.events(item.id)] == ["created"]
    assert await store.get("rv_missing") is None
    assert (await store.find_by_response_id("chatcmpl-1")).id == item.id
    assert await store.find_by_response_id("chatcmpl-1", tenant="other") is None


async def test_list_sorts_by_risk_then_age_and_filters(store):
    low = await store.create_item(new_item(confidence=0.9))
    high_old = await store.create_item(new_item(confidence=0.1))
    high_new = await store.create_item(new_item(confidence=0.1, tenant="globex", model="other"))
    ids = [i.id for i in await store.list_items()]
    assert ids == [high_old.id, high_new.id, low.id]
    assert [i.id for i in await store.list_items(sort="age")] == [low.id, high_old.id, high_new.id]
    assert [i.id for i in await store.list_items(ItemFilter(tenant="globex"))] == [high_new.id]
    assert [i.id for i in await store.list_items(ItemFilter(tenants=["acme"]))] == [high_old.id, low.id]
    assert await store.list_items(ItemFilter(tenants=[])) == []
    assert [i.id for i in await store.list_items(ItemFilter(model="other"))] == [high_new.id]
    assert [i.id for i in await store.list_items(limit=1, offset=1)] == [high_new.id]
    await store.claim(low.id, "ann", 60)
    counts = await store.counts(ItemFilter(tenants=["acme"], statuses=["pending"]))
    assert counts["pending"] == 1 and counts["claimed"] == 1 and counts["approved"] == 0


async def test_claim_is_exclusive_until_the_lease_lapses(store):
    item = await store.create_item(new_item())
    t0 = time.time()
    assert await store.claim(item.id, "ann", 30, now=t0)
    assert not await store.claim(item.id, "bob", 30, now=t0 + 1)
    assert await store.claim(item.id, "ann", 30, now=t0 + 2)  # the holder extends
    assert await store.claim(item.id, "bob", 30, now=t0 + 40)  # abandoned: bob takes over
    with pytest.raises(LeaseNotHeld):
        await store.decide(item.id, "ann", "approve", now=t0 + 41)
    done = await store.decide(item.id, "bob", "approve", now=t0 + 42)
    assert done.status == "approved" and done.reviewer == "bob"
    assert not await store.claim(item.id, "ann", 30)  # decided items cannot be claimed


async def test_decide_needs_a_live_lease(store):
    item = await store.create_item(new_item())
    with pytest.raises(LeaseNotHeld):
        await store.decide(item.id, "ann", "approve")  # never claimed
    assert await store.claim(item.id, "ann", 0.05)
    await asyncio.sleep(0.1)
    with pytest.raises(LeaseNotHeld):
        await store.decide(item.id, "ann", "approve")  # lease lapsed
    with pytest.raises(ReviewNotFound):
        await store.decide("rv_missing", "ann", "approve")
    assert (await store.get(item.id)).status == "claimed"


async def test_decision_actions_set_the_final_answer(store):
    a, e, r = [await store.create_item(new_item()) for _ in range(3)]
    for item in (a, e, r):
        assert await store.claim(item.id, "ann", 60)
    with pytest.raises(InvalidRequest):
        await store.decide(e.id, "ann", "edit", final_answer="  ")
    with pytest.raises(InvalidRequest):
        await store.decide(r.id, "ann", "reject")
    approved = await store.decide(a.id, "ann", "approve")
    edited = await store.decide(e.id, "ann", "edit", final_answer="It uses 2048 GPUs.")
    rejected = await store.decide(r.id, "ann", "reject", reason="made up numbers")
    assert (approved.status, approved.final_answer) == ("approved", a.answer)
    assert (edited.status, edited.final_answer) == ("edited", "It uses 2048 GPUs.")
    assert (rejected.status, rejected.final_answer, rejected.reject_reason) == (
        "rejected", "Sorry, no reliable answer.", "made up numbers")
    assert approved.lease_until is None and approved.decided_at is not None
    with pytest.raises(LeaseNotHeld):
        await store.decide(a.id, "ann", "reject", reason="changed my mind")
    assert [ev.action for ev in await store.events(e.id)] == ["created", "claimed", "edited"]


async def test_release_claim(store):
    item = await store.create_item(new_item())
    assert await store.claim(item.id, "ann", 60)
    assert not await store.release_claim(item.id, "bob")
    assert await store.release_claim(item.id, "admin", force=True)
    assert (await store.get(item.id)).status == "pending"
    assert await store.claim(item.id, "bob", 60)
    assert await store.release_claim(item.id, "bob")
    actions = [(ev.actor, ev.action) for ev in await store.events(item.id)]
    assert actions[-2:] == [("bob", "claimed"), ("bob", "released")]


async def test_expire_due_applies_on_expire_once_and_frees_lapsed_leases(store):
    release = await store.create_item(new_item(deadline_s=10, on_expire="release"))
    fallback = await store.create_item(new_item(deadline_s=10, on_expire="fallback"))
    forever = await store.create_item(new_item(kind="audit", deadline_s=None))
    abandoned = await store.create_item(new_item(deadline_s=1000))
    assert await store.claim(fallback.id, "ann", 60)
    assert await store.claim(abandoned.id, "ann", 30)
    later = time.time() + 100
    expired = {i.id: i for i in await store.expire_due(now=later)}
    assert set(expired) == {release.id, fallback.id}
    assert expired[release.id].final_answer == release.answer
    assert expired[fallback.id].final_answer == "Sorry, no reliable answer."
    assert all(i.status == "expired" for i in expired.values())
    assert await store.expire_due(now=later) == []
    assert (await store.get(forever.id)).status == "pending"
    back = await store.get(abandoned.id)
    assert back.status == "pending" and back.reviewer is None
    assert [e.action for e in await store.events(abandoned.id)][-1] == "lease_expired"
    stats = await store.stats(now=later)
    assert stats.deadlines_missed == 2 and stats.depth == 2


async def test_audit_trail_is_append_only(store):
    item = await store.create_item(new_item())
    await store.add_event(None, "ann", "login", {"ip": "127.0.0.1"})
    for sql in ("UPDATE review_events SET actor = 'mallory'", "DELETE FROM review_events"):
        with pytest.raises(Exception, match="append-only"):
            with store.db.write() as conn:
                conn.execute(sql)
    log = await store.audit_log()
    assert [(e.actor, e.action) for e in log] == [("ann", "login"), ("guard", "created")]
    assert [e.item_id for e in await store.audit_log(tenants=["acme"])] == [item.id]  # log-ins are not tenant data
    assert await store.audit_log(tenants=["globex"]) == []
    assert [e.action for e in await store.audit_log(actor="ann")] == ["login"]
    assert [e.action for e in await store.audit_log(items_only=True)] == ["created"]


async def test_wait_for_decision_wakes_at_once_in_process(store):
    item = await store.create_item(new_item())
    waiter = asyncio.create_task(store.wait_for_decision(item.id, timeout_s=20, poll_s=10))
    await asyncio.sleep(0.2)
    assert await store.claim(item.id, "ann", 60)
    started = time.monotonic()
    await store.decide(item.id, "ann", "edit", final_answer="fixed")
    got = await asyncio.wait_for(waiter, 5)
    assert time.monotonic() - started < 2  # far less than the 10 s poll
    assert (got.status, got.final_answer) == ("edited", "fixed")


async def test_wait_for_decision_times_out_with_the_open_item(store):
    item = await store.create_item(new_item())
    started = time.monotonic()
    got = await store.wait_for_decision(item.id, timeout_s=0.3, poll_s=0.1)
    assert got.status == "pending"
    assert 0.25 < time.monotonic() - started < 3
    with pytest.raises(ReviewNotFound):
        await store.wait_for_decision("rv_missing", timeout_s=0.1)


async def test_wait_for_decision_sees_a_decision_from_another_process(store, url):
    item = await store.create_item(new_item())
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=decide_later, args=(url, item.id, 0.5))
    proc.start()
    try:
        got = await store.wait_for_decision(item.id, timeout_s=60, poll_s=0.1)
    finally:
        await asyncio.to_thread(proc.join, 60)
    assert proc.exitcode == 0
    assert (got.status, got.final_answer, got.reviewer) == ("edited", "edited elsewhere", "remote")


def test_two_processes_racing_to_claim_exactly_one_wins(url):
    rounds = 50
    store = open_store(url)
    ctx = multiprocessing.get_context("spawn")
    jobs = [ctx.Queue(), ctx.Queue()]
    results = ctx.Queue()
    barrier = ctx.Barrier(2)
    workers = [ctx.Process(target=race_worker, args=(url, f"w{i}", jobs[i], results, barrier)) for i in range(2)]
    for w in workers:
        w.start()
    try:
        wins = {"w0": 0, "w1": 0}
        for _ in range(rounds):
            item = asyncio.run(store.create_item(new_item()))
            for q in jobs:
                q.put(item.id)
            outcome = [results.get(timeout=60) for _ in range(2)]
            winners = [name for item_id, name, won in outcome if won and item_id == item.id]
            assert len(winners) == 1, outcome
            assert asyncio.run(store.get(item.id)).reviewer == winners[0]
            wins[winners[0]] += 1
        assert sum(wins.values()) == rounds
    finally:
        for q in jobs:
            q.put(None)
        for w in workers:
            w.join(30)
        store.close()
    assert all(w.exitcode == 0 for w in workers)


async def test_stats(store):
    t0 = time.time()
    old = await store.create_item(new_item())
    for action in ("approve", "reject"):
        item = await store.create_item(new_item())
        assert await store.claim(item.id, "ann", 60)
        await store.decide(item.id, "ann", action, reason="bad" if action == "reject" else None)
    stats = await store.stats(days=3, now=t0 + 120)
    assert stats.depth == 1 and stats.pending == 1
    assert stats.oldest_pending_age_s == pytest.approx(t0 + 120 - old.created_at, abs=1)
    assert stats.decided_total == 2
    assert [d.count for d in stats.decisions_per_day][-1] == 2 and len(stats.decisions_per_day) == 3
    assert (await store.stats(tenants=["globex"])).depth == 0


def test_migrations_are_recorded_and_idempotent(url):
    first = open_store(url)
    with first.db.read() as conn:
        assert current_version(conn) == LATEST
        rows = conn.fetchall("SELECT version FROM schema_version ORDER BY version")
    assert [r["version"] for r in rows] == [s.version for s in STEPS]
    first.close()
    again = open_store(url)  # a second start (another replica) changes nothing
    with again.db.read() as conn:
        assert current_version(conn) == LATEST
    again.close()


def test_an_older_schema_is_upgraded_step_by_step(url, monkeypatch):
    from guard.review import migrations
    from guard.review.db import Database

    db = Database(parse_url(url))
    monkeypatch.setattr(migrations, "STEPS", STEPS[:1])
    assert migrations.migrate(db) == 1
    monkeypatch.setattr(migrations, "STEPS", STEPS)
    assert migrations.migrate(db) == LATEST
    with db.write() as conn:
        conn.execute("INSERT INTO review_events (item_id, actor, action, detail_json, at) VALUES (NULL, 'a', 'b', '{}', 0)")
    with pytest.raises(Exception, match="append-only"):  # step 2 took effect
        with db.write() as conn:
            conn.execute("DELETE FROM review_events")
    db.close()


def test_replicas_starting_together_migrate_once(url):
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=open_and_report, args=(url, barrier, results)) for _ in range(3)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    assert outcomes == ["ok"] * 3
    store = open_store(url)
    with store.db.read() as conn:
        rows = conn.fetchall("SELECT version FROM schema_version ORDER BY version")
    assert [r["version"] for r in rows] == [s.version for s in STEPS]
    store.close()


def test_parse_url():
    assert parse_url("sqlite:///var/guard.sqlite3").dsn == "var/guard.sqlite3"
    assert parse_url("sqlite:////tmp/x.sqlite3").dsn == "/tmp/x.sqlite3"
    pg = parse_url("postgresql://u@127.0.0.1:5432/test?schema=s1&sslmode=disable")
    assert (pg.dialect, pg.schema, pg.dsn) == ("postgresql", "s1", "postgresql://u@127.0.0.1:5432/test?sslmode=disable")
    for bad in ("mysql://x", "sqlite://:memory:", "postgresql://h/db?schema=a;drop"):
        with pytest.raises(ValueError):
            parse_url(bad)

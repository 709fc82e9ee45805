"""The reviewer's numbers: decisions per reviewer per hour, time to decision p50/p95, items past
their deadline, outcomes per policy; the same on the statistics page and in /metrics."""

from __future__ import annotations

import asyncio
import time

import pytest
from review_support import new_item

from guard.review.stats import per_reviewer, per_reviewer_hour, percentile
from guard.review.store import open_store


def test_percentile_is_nearest_rank():
    assert percentile([], 0.5) is None
    assert percentile([5.0], 0.95) == 5.0
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.95)) == (50.0, 95.0)


def test_per_hour_counts_only_the_hours_worked():
    hour = 3600.0 * 1000
    rows = [{"reviewer": "ann", "decided_at": hour + 10}, {"reviewer": "ann", "decided_at": hour + 20},
            {"reviewer": "ann", "decided_at": hour + 7200}, {"reviewer": "bob", "decided_at": hour + 7300}]
    ann, bob = per_reviewer(rows, now=hour + 7400)
    assert (ann.reviewer, ann.decisions, ann.per_hour, ann.last_hour) == ("ann", 3, 1.5, 1)
    assert (bob.reviewer, bob.decisions, bob.per_hour, bob.last_hour) == ("bob", 1, 1.0, 1)


def test_decisions_per_reviewer_in_each_hour():
    now = 3600.0 * 1000 + 1800  # half past an hour
    rows = [{"reviewer": "ann", "decided_at": now - 60}, {"reviewer": "bob", "decided_at": now - 100},
            {"reviewer": "ann", "decided_at": now - 3600}, {"reviewer": "ann", "decided_at": now - 13 * 3600}]
    hours = per_reviewer_hour(rows, now, hours=3)
    assert [h.counts for h in hours] == [{"ann": 1, "bob": 1}, {"ann": 1}, {}]
    assert hours[0].hour == "1970-02-11 16:00"


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _decided_store(url: str, now: float):
    """Ten items: ann decides 6 (waits 60..360 s), bob 3 (600..1800 s); one left open, past its deadline."""
    clock = Clock(now - 4000)
    store = open_store(url, clock=clock)

    async def fill():
        plan = [("ann", "support", "approve", 60), ("ann", "support", "approve", 120), ("ann", "support", "edit", 180),
                ("ann", "support", "reject", 240), ("ann", "billing", "approve", 300), ("ann", "billing", "edit", 360),
                ("bob", "billing", "reject", 600), ("bob", "billing", "reject", 1200), ("bob", "support", "approve", 1800)]
        for who, policy, action, wait in plan:
            clock.t = now - 4000
            item = await store.create_item(new_item(policy=policy, answer=f"{who} {wait}"))
            clock.t = now - 4000 + wait
            assert await store.claim(item.id, who, 60)
            await store.decide(item.id, who, action, final_answer="fixed" if action == "edit" else None,
                               reason="wrong" if action == "reject" else None)
        clock.t = now - 4000
        await store.create_item(new_item(deadline_s=100))  # due at now - 3900, never swept
        clock.t = now

    asyncio.run(fill())
    return store


def test_store_stats_per_reviewer_policy_and_latency(tmp_path):
    now = time.time()
    store = _decided_store(f"sqlite:///{tmp_path / 'r.sqlite3'}", now)
    stats = asyncio.run(store.stats(now=now))
    store.close()
    assert stats.past_deadline == 1
    assert stats.time_to_decision_p50_s == pytest.approx(300)
    assert stats.time_to_decision_p95_s == pytest.approx(1800)
    assert [(r.reviewer, r.decisions) for r in stats.per_reviewer] == [("ann", 6), ("bob", 3)]
    shares = {p.policy: (p.approved, p.edited, p.rejected) for p in stats.per_policy}
    assert shares == {"billing": (1, 1, 2), "support": (3, 1, 1)}


def test_metrics_say_what_the_statistics_page_says(fake_backend, tmp_path):
    from fastapi.testclient import TestClient

    from guard.api.app import create_app
    from guard.settings import ReviewConfig, Reviewer
    from review_queue.app import create_review_app
    from review_queue.auth import hash_password
    from test_metrics import scrape, value
    from tests.support import serve_app, settings_for

    now = time.time()
    if int(now // 86400) != int((now - 4000) // 86400):
        pytest.skip("the decisions would straddle UTC midnight, and /metrics counts today's")
    url = f"sqlite:///{tmp_path / 'r.sqlite3'}"
    store = _decided_store(url, now)
    config = ReviewConfig(reviewers=[Reviewer(username="root", password_hash=hash_password("pw", 4), role="admin")])
    client = TestClient(create_review_app(store, config))
    import re
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"username": "root", "password": "pw", "csrf": token})
    page = client.get("/stats").text
    today = asyncio.run(store.stats(days=1))
    store.close()
    assert 'id="stat-past-deadline">1<' in page and 'id="stat-p50">5m<' in page and 'id="stat-p95">30m<' in page
    assert re.search(r'data-reviewer="ann"><td>ann</td><td class="num">6</td>', page)
    assert '<td class="num share-rejected">2 (50%)</td>' in page  # billing: 2 of 4 rejected
    with serve_app(create_app(settings_for(fake_backend.base_url, review={"store_url": url}))) as base:
        m = scrape(base)
    assert value(m, "guard_review_past_deadline") == 1
    assert value(m, "guard_review_time_to_decision_seconds", quantile="0.5") == pytest.approx(300)
    assert value(m, "guard_review_time_to_decision_seconds", quantile="0.95") == pytest.approx(1800)
    assert value(m, "guard_review_decisions", policy="billing", status="rejected") == 2
    assert value(m, "guard_review_decisions", policy="support", status="approved") == 3
    for r in today.per_reviewer:
        assert value(m, "guard_review_reviewer_decisions_per_hour", reviewer=r.reviewer) == r.per_hour
        assert value(m, "guard_review_reviewer_decisions_last_hour", reviewer=r.reviewer) == r.last_hour
    assert {r.reviewer for r in today.per_reviewer} == {"ann", "bob"}

"""Issue 12 item 8: checks that outlive their deadline must not starve the review store.

The attack: answers whose checks never finish in time (stood in for by a check that blocks),
sent in parallel; then a caller looks its review up. The checks once shared asyncio's default
pool with the store, so the look-up waited behind them (13 s in the report).
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from guard.checks import runner
from guard.checks.base import CheckInput, CheckOutcome
from tests.security.sec_support import KEY_A, chat, serve_guard, settings

POLICY = {
    "name": "default",
    "checks": {"patterns": {"deny": ["forbidden"]}},
    "decision": {"timeout_ms": 300, "on_error": "open"},
}


def test_review_look_ups_answer_while_timed_out_checks_still_run(fake_backend, tmp_path, monkeypatch):
    release = threading.Event()
    real = runner.run_checks

    def stuck(checks, inp):
        release.wait(20)  # a check that does not stop at the deadline
        return real(checks, inp)

    monkeypatch.setattr(runner, "run_checks", stuck)
    s = settings(fake_backend.base_url, tmp_path, policy=POLICY, keys=True)
    with serve_guard(s) as (base, _):
        try:
            with ThreadPoolExecutor(12) as clients:
                answers = list(clients.map(lambda _: chat(base, KEY_A, timeout=15), range(12)))
            assert [a.status_code for a in answers] == [200] * 12
            assert all(a.json()["guard"]["decision"] != "block" for a in answers)  # on_error: open
            started = time.monotonic()
            r = httpx.get(f"{base}/v1/guard/reviews", params={"request_id": "nope"},
                          headers={"authorization": f"Bearer {KEY_A}"}, timeout=5)
            assert r.status_code == 404
            assert time.monotonic() - started < 5
        finally:
            release.set()


async def test_the_check_pool_is_bounded_and_counts_work_past_its_deadline():
    from guard.checking import CheckPool, ChecksSaturated

    pool = CheckPool(workers=1, queue=1)
    release = threading.Event()
    try:
        first = asyncio.ensure_future(pool.run(release.wait, 10))
        second = asyncio.ensure_future(pool.run(release.wait, 10))
        await asyncio.sleep(0.05)
        with pytest.raises(ChecksSaturated):
            await pool.run(release.wait, 10)
        first.cancel()  # the caller gave up (its deadline): the worker still runs, and still counts
        await asyncio.sleep(0.05)
        assert pool.pending == 2
        second.cancel()  # still queued: it never starts, and its slot is free at once
        await asyncio.sleep(0.05)
        assert pool.pending == 1
        release.set()
        for _ in range(100):
            if pool.pending == 0:
                break
            await asyncio.sleep(0.01)
        assert pool.pending == 0
        assert await pool.run(lambda: 42) == 42
    finally:
        release.set()
        pool.close()


class _Counting:
    name = "counting"

    def __init__(self) -> None:
        self.runs = 0

    def run(self, inp: CheckInput) -> CheckOutcome:
        self.runs += 1
        time.sleep(0.05)
        return CheckOutcome(name=self.name, passed=True)


def test_checks_stop_at_the_deadline():
    checks = [_Counting() for _ in range(5)]
    report = runner.run_checks(checks, CheckInput(question="q", answer="a", deadline=time.monotonic() + 0.08))
    assert sum(c.runs for c in checks) < 5
    assert report.error and "deadline" in report.error

"""Counting decisions (per UTC day, per reviewer and hour, per policy) and their latency percentiles.

In Python so the SQL stays the same on SQLite and PostgreSQL: the store fetches the decided rows
of the window, these pure functions summarise them.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone
from typing import Any

from guard.review.models import DayCount, HourCount, PolicyShare, ReviewerRate


def _first_day(now: float, days: int) -> date:
    return datetime.fromtimestamp(now, timezone.utc).date() - timedelta(days=days - 1)


def window_start(now: float, days: int) -> float:
    """Midnight UTC at the start of the ``days``-day window ending today."""
    first = _first_day(now, days)
    return datetime(first.year, first.month, first.day, tzinfo=timezone.utc).timestamp()


def per_day(decided_at: list[float], now: float, days: int) -> list[DayCount]:
    """One entry per day of the window, oldest first, zeros included."""
    first = _first_day(now, days)
    counts = {(first + timedelta(days=i)).isoformat(): 0 for i in range(days)}
    for t in decided_at:
        day = datetime.fromtimestamp(t, timezone.utc).date().isoformat()
        if day in counts:
            counts[day] += 1
    return [DayCount(day=d, count=n) for d, n in counts.items()]


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank percentile (``q`` in 0..1) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def per_reviewer(rows: list[dict[str, Any]], now: float) -> list[ReviewerRate]:
    """Decisions per reviewer: in the window, in the last hour, and per hour worked.

    "Per hour worked" divides by the clock hours in which the reviewer decided anything, so a
    reviewer who worked two hours of a fortnight is not shown as deciding 0.1 items an hour.
    """
    total: Counter[str] = Counter()
    recent: Counter[str] = Counter()
    hours: dict[str, set[int]] = defaultdict(set)
    for r in rows:
        who = r.get("reviewer") or "?"
        total[who] += 1
        hours[who].add(int(r["decided_at"] // 3600))
        if r["decided_at"] >= now - 3600:
            recent[who] += 1
    return [
        ReviewerRate(reviewer=who, decisions=n, last_hour=recent[who], per_hour=round(n / len(hours[who]), 2))
        for who, n in sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def per_policy(rows: list[dict[str, Any]]) -> list[PolicyShare]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        counts[r["policy"]][r["status"]] += 1
    return [
        PolicyShare(policy=p, approved=c["approved"], edited=c["edited"], rejected=c["rejected"])
        for p, c in sorted(counts.items())
    ]


def per_reviewer_hour(rows: list[dict[str, Any]], now: float, hours: int = 12) -> list[HourCount]:
    """Decisions per reviewer in each of the last ``hours`` clock hours (UTC), newest first, empty hours included."""
    current = int(now // 3600)
    buckets = {h: Counter() for h in range(current - hours + 1, current + 1)}
    for r in rows:
        h = int(r["decided_at"] // 3600)
        if h in buckets:
            buckets[h][r.get("reviewer") or "?"] += 1
    return [
        HourCount(hour=datetime.fromtimestamp(h * 3600, timezone.utc).strftime("%Y-%m-%d %H:00"), counts=dict(c))
        for h, c in sorted(buckets.items(), reverse=True)
    ]

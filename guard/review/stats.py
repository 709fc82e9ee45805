"""Counting decisions per UTC day, in Python so the SQL stays the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from guard.review.models import DayCount


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

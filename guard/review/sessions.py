"""Reviewer sessions kept in the review store, so a copied cookie dies with its session.

A signed cookie alone stays valid until it expires, log-out or not. Here a logged-in cookie
carries a random session id; the store keeps its SHA-256 (a leaked table gives no cookies),
when it started, when it was last used, and when it ended. A session is valid while it has
not ended, was used within ``idle_s`` and is younger than ``max_age_s``. The store is shared by
every replica, so a log-out on one ends the session on all of them.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable

from guard.review.db import Database

# A use is recorded at most this often per session (a page view is not worth a write each).
TOUCH_EVERY_S = 30.0
PURGE_AFTER_S = 7 * 86400.0


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class ReviewerSessions:
    def __init__(self, store: object, *, idle_s: float, max_age_s: float, clock: Callable[[], float] = time.time) -> None:
        self._store = store  # a ReviewStore: its database and its worker pool
        self.idle_s = idle_s
        self.max_age_s = max_age_s
        self._clock = clock

    @property
    def _db(self) -> Database:
        return self._store.db  # type: ignore[attr-defined]

    async def _run(self, fn: Callable[..., object], *args: object) -> object:
        return await self._store._run(fn, *args)  # type: ignore[attr-defined]

    async def start(self, username: str) -> str:
        """A new session for ``username``; returns the id the cookie carries."""
        sid = secrets.token_urlsafe(32)
        await self._run(self._start, sid, username)
        return sid

    def _start(self, sid: str, username: str) -> None:
        now = self._clock()
        with self._db.write() as conn:
            # one row per log-in: rows long past any lifetime go as new ones come
            conn.execute("DELETE FROM review_sessions WHERE seen_at < :cutoff",
                         {"cutoff": now - max(PURGE_AFTER_S, self.max_age_s)})
            conn.execute(
                "INSERT INTO review_sessions (sid_hash, username, created_at, seen_at) VALUES (:h, :u, :now, :now)",
                {"h": _digest(sid), "u": username, "now": now},
            )

    async def user(self, sid: str) -> str | None:
        """The session's user while it is valid (and the use recorded), else None."""
        return await self._run(self._user, sid)  # type: ignore[return-value]

    def _user(self, sid: str) -> str | None:
        now = self._clock()
        h = _digest(sid)
        with self._db.read() as conn:
            row = conn.fetchone("SELECT username, created_at, seen_at, ended_at FROM review_sessions WHERE sid_hash = :h", {"h": h})
        if row is None or row["ended_at"] is not None:
            return None
        if now - row["seen_at"] > self.idle_s or now - row["created_at"] > self.max_age_s:
            self._end(sid)
            return None
        if now - row["seen_at"] > min(TOUCH_EVERY_S, self.idle_s / 4):
            with self._db.write() as conn:
                conn.execute("UPDATE review_sessions SET seen_at = :now WHERE sid_hash = :h AND ended_at IS NULL", {"now": now, "h": h})
        return str(row["username"])

    async def end(self, sid: str) -> None:
        await self._run(self._end, sid)

    def _end(self, sid: str) -> None:
        with self._db.write() as conn:
            conn.execute("UPDATE review_sessions SET ended_at = :now WHERE sid_hash = :h AND ended_at IS NULL",
                         {"now": self._clock(), "h": _digest(sid)})

    async def end_all(self, username: str) -> int:
        """End every session of one reviewer (an admin's "log out everywhere")."""
        return await self._run(self._end_all, username)  # type: ignore[return-value]

    def _end_all(self, username: str) -> int:
        with self._db.write() as conn:
            return conn.execute("UPDATE review_sessions SET ended_at = :now WHERE username = :u AND ended_at IS NULL",
                                {"now": self._clock(), "u": username})

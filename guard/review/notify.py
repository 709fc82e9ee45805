"""Store changes pushed to every replica by PostgreSQL's LISTEN/NOTIFY.

A caller held on replica A waits for a decision a reviewer makes on replica B; corrections
added or retracted on one replica must reach the others' indexes. Polling the store finds both,
but only every ``poll_s`` (and every sync interval), so each replica also keeps one connection
that ``LISTEN``s on the store's channel, and the store ``NOTIFY``s after each decision,
expiry and knowledge event. A notification wakes the local waiters at once.

Polling stays: a notification can be lost while the listening connection is down (it
reconnects with back-off by itself), and SQLite has no such channel, so there only the
in-process wake-ups and the poll work, as before. Payloads are small JSON objects:
``{"kind": "decided" | "expired" | "event", "id": item id, "action": ...}``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from guard.review.db import Database, Target
from guard.review.signals import DecisionSignals

log = structlog.get_logger()


def channel(target: Target) -> str:
    """One channel per store: a schema (tests, several deployments in one database) is its own."""
    return f"guard_review_{target.schema or 'public'}"[:63]


def payload(kind: str, item_id: str | None, **extra: Any) -> str:
    return json.dumps({"kind": kind, "id": item_id, **extra}, separators=(",", ":"))


class Listener:
    """LISTEN on the store's channel and hand each notification to ``on_message``."""

    def __init__(self, target: Target, on_message: Callable[[dict[str, Any]], None], *, retry_s: float = 1.0) -> None:
        self.target = target
        self.channel = channel(target)
        self.on_message = on_message
        self.retry_s = retry_s
        self.connected = asyncio.Event()
        self.failures = 0
        self.reconnects = 0

    async def run(self) -> None:
        import psycopg

        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self.target.dsn, autocommit=True, connect_timeout=10)
                async with conn:
                    await conn.execute(f'LISTEN "{self.channel}"')
                    if self.failures:
                        self.reconnects += 1
                        log.info("review.listen_restored", channel=self.channel)
                    self.failures = 0
                    self.connected.set()
                    async for note in conn.notifies():
                        self._deliver(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - reconnect on any failure; polling covers the gap
                self.connected.clear()
                if self.failures == 0:
                    log.warning("review.listen_lost", channel=self.channel, error=str(e), fallback="polling")
                self.failures += 1
                await asyncio.sleep(min(30.0, self.retry_s * 2 ** min(self.failures - 1, 5)))

    def _deliver(self, raw: str) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            return
        if isinstance(message, dict):
            self.on_message(message)


class Broadcast:
    """The store's side of the channel (mixed into ``ReviewStore``): NOTIFY after a change, and
    the ``Listener`` that wakes this replica's waiters (``signals``) and ``watchers``."""

    db: Database
    signals: DecisionSignals
    watchers: list[Callable[[dict[str, Any]], None]]

    _run: Callable[..., Awaitable[Any]]  # the store's: blocking SQL in the database's threads

    async def publish(self, kind: str, item_id: str | None, **extra: Any) -> None:
        """Tell every replica's listener (PostgreSQL NOTIFY); SQLite has no channel: a no-op."""
        if self.db.dialect == "postgresql":
            try:
                await self._run(self._publish, payload(kind, item_id, **extra))
            except Exception:  # noqa: BLE001 - the others still find the change by polling
                log.warning("review.notify_failed", kind=kind, item_id=item_id)

    def _publish(self, message: str) -> None:
        with self.db.read() as conn:
            conn.fetchone("SELECT pg_notify(:channel, :message) AS sent", {"channel": channel(self.db.target), "message": message})

    def listener(self) -> "Listener | None":
        """The LISTEN loop to run on this replica (PostgreSQL only): wakes waiters and watchers."""
        if self.db.dialect != "postgresql":
            return None
        return Listener(self.db.target, self._on_message)

    def _on_message(self, message: dict[str, Any]) -> None:
        if message.get("kind") in ("decided", "expired") and isinstance(message.get("id"), str):
            self.signals.notify(message["id"])
        for watch in self.watchers:
            watch(message)

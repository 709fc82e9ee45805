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
from collections.abc import Callable
from typing import Any

import structlog

from guard.review.db import Target

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

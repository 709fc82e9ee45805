"""In-process wake-ups for callers waiting on a decision.

Polling the database is what makes waiting work across replicas; this only makes the common
case (the decision is made in the same process) immediate. A decision may be taken on another
event loop (a test client's thread, a mounted app run elsewhere), so waiters are woken with
``call_soon_threadsafe`` on their own loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict


class DecisionSignals:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = defaultdict(set)

    def subscribe(self, item_id: str) -> tuple[asyncio.AbstractEventLoop, asyncio.Event]:
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters[item_id].add(waiter)
        return waiter

    def unsubscribe(self, item_id: str, waiter: tuple[asyncio.AbstractEventLoop, asyncio.Event]) -> None:
        with self._lock:
            waiters = self._waiters.get(item_id)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._waiters[item_id]

    def notify(self, item_id: str) -> None:
        with self._lock:
            waiters = list(self._waiters.get(item_id, ()))
        for loop, event in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)

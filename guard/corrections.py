"""Reviewed corrections reach every replica's knowledge index, through the shared review store.

When a reviewer adds an approved answer to the knowledge base, the replica serving the
reviewer page adds it to its own index at once, and the store records a ``knowledge_added``
event. Every replica (that one included) runs ``CorrectionSync``: it reads those events from
the store and adds each correction it does not hold yet to its in-memory index, without
writing the index files, which may be a read-only mount shared by all replicas. A replica
that starts later replays every correction recorded so far, so the store, not any one
replica's disk, is the record of what was added.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog

from guard.knowledge.types import Passage

log = structlog.get_logger()
PAGE = 500


def correction_passage(text: str, provenance: dict[str, Any]) -> Passage:
    """The passage for one corrected item, the same on every replica (id ``review-<item id>``)."""
    item_id = provenance["item_id"]
    return Passage(
        id=f"review-{item_id}",
        text=text,
        source=f"review:{item_id}",
        metadata={"provenance": provenance, "question": provenance.get("question") or ""},
    )


class CorrectionSync:
    def __init__(self, store: Any, index: Callable[[], Any], interval_s: float = 10.0) -> None:
        self.store = store
        self._index = index  # the runtime's lazy loader: the index is only loaded when needed
        self.interval_s = interval_s
        self.last_event = 0  # the newest event id already looked at
        self._wake = asyncio.Event()

    def wake(self, message: dict[str, Any] | None = None) -> None:
        """Sync now rather than at the next interval (a store notification: knowledge changed)."""
        if message is None or message.get("kind") == "event":
            self._wake.set()

    async def run_once(self) -> int:
        """Apply the corrections recorded since the last call; returns how many were added."""
        events = await self._new_events()
        if not events:
            return 0
        index = await asyncio.to_thread(self._index)
        added = 0
        for event in sorted(events, key=lambda e: e.id):
            item = await self.store.get(event.item_id) if event.item_id else None
            if item is None or not item.final_answer:
                continue
            passage = correction_passage(item.final_answer or "", item.provenance(event.actor))
            held = index.get(passage.id)
            if held is not None and held.text == passage.text:
                continue  # added here already (this replica served the reviewer page)
            await asyncio.to_thread(index.add_passages, [passage], replace=held is not None, persist=False)
            added += 1
        if added:
            log.info("corrections_synced", added=added, index_version=index.version)
        return added

    async def _new_events(self) -> list[Any]:
        """``knowledge_added`` events newer than ``last_event``, paging back through the log."""
        found: list[Any] = []
        newest = self.last_event
        offset = 0
        while True:
            page = await self.store.audit_log(items_only=True, limit=PAGE, offset=offset)
            fresh = [e for e in page if e.id > self.last_event]
            found += [e for e in fresh if e.action == "knowledge_added"]
            newest = max([newest, *(e.id for e in fresh)])
            if len(fresh) < len(page) or len(page) < PAGE:
                break
            offset += PAGE
        self.last_event = newest
        return found

    async def run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # noqa: BLE001 - a store or index hiccup must not stop the loop
                log.exception("corrections_sync_failed")
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

"""The periodic sweep: expire items past their deadline and return lapsed leases to the queue.

Every replica (and a standalone ``guard review serve``) may run it; the store guarantees each
item expires once, and the one sweep that expired it sends its webhook.
"""

from __future__ import annotations

import asyncio

import structlog

from guard.review.store import ReviewStore
from guard.review.webhook import WebhookSender

log = structlog.get_logger()


async def sweep(store: ReviewStore, sender: WebhookSender | None = None) -> int:
    expired = await store.expire_due()
    for item in expired:
        log.info("review.expired", item_id=item.id, on_expire=item.on_expire)
        if sender is not None:
            sender.schedule(store, item)
    return len(expired)


async def housekeeping_loop(store: ReviewStore, sender: WebhookSender | None = None, interval_s: float = 5.0) -> None:
    """Run ``sweep`` forever; cancel the task to stop it. Errors are logged, not fatal."""
    while True:
        try:
            await sweep(store, sender)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("review.housekeeping_failed")
        await asyncio.sleep(interval_s)

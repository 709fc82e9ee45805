"""Tell the caller's system that a held answer was decided (or expired).

The body is JSON; ``x-guard-signature: sha256=<hex>`` is the HMAC-SHA256 of the exact body
bytes with the policy's secret, so a receiver can tell it came from guard. ``x-guard-delivery``
stays the same across retries of one delivery, so a receiver can drop duplicates. A delivery is
retried with exponential backoff on connection errors, timeouts, 429 and 5xx; other 4xx answers
are final (retrying the same body will not change them).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import uuid
from typing import Any

import aiohttp
import structlog

from guard.review.models import Item
from guard.review.store import ReviewStore

log = structlog.get_logger()

SIGNATURE_HEADER = "x-guard-signature"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """For receivers (and tests): constant-time check of a signature header."""
    return bool(header) and hmac.compare_digest(sign(secret, body), header or "")


def decision_payload(item: Item) -> dict[str, Any]:
    return {
        "event": "review.expired" if item.status == "expired" else "review.decided",
        "review_id": item.id,
        "response_id": item.response_id,
        "status": item.status,
        "final_answer": item.final_answer,
        "reject_reason": item.reject_reason,
        "reviewer": item.reviewer,
        "decided_at": item.decided_at,
        "kind": item.kind,
        "policy": item.policy,
        "tenant": item.tenant,
        "model": item.model,
    }


class WebhookSender:
    def __init__(
        self,
        *,
        attempts: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        timeout_s: float = 10.0,
    ) -> None:
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._tasks: set[asyncio.Task[bool | None]] = set()

    async def send(self, url: str, secret: str | None, payload: dict[str, Any]) -> bool:
        """Deliver one payload; True once the receiver answered 2xx."""
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "content-type": "application/json",
            "user-agent": "guard-review-webhook",
            "x-guard-event": str(payload.get("event", "")),
            "x-guard-delivery": uuid.uuid4().hex,
        }
        if secret:
            headers[SIGNATURE_HEADER] = sign(secret, body)
        async with aiohttp.ClientSession(timeout=self.timeout) as session:
            for attempt in range(1, self.attempts + 1):
                outcome = await self._attempt(session, url, body, headers)
                if outcome == "ok":
                    return True
                if outcome == "final" or attempt == self.attempts:
                    break
                await asyncio.sleep(min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1)))
        log.warning("review.webhook_failed", url=url, attempts=self.attempts)
        return False

    async def _attempt(self, session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]) -> str:
        try:
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                if 200 <= resp.status < 300:
                    return "ok"
                log.info("review.webhook_status", url=url, status=resp.status)
                return "retry" if resp.status == 429 or resp.status >= 500 else "final"
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            log.info("review.webhook_error", url=url, error=repr(e))
            return "retry"

    async def deliver(self, store: ReviewStore, item: Item) -> bool | None:
        """Send the item's decision to its webhook and record the outcome; None when it has none."""
        if not item.webhook_url:
            return None
        secret = os.environ.get(item.webhook_secret_env) if item.webhook_secret_env else None
        if not secret:
            log.warning("review.webhook_unsigned", item_id=item.id, secret_env=item.webhook_secret_env)
        ok = await self.send(item.webhook_url, secret, decision_payload(item))
        await store.add_event(item.id, "system", "webhook_sent" if ok else "webhook_failed", {"url": item.webhook_url})
        return ok

    def schedule(self, store: ReviewStore, item: Item) -> None:
        """Deliver in the background so a reviewer's click does not wait on a slow receiver."""
        if not item.webhook_url:
            return
        task = asyncio.get_running_loop().create_task(self.deliver(store, item))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self, grace_s: float = 5.0) -> None:
        """Wait a little for deliveries in flight, then cancel the rest (on shutdown)."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace_s)
        for task in pending:
            task.cancel()

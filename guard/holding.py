"""The proxy's side of the review queue: hold and release, audit samples, reuse, corrections.

``ReviewService`` is what the pipeline talks to; the store (``guard.review``) holds the state and
the reviewer app (``review_queue``) is mounted at ``/review``. Everything here is per process;
everything shared between replicas lives in the store.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import structlog

from guard.checks.base import CheckReport
from guard.corrections import correction_passage
from guard.policy.messages import end_user_message
from guard.review import ItemFilter, NewItem, open_store
from guard.review.housekeeping import housekeeping_loop
from guard.review.models import Item
from guard.review.webhook import WebhookSender
from guard.settings import is_loopback

if TYPE_CHECKING:
    from fastapi import FastAPI

    from guard.calls import Call, Verdict
    from guard.runtime import Runtime

log = structlog.get_logger()
RECENT_RESPONSES = 2_048  # per replica; older responses need the answer sent with the feedback
RECENT_DOCUMENT_CHARS = 8_000  # request documents kept per recent response, for feedback items
REUSE_REFRESH_S = 1.0  # decisions made on other replicas become reusable within this long


@dataclass(frozen=True, slots=True)
class Released:
    """A reviewer's decision as the waiting caller receives it."""

    action: str  # "reviewed"
    text: str
    status: str


def kept_documents(documents: list[Any], max_chars: int) -> list[dict[str, Any]]:
    """The request evidence stored with an item, within ``max_chars`` in all: each document
    keeps its name and as much of its text as the budget left allows."""
    out: list[dict[str, Any]] = []
    left = max_chars
    for doc in documents:
        out.append(doc.as_dict(max_chars=max(0, left)))
        left -= len(doc.text)
    return out


def _annotation(report: CheckReport) -> dict[str, Any]:
    from guard.decision import annotation

    return annotation(report)


class ApprovedAnswers:
    """Reviewer-approved answers, matched to new questions by embedding similarity."""

    def __init__(self, embedder: Any) -> None:
        self._embedder = embedder
        self._items: list[tuple[str, str, str, str]] = []  # (item id, tenant, policy, answer)
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        self._seen: set[str] = set()

    def add(self, item: Item) -> None:
        if item.id in self._seen or not item.final_answer or not item.question:
            return
        vec = np.asarray(self._embedder.encode([item.question]), dtype=np.float32)
        self._vectors = vec if self._vectors.size == 0 else np.vstack([self._vectors, vec])
        self._items.append((item.id, item.tenant, item.policy, item.final_answer))
        self._seen.add(item.id)

    def best(self, question: str, tenant: str, policy: str, threshold: float) -> tuple[str, str, float] | None:
        if not self._items or not question.strip():
            return None
        q = np.asarray(self._embedder.encode([question]), dtype=np.float32)[0]
        scores = self._vectors @ q
        for i in np.argsort(-scores):
            item_id, t, p, answer = self._items[i]
            if scores[i] < threshold:
                return None
            if t == tenant and p == policy:
                return item_id, answer, float(scores[i])
        return None


class ReviewService:
    def __init__(self, runtime: "Runtime", store: Any, sender: WebhookSender) -> None:
        self.rt = runtime
        self.store = store
        self.sender = sender
        self._recent: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._approved: ApprovedAnswers | None = None
        self._refreshed = 0.0
        self._tasks: list[asyncio.Task] = []

    # ------------------------------------------------------------------ hold

    def _new_item(self, call: "Call", kind: str, report: CheckReport, answer: str, reasoning: str | None, reasons: list[str], confidence: float, response_id: str | None) -> NewItem:
        policy = call.policy
        hold = policy.hold
        request = {k: v for k, v in call.body.items() if k not in ("stream", "stream_options", "documents")}
        return NewItem(
            kind=kind,  # type: ignore[arg-type]
            policy=policy.name,
            tenant=call.caller.tenant,
            model=call.public_model,
            key_id=call.caller.key_id,
            request=request,
            answer=answer,
            reasoning=reasoning,
            annotation=_annotation(report),
            reasons=reasons,
            confidence=max(0.0, min(1.0, confidence)),
            deadline_s=hold.deadline_s if kind == "hold" else None,
            on_expire=hold.on_expire,
            fallback_answer=end_user_message(policy, "fallback_message", getattr(call, "accept_language", None), call.question),
            response_id=response_id,
            request_id=call.request_id,
            webhook_url=hold.webhook_url,
            webhook_secret_env=hold.webhook_secret_env,
            documents=kept_documents(call.documents, self.rt.settings.review.max_document_chars),
        )

    async def hold(self, call: "Call", decision: Any, report: CheckReport, answer: str, reasoning: str | None) -> tuple[str, Released | None]:
        item = await self.store.create_item(
            self._new_item(call, "hold", report, answer, reasoning, list(decision.reasons), decision.confidence, call.response_id)
        )
        log.info("review_held", request_id=call.request_id, review_id=item.id, wait_s=call.policy.hold.wait_s)
        wait = call.policy.hold.wait_s
        if wait > 0:
            item = await self.store.wait_for_decision(item.id, wait)
            if item.is_final:
                text = item.final_answer if item.final_answer is not None else end_user_message(
                    call.policy, "fallback_message", getattr(call, "accept_language", None), call.question)
                return item.id, Released("reviewed", text, item.status)
        return item.id, None

    async def file_hold(self, call: "Call", decision: Any, report: CheckReport, answer: str, reasoning: str | None) -> str:
        """File an answer the client already has (an observed stream) for review; no wait."""
        item = await self.store.create_item(
            self._new_item(call, "hold", report, answer, reasoning, list(decision.reasons), decision.confidence, call.response_id)
        )
        log.info("review_held", request_id=call.request_id, review_id=item.id, observed=True)
        return item.id

    # ------------------------------------------------------------------ after a decision

    async def after(self, call: "Call", verdict: "Verdict", body: dict[str, Any]) -> None:
        """Remember the response for feedback; send a share of passed answers to audit."""
        response_id = body.get("id")
        if isinstance(response_id, str):
            self._recent[response_id] = {
                "policy": call.policy.name,
                "model": call.public_model,
                "tenant": call.caller.tenant,
                "request": {k: v for k, v in call.body.items() if k not in ("stream", "stream_options", "documents")},
                "answer": verdict.text,
                "report": verdict.report,  # annotated only if feedback ever comes
                "confidence": verdict.confidence,
                # a few kB each at most: this replica keeps the last RECENT_RESPONSES of them
                "documents": kept_documents(call.documents, min(RECENT_DOCUMENT_CHARS, self.rt.settings.review.max_document_chars)),
            }
            while len(self._recent) > RECENT_RESPONSES:
                self._recent.popitem(last=False)
        rate = call.policy.audit.sample_rate
        if verdict.action in ("pass", "annotate") and rate > 0 and random.random() < rate:
            item = self._new_item(call, "audit", verdict.report, verdict.text, None, ["audit sample"], verdict.confidence, response_id)
            await self.store.create_item(item)

    def recent(self, response_id: str, tenant: str) -> dict[str, Any] | None:
        r = self._recent.get(response_id)
        if r is None or r["tenant"] != tenant:
            return None
        return {**r, "annotation": _annotation(r["report"])}

    # ------------------------------------------------------------------ reuse

    async def _approved_answers(self) -> ApprovedAnswers:
        if self._approved is None:
            self._approved = ApprovedAnswers(self.rt.embedder())
            await self.refresh_approved()
        return self._approved

    async def refresh_approved(self) -> None:
        if self._approved is None:
            return
        self._refreshed = time.monotonic()
        items = await self.store.list_items(ItemFilter(statuses=["approved", "edited"], kinds=["hold", "feedback", "audit"]), sort="age", limit=5000)
        for item in items:
            await asyncio.to_thread(self._approved.add, item)

    async def reuse(self, call: "Call") -> tuple[str, str, float] | None:
        rule = call.policy.reuse_approved
        if not rule.enabled:
            return None
        approved = await self._approved_answers()
        if time.monotonic() - self._refreshed > REUSE_REFRESH_S:
            await self.refresh_approved()
        return await asyncio.to_thread(approved.best, call.question, call.caller.tenant, call.policy.name, rule.similarity)

    # ------------------------------------------------------------------ corrections

    async def add_to_knowledge(self, text: str, provenance: dict[str, Any]) -> None:
        """An approved correction counts on this replica at once, for its scope only (the item's
        tenant, or every tenant when an admin chose global).

        Only in memory: the store's ``knowledge_added`` event (written by the reviewer page) is
        the record, and ``guard.corrections.CorrectionSync`` replays it on every replica, so index
        files can stay a read-only mount.
        """
        passage = correction_passage(text, provenance)
        self.rt.corrections.put(passage)
        log.info("knowledge_added", item_id=provenance["item_id"], reviewer=provenance.get("reviewer"),
                 scope=provenance.get("scope"), tenant=provenance.get("tenant"))

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(housekeeping_loop(self.store, self.sender)))
        self._tasks.append(asyncio.create_task(self._refresh_loop()))
        listener = self.store.listener()  # decisions made on other replicas, pushed (PostgreSQL)
        if listener is not None:
            self._tasks.append(asyncio.create_task(listener.run()))

    async def _refresh_loop(self) -> None:
        """Pick up what other processes changed: approved answers, and index rebuilds."""
        while True:
            await asyncio.sleep(10)
            try:
                await self.refresh_approved()
                for index in self.rt.loaded_indexes():
                    await asyncio.to_thread(index.reload_if_changed)
            except Exception:  # noqa: BLE001 - a refresh failure must not stop the loop
                log.exception("refresh_failed")

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        await self.sender.aclose()
        await asyncio.to_thread(self.store.close)


async def start_review(app: "FastAPI", runtime: "Runtime") -> ReviewService | None:
    """Open the store, mount the reviewer app at /review, start the sweep. None when disabled."""
    config = runtime.settings.review
    if not config.store_url:
        return None
    from review_queue.app import create_review_app

    store = await asyncio.to_thread(open_store, config.store_url)
    sender = WebhookSender()
    service = ReviewService(runtime, store, sender)
    runtime.review = service
    exposed = not is_loopback(runtime.settings.server.host)
    app.mount("/review", create_review_app(store, config, service.add_to_knowledge, webhooks=sender, exposed=exposed))
    service.start()
    log.info("review_queue_started", store=config.store_url.split("@")[-1], reviewers=len(config.reviewers))
    return service


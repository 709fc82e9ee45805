"""Reviewed corrections: scoped to a tenant (or global), visible, retractable, the same on every replica.

A reviewer who approves an answer with "add to knowledge" records a ``knowledge_added`` event
on the item in the review store, with its scope: the item's tenant (the default), or ``global``
(admins only, an explicit choice). ``guard knowledge corrections retract`` or the admin page
records ``knowledge_retracted``. The store's event log is the record: every replica runs
``CorrectionSync``, which replays those events in order into its ``CorrectionSet``, so an
addition or a retraction reaches every replica within one sync, and a replica started later
replays everything. Corrections are never written into the shared index files at run time
(they may be a read-only mount); ``guard index build --store`` folds the active ones in, so the
CLI sees what the proxy sees.

A correction is visible to its own tenant only, unless global: a tenant's approved feedback
must not change the verdicts other tenants get.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from guard.knowledge.combined import FilteredRetriever
from guard.knowledge.types import Passage

log = structlog.get_logger()

ADDED, RETRACTED = "knowledge_added", "knowledge_retracted"
GLOBAL = "global"
PAGE = 1000


def correction_passage(text: str, provenance: dict[str, Any]) -> Passage:
    """The passage for one corrected item, the same on every replica (id ``review-<item id>``)."""
    item_id = provenance["item_id"]
    return Passage(
        id=f"review-{item_id}",
        text=text,
        source=f"review:{item_id}",
        metadata={"provenance": provenance, "question": provenance.get("question") or ""},
    )


def is_correction(passage: Passage) -> bool:
    return passage.source.startswith("review:")


def scope_of(passage: Passage) -> tuple[str, str | None]:
    """(``tenant`` or ``global``, the tenant). Corrections recorded before scopes existed belong
    to the tenant of their item: global was never an explicit choice for them."""
    prov = passage.metadata.get("provenance") or {}
    return ("global" if prov.get("scope") == GLOBAL else "tenant"), prov.get("tenant")


def visible_to(passage: Passage, tenant: str) -> bool:
    """Whether ``tenant``'s answers may be checked against ``passage``: every passage that is not
    a correction, a global correction, and the tenant's own."""
    if not is_correction(passage):
        return True
    scope, owner = scope_of(passage)
    return scope == GLOBAL or owner == tenant


def tenant_view(index: Any, tenant: str) -> Any:
    """``index`` as ``tenant`` sees it: without other tenants' corrections folded into its files
    (what ``guard index search --tenant`` and ``guard check --index --tenant`` search)."""
    if not any(is_correction(p) for p in index.passages):
        return index
    return FilteredRetriever(index, lambda p: visible_to(p, tenant), label="knowledge")


class CorrectionSet:
    """The active corrections of this replica, searchable per tenant.

    Corrections are few (hundreds), so a change rebuilds one small lazy index: keyword search
    needs no model, and passages are embedded only when a sentence falls back to semantic search.
    """

    def __init__(self, embedder: Callable[[], Any]) -> None:
        self._embedder = embedder
        self._passages: dict[str, Passage] = {}
        self._index: Any = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._passages)

    def get(self, passage_id: str) -> Passage | None:
        return self._passages.get(passage_id)

    @property
    def passages(self) -> list[Passage]:
        return list(self._passages.values())

    def put(self, passage: Passage) -> bool:
        """Add or update one correction; False when it is already held unchanged."""
        with self._lock:
            held = self._passages.get(passage.id)
            if held is not None and held.text == passage.text and held.metadata == passage.metadata:
                return False
            self._passages[passage.id] = passage
            self._index = None
        return True

    def remove(self, passage_id: str) -> bool:
        with self._lock:
            if self._passages.pop(passage_id, None) is None:
                return False
            self._index = None
        return True

    def index(self) -> Any:
        from guard.knowledge.index import KnowledgeIndex

        with self._lock:
            if self._index is None:
                ordered = sorted(self._passages.values(), key=lambda p: p.id)
                built = KnowledgeIndex.from_passages(ordered, self._embedder(), lazy=True)
                built.version = "corrections-" + built._digest
                self._index = built
            return self._index

    def for_tenant(self, tenant: str) -> FilteredRetriever | None:
        """The corrections ``tenant`` may see, or None when it may see none (so its checks, and
        the index version they record, do not change when another tenant adds one)."""
        if not any(visible_to(p, tenant) for p in list(self._passages.values())):
            return None
        return FilteredRetriever(self.index(), lambda p: visible_to(p, tenant), label="corrections")


@dataclass(slots=True)
class Correction:
    """One correction as the CLI and the admin page show it."""

    item_id: str
    tenant: str
    scope: str
    status: str  # active or retracted
    text: str
    question: str
    added_by: str
    added_at: float
    retracted_by: str | None = None
    retracted_at: float | None = None
    reason: str | None = None

    @property
    def passage_id(self) -> str:
        return f"review-{self.item_id}"

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__} | {"passage_id": self.passage_id}  # type: ignore[attr-defined]


def event_scope(detail: dict[str, Any]) -> str:
    return GLOBAL if detail.get("scope") == GLOBAL else "tenant"


async def list_corrections(store: Any) -> list[Correction]:
    """Every correction ever added, with its current state, oldest first."""
    found: dict[str, Correction] = {}
    after = 0
    while True:
        events = await store.events_by_action([ADDED, RETRACTED], after, PAGE)
        for e in events:
            if not e.item_id:
                continue
            if e.action == ADDED:
                item = await store.get(e.item_id)
                if item is None or not item.final_answer:
                    continue
                found[e.item_id] = Correction(
                    item.id, item.tenant, event_scope(e.detail), "active", item.final_answer, item.question, e.actor, e.at
                )
            elif e.item_id in found:
                c = found[e.item_id]
                c.status, c.retracted_by, c.retracted_at, c.reason = "retracted", e.actor, e.at, e.detail.get("reason")
        if len(events) < PAGE:
            break
        after = events[-1].id
    return list(found.values())


async def retract(store: Any, item_id: str, actor: str, reason: str | None = None) -> Correction:
    """Record that a correction no longer counts; every replica drops it on its next sync.

    Raises ``LookupError`` for an item that has no active correction.
    """
    current = {c.item_id: c for c in await list_corrections(store)}.get(item_id)
    if current is None or current.status != "active":
        raise LookupError(f"no active correction for review item {item_id!r}")
    await store.add_event(item_id, actor, RETRACTED, {"reason": reason} if reason else {})
    current.status, current.retracted_by, current.reason = "retracted", actor, reason
    log.info("knowledge_retracted", item_id=item_id, actor=actor)
    return current


def passage_for(item: Any, actor: str, scope: str) -> Passage:
    provenance = dict(item.provenance(actor), scope=scope)
    return correction_passage(item.final_answer or "", provenance)


async def active_passages(store: Any) -> list[Passage]:
    """The passages of every active correction (what ``guard index build --store`` folds in)."""
    out = []
    for c in await list_corrections(store):
        if c.status != "active":
            continue
        item = await store.get(c.item_id)
        if item is not None:
            out.append(passage_for(item, c.added_by, c.scope))
    return out


class CorrectionSync:
    """Replays the store's correction events into this replica's ``CorrectionSet``."""

    def __init__(self, store: Any, corrections: CorrectionSet, interval_s: float = 10.0) -> None:
        self.store = store
        self.corrections = corrections
        self.interval_s = interval_s
        self.last_event = 0  # the newest event id already applied
        self._wake = asyncio.Event()

    def wake(self, message: dict[str, Any] | None = None) -> None:
        """Sync now rather than at the next interval (a store notification: knowledge changed)."""
        if message is None or message.get("kind") == "event":
            self._wake.set()

    async def run_once(self) -> int:
        """Apply the events recorded since the last call; returns how many changed the set."""
        changed = 0
        while True:
            events = await self.store.events_by_action([ADDED, RETRACTED], self.last_event, PAGE)
            for event in events:
                changed += await self._apply(event)
                self.last_event = event.id
            if len(events) < PAGE:
                break
        if changed:
            log.info("corrections_synced", changed=changed, active=len(self.corrections))
        return changed

    async def _apply(self, event: Any) -> int:
        if not event.item_id:
            return 0
        if event.action == RETRACTED:
            return int(self.corrections.remove(f"review-{event.item_id}"))
        item = await self.store.get(event.item_id)
        if item is None or not item.final_answer:
            return 0
        return int(self.corrections.put(passage_for(item, event.actor, event_scope(event.detail))))

    async def run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # noqa: BLE001 - a store hiccup must not stop the loop
                log.exception("corrections_sync_failed")
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

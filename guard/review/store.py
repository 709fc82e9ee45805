"""The review store: held answers, reviewer leases, decisions and their audit trail.

Every method is async and runs its blocking SQL in a worker thread. The rules that must hold
across replicas (one reviewer per item, decisions only by the lease holder, an item expires
once) are each one conditional UPDATE whose row count says who won, so they hold equally on
one SQLite file and on a PostgreSQL shared by several processes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog

from guard.errors import InvalidRequest
from guard.review import notify
from guard.review.audit import AuditTrail
from guard.review.db import Database, parse_url
from guard.review.errors import LeaseNotHeld, ReviewNotFound
from guard.review.migrations import migrate
from guard.review.models import (
    FINAL_STATUSES,
    OPEN_STATUSES,
    DecisionAction,
    Item,
    ItemFilter,
    NewItem,
    SortOrder,
    Stats,
)
from guard.review.rows import append_event, dumps, get_item, to_item
from guard.review.signals import DecisionSignals
from guard.review.sql import ORDER_BY, where
from guard.review.stats import per_day, per_policy, per_reviewer, per_reviewer_hour, percentile, window_start

log = structlog.get_logger()

_DECIDED = ("approved", "edited", "rejected")
# What each action writes, as fixed SQL fragments: approve releases the answer as it is,
# reject releases the fallback (None: the proxy's own fallback message).
_DECISIONS: dict[str, tuple[str, str]] = {
    "approve": ("approved", "answer"),
    "edit": ("edited", ":final"),
    "reject": ("rejected", "fallback_answer"),
}


def open_store(url: str, *, clock: Callable[[], float] = time.time) -> "ReviewStore":
    """Connect and bring the schema up to date. Blocking: call it at start-up."""
    db = Database(parse_url(url))
    try:
        migrate(db)
    except Exception:
        db.close()
        raise
    return ReviewStore(db, clock=clock)


class ReviewStore(notify.Broadcast, AuditTrail):
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time, poll_s: float = 0.5) -> None:
        self.db = db
        self.clock = clock
        self.poll_s = poll_s
        self.signals = DecisionSignals()
        self.watchers: list[Callable[[dict[str, Any]], None]] = []  # every notification, e.g. corrections

    @property
    def dialect(self) -> str:
        return self.db.dialect

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------ items

    async def create_item(self, new: NewItem, actor: str = "guard") -> Item:
        return await self._run(self._create_item, new, actor)

    def _create_item(self, new: NewItem, actor: str) -> Item:
        now = self.clock()
        row = {
            "id": "rv_" + uuid.uuid4().hex[:24],
            "kind": new.kind,
            "status": "pending",
            "policy": new.policy,
            "tenant": new.tenant,
            "model": new.model,
            "key_id": new.key_id,
            "request_json": dumps(new.request),
            "answer": new.answer,
            "reasoning": new.reasoning,
            "annotation_json": dumps(new.annotation),
            "reasons_json": dumps(new.reasons),
            "risk": round(1.0 - new.confidence, 6),
            "created_at": now,
            "deadline": now + new.deadline_s if new.deadline_s else None,
            "on_expire": new.on_expire,
            "fallback_answer": new.fallback_answer,
            "response_id": new.response_id,
            "request_id": new.request_id,
            "webhook_url": new.webhook_url,
            "webhook_secret_env": new.webhook_secret_env,
            "documents_json": dumps(new.documents) if new.documents else None,
        }
        columns = ", ".join(row)
        values = ", ".join(f":{k}" for k in row)
        with self.db.write() as conn:
            conn.execute(f"INSERT INTO review_items ({columns}) VALUES ({values})", row)
            append_event(conn, row["id"], actor, "created", {"kind": new.kind, "reasons": new.reasons}, now)
            item = get_item(conn, row["id"])
        assert item is not None
        return item

    async def get(self, item_id: str) -> Item | None:
        return await self._run(self._get, item_id)

    def _get(self, item_id: str) -> Item | None:
        with self.db.read() as conn:
            return get_item(conn, item_id)

    async def find_by_response_id(self, response_id: str, tenant: str | None = None) -> Item | None:
        """The newest item for a response (a response can be audited and later get feedback)."""
        return await self._run(self._find_by, "response_id", response_id, tenant)

    async def find_by_request_id(self, request_id: str, tenant: str | None = None, key_id: str | None = None) -> Item | None:
        """The newest item held for a request, for a caller whose connection was cut.

        Request ids are chosen by clients, so a look-up for a caller passes its ``key_id``:
        another key's item with the same id is never the answer (it could hide this one)."""
        return await self._run(self._find_by, "request_id", request_id, tenant, key_id)

    def _find_by(self, column: str, value: str, tenant: str | None, key_id: str | None = None) -> Item | None:
        assert column in ("response_id", "request_id")  # never from user input
        sql = f"SELECT * FROM review_items WHERE {column} = :rid"
        params: dict[str, Any] = {"rid": value}
        if tenant is not None:
            sql += " AND tenant = :tenant"
            params["tenant"] = tenant
        if key_id is not None:
            sql += " AND key_id = :key_id"
            params["key_id"] = key_id
        with self.db.read() as conn:
            row = conn.fetchone(sql + " ORDER BY created_at DESC LIMIT 1", params)
        return to_item(row) if row else None

    async def list_items(
        self, filters: ItemFilter | None = None, sort: SortOrder = "risk", limit: int = 50, offset: int = 0
    ) -> list[Item]:
        """Riskiest first, then oldest first (``sort="risk"``); or oldest first; or nearest deadline."""
        return await self._run(self._list_items, filters or ItemFilter(), sort, limit, offset)

    def _list_items(self, filters: ItemFilter, sort: SortOrder, limit: int, offset: int) -> list[Item]:
        cond, params = where(filters)
        params.update(limit=max(0, int(limit)), offset=max(0, int(offset)))
        sql = f"SELECT * FROM review_items WHERE {cond} ORDER BY {ORDER_BY[sort]} LIMIT :limit OFFSET :offset"
        with self.db.read() as conn:
            return [to_item(r) for r in conn.fetchall(sql, params)]

    async def counts(self, filters: ItemFilter | None = None) -> dict[str, int]:
        """Items per status under ``filters`` (its ``statuses`` ignored), every status present."""
        return await self._run(self._counts, filters or ItemFilter())

    def _counts(self, filters: ItemFilter) -> dict[str, int]:
        cond, params = where(filters.model_copy(update={"statuses": None}))
        sql = f"SELECT status, COUNT(*) AS n FROM review_items WHERE {cond} GROUP BY status"
        with self.db.read() as conn:
            rows = conn.fetchall(sql, params)
        counts = {s: 0 for s in OPEN_STATUSES + FINAL_STATUSES}
        counts.update({r["status"]: int(r["n"]) for r in rows})
        return counts

    async def facets(self, tenants: list[str] | None = None) -> dict[str, list[str]]:
        """The distinct policies, models and tenants in scope: the choices of the queue's filters."""
        return await self._run(self._facets, tenants)

    def _facets(self, tenants: list[str] | None) -> dict[str, list[str]]:
        cond, params = where(ItemFilter(tenants=tenants))
        out: dict[str, list[str]] = {}
        with self.db.read() as conn:
            for column in ("policy", "model", "tenant"):  # fixed names, never user input
                rows = conn.fetchall(f"SELECT DISTINCT {column} AS v FROM review_items WHERE {cond} ORDER BY v", params)
                out[column] = [r["v"] for r in rows]
        return out

    # ------------------------------------------------------------------ leases and decisions

    async def claim(self, item_id: str, reviewer: str, lease_s: float, now: float | None = None) -> bool:
        """Take (or extend) the lease. Exactly one of several racing reviewers gets True."""
        return await self._run(self._claim, item_id, reviewer, lease_s, now)

    def _claim(self, item_id: str, reviewer: str, lease_s: float, now: float | None) -> bool:
        now = self.clock() if now is None else now
        params = {"id": item_id, "reviewer": reviewer, "now": now, "until": now + lease_s}
        with self.db.write() as conn:
            won = conn.execute(
                "UPDATE review_items SET status = 'claimed', reviewer = :reviewer, lease_until = :until "
                "WHERE id = :id AND (status = 'pending' OR (status = 'claimed' "
                "AND (lease_until < :now OR reviewer = :reviewer)))",
                params,
            ) == 1
            if won:
                append_event(conn, item_id, reviewer, "claimed", {"lease_until": params["until"]}, now)
        return won

    async def release_claim(self, item_id: str, reviewer: str, *, force: bool = False) -> bool:
        """Give the item back to the queue. ``force`` (admins) releases someone else's lease."""
        return await self._run(self._release_claim, item_id, reviewer, force)

    def _release_claim(self, item_id: str, reviewer: str, force: bool) -> bool:
        now = self.clock()
        owner = "" if force else " AND reviewer = :reviewer"
        with self.db.write() as conn:
            previous = conn.fetchone("SELECT reviewer FROM review_items WHERE id = :id", {"id": item_id})
            done = conn.execute(
                "UPDATE review_items SET status = 'pending', reviewer = NULL, lease_until = NULL "
                f"WHERE id = :id AND status = 'claimed'{owner}",
                {"id": item_id, "reviewer": reviewer},
            ) == 1
            if done:
                detail = {"holder": previous["reviewer"] if previous else None, "forced": force}
                append_event(conn, item_id, reviewer, "released", detail, now)
        return done

    async def decide(
        self,
        item_id: str,
        reviewer: str,
        action: DecisionAction,
        final_answer: str | None = None,
        reason: str | None = None,
        now: float | None = None,
        detail: dict[str, Any] | None = None,
    ) -> Item:
        """Approve, edit (``final_answer`` required) or reject (``reason`` required).

        ``detail`` is added to the decision's audit event (e.g. the group it was decided with).
        Raises LeaseNotHeld unless ``reviewer`` holds a live lease, ReviewNotFound for an unknown id.
        """
        item = await self._run(self._decide, item_id, reviewer, action, final_answer, reason, now, detail)
        self.signals.notify(item_id)
        await self.publish("decided", item_id)
        return item

    def _decide(
        self, item_id: str, reviewer: str, action: str, final: str | None, reason: str | None, now: float | None,
        extra: dict[str, Any] | None = None,
    ) -> Item:
        if action not in _DECISIONS:
            raise InvalidRequest(f"unknown action {action!r}", param="action")
        if action == "edit" and not (final or "").strip():
            raise InvalidRequest("an edit needs the corrected answer", param="final_answer")
        if action == "reject" and not (reason or "").strip():
            raise InvalidRequest("a rejection needs a reason", param="reason")
        status, final_sql = _DECISIONS[action]
        now = self.clock() if now is None else now
        params = {"id": item_id, "reviewer": reviewer, "now": now, "status": status, "final": final,
                  "reason": reason or None}
        with self.db.write() as conn:
            done = conn.execute(
                f"UPDATE review_items SET status = :status, final_answer = {final_sql}, reject_reason = :reason, "
                "decided_at = :now, lease_until = NULL "
                "WHERE id = :id AND status = 'claimed' AND reviewer = :reviewer AND lease_until >= :now",
                params,
            ) == 1
            if done:
                detail: dict[str, Any] = dict(extra or {})
                if reason:
                    detail["reason"] = reason
                if action == "edit":
                    detail["final_answer"] = final
                append_event(conn, item_id, reviewer, status, detail, now)
            item = get_item(conn, item_id)
        if item is None:
            raise ReviewNotFound(f"no review item {item_id!r}")
        if not done:
            raise LeaseNotHeld(f"{reviewer!r} does not hold a live lease on {item_id!r} (status {item.status})")
        log.info("review.decided", item_id=item_id, reviewer=reviewer, status=status)
        return item

    async def expire_due(self, now: float | None = None) -> list[Item]:
        """Expire open items past their deadline and return them; lapsed leases go back to pending.

        Run it every few seconds on every replica: each item is expired by exactly one caller,
        which is the one that should apply ``on_expire`` side effects (webhook).
        """
        items = await self._run(self._expire_due, now)
        for item in items:
            self.signals.notify(item.id)
            await self.publish("expired", item.id)
        return items

    def _expire_due(self, now: float | None) -> list[Item]:
        now = self.clock() if now is None else now
        expired: list[Item] = []
        with self.db.read() as conn:
            due = conn.fetchall(
                "SELECT id FROM review_items WHERE status IN ('pending', 'claimed') "
                "AND deadline IS NOT NULL AND deadline < :now",
                {"now": now},
            )
        for row in due:
            with self.db.write() as conn:
                done = conn.execute(
                    "UPDATE review_items SET status = 'expired', decided_at = :now, lease_until = NULL, "
                    "final_answer = CASE WHEN on_expire = 'release' THEN answer ELSE fallback_answer END "
                    "WHERE id = :id AND status IN ('pending', 'claimed') AND deadline < :now",
                    {"id": row["id"], "now": now},
                ) == 1
                if done:
                    append_event(conn, row["id"], "system", "expired", {}, now)
                    item = get_item(conn, row["id"])
                    if item is not None:
                        expired.append(item)
        with self.db.write() as conn:
            lapsed = conn.fetchall(
                "SELECT id, reviewer FROM review_items WHERE status = 'claimed' AND lease_until < :now",
                {"now": now},
            )
            for row in lapsed:
                if conn.execute(
                    "UPDATE review_items SET status = 'pending', reviewer = NULL, lease_until = NULL "
                    "WHERE id = :id AND status = 'claimed' AND lease_until < :now",
                    {"id": row["id"], "now": now},
                ):
                    append_event(conn, row["id"], "system", "lease_expired", {"holder": row["reviewer"]}, now)
        return expired

    async def wait_for_decision(self, item_id: str, timeout_s: float, poll_s: float | None = None) -> Item:
        """Return the item once final, or as it is when ``timeout_s`` runs out.

        Wakes at once for a decision taken in this process; otherwise notices one taken by
        another process within ``poll_s``.
        """
        poll = self.poll_s if poll_s is None else poll_s
        deadline = time.monotonic() + timeout_s
        waiter = self.signals.subscribe(item_id)
        try:
            while True:
                waiter[1].clear()
                item = await self.get(item_id)
                if item is None:
                    raise ReviewNotFound(f"no review item {item_id!r}")
                left = deadline - time.monotonic()
                if item.is_final or left <= 0:
                    return item
                try:
                    await asyncio.wait_for(waiter[1].wait(), timeout=min(poll, left))
                except asyncio.TimeoutError:
                    pass
        finally:
            self.signals.unsubscribe(item_id, waiter)

    # ------------------------------------------------------------------ audit and stats

    async def stats(self, tenants: list[str] | None = None, days: int = 14, now: float | None = None) -> Stats:
        return await self._run(self._stats, tenants, days, now)

    def _stats(self, tenants: list[str] | None, days: int, now: float | None) -> Stats:
        now = self.clock() if now is None else now
        counts = self._counts(ItemFilter(tenants=tenants))
        cond, params = where(ItemFilter(tenants=tenants, statuses=["pending"]))
        decided_cond, decided_params = where(ItemFilter(tenants=tenants, statuses=list(_DECIDED)))
        with self.db.read() as conn:
            oldest = conn.fetchone(f"SELECT MIN(created_at) AS t FROM review_items WHERE {cond}", params)
            decided = conn.fetchall(
                "SELECT reviewer, policy, status, created_at, decided_at FROM review_items "
                f"WHERE {decided_cond} AND decided_at >= :since",
                {**decided_params, "since": window_start(now, days)},
            )
            open_cond, open_params = where(ItemFilter(tenants=tenants, statuses=list(OPEN_STATUSES)))
            late = conn.fetchone(
                f"SELECT COUNT(*) AS n FROM review_items WHERE {open_cond} AND deadline IS NOT NULL AND deadline < :now",
                {**open_params, "now": now},
            )
            expired_cond, expired_params = where(ItemFilter(tenants=tenants, statuses=["expired"]))
            swept = conn.fetchone(
                f"SELECT COUNT(*) AS n FROM review_items WHERE {expired_cond} AND decided_at >= :since",
                {**expired_params, "since": window_start(now, days)},
            )
        oldest_t = oldest["t"] if oldest else None
        waits = [r["decided_at"] - r["created_at"] for r in decided]
        return Stats(
            depth=counts["pending"] + counts["claimed"],
            pending=counts["pending"],
            claimed=counts["claimed"],
            oldest_pending_age_s=(now - oldest_t) if oldest_t is not None else None,
            deadlines_missed=counts["expired"],
            decided_total=sum(counts[s] for s in _DECIDED),
            decisions_per_day=per_day([r["decided_at"] for r in decided], now, days),
            past_deadline=(int(late["n"]) if late else 0) + (int(swept["n"]) if swept else 0),
            time_to_decision_p50_s=percentile(waits, 0.5),
            time_to_decision_p95_s=percentile(waits, 0.95),
            per_reviewer=per_reviewer(decided, now),
            per_reviewer_hour=per_reviewer_hour(decided, now),
            per_policy=per_policy(decided),
        )

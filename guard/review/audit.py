"""The append-only audit trail of the review queue: who did what to which item, and when.

A base of ``ReviewStore``: it reads the store's ``db`` and ``clock``, and gives the store the
``_run`` that moves blocking calls off the event loop. Rows are only ever inserted (triggers refuse updates and
deletes), inside the same transaction as the change they record where there is one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from guard.review.db import Database
from guard.review.models import Event
from guard.review.rows import append_event, to_event
from guard.review.sql import in_list


class AuditTrail:
    db: Database
    clock: Callable[[], float]

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Blocking database work off the event loop (sqlite3 and psycopg here are synchronous),
        in the database's own threads, so it never queues behind checks or other CPU work."""
        return await self.db.run(fn, *args)

    async def add_event(self, item_id: str | None, actor: str, action: str, detail: dict[str, Any] | None = None) -> None:
        """Record an action that changes no item state (log in, knowledge added, webhook sent)."""
        await self._run(self._add_event, item_id, actor, action, detail or {})
        await self.publish("event", item_id, action=action)

    async def publish(self, kind: str, item_id: str | None, **extra: Any) -> None:
        """Tell other replicas (the store overrides this where the database has a channel)."""

    def _add_event(self, item_id: str | None, actor: str, action: str, detail: dict[str, Any]) -> None:
        with self.db.write() as conn:
            append_event(conn, item_id, actor, action, detail, self.clock())

    async def events(self, item_id: str) -> list[Event]:
        """One item's trail, oldest first."""
        return await self._run(self._events, item_id)

    def _events(self, item_id: str) -> list[Event]:
        with self.db.read() as conn:
            rows = conn.fetchall("SELECT * FROM review_events WHERE item_id = :id ORDER BY id", {"id": item_id})
        return [to_event(r) for r in rows]

    async def audit_log(
        self,
        *,
        actor: str | None = None,
        tenants: list[str] | None = None,
        items_only: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Event]:
        """Every event, newest first.

        ``tenants`` keeps those tenants' items' events; ``items_only`` drops the events about no
        item (log-ins), which a tenant scope drops too.
        """
        return await self._run(self._audit_log, actor, tenants, items_only, limit, offset)

    def _audit_log(
        self, actor: str | None, tenants: list[str] | None, items_only: bool, limit: int, offset: int
    ) -> list[Event]:
        conds, params = ["1 = 1"], {"limit": max(0, int(limit)), "offset": max(0, int(offset))}
        if items_only:
            conds.append("e.item_id IS NOT NULL")
        if actor is not None:
            conds.append("e.actor = :actor")
            params["actor"] = actor
        if tenants is not None:
            conds.append(in_list("i.tenant", "t", tenants, params))
        sql = (
            "SELECT e.* FROM review_events e LEFT JOIN review_items i ON i.id = e.item_id "
            f"WHERE {' AND '.join(conds)} ORDER BY e.id DESC LIMIT :limit OFFSET :offset"
        )
        with self.db.read() as conn:
            return [to_event(r) for r in conn.fetchall(sql, params)]

    async def events_by_action(self, actions: list[str], after_id: int = 0, limit: int = 1000) -> list[Event]:
        """Events with one of ``actions`` and an id above ``after_id``, oldest first: what a
        replica replays (corrections added and retracted) without paging the whole trail."""
        return await self._run(self._events_by_action, list(actions), after_id, limit)

    def _events_by_action(self, actions: list[str], after_id: int, limit: int) -> list[Event]:
        params: dict[str, Any] = {"after": int(after_id), "limit": max(0, int(limit))}
        cond = in_list("action", "a", actions, params)
        sql = f"SELECT * FROM review_events WHERE id > :after AND {cond} ORDER BY id LIMIT :limit"
        with self.db.read() as conn:
            return [to_event(r) for r in conn.fetchall(sql, params)]

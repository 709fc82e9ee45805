"""Converting between store rows and the review models; the one place JSON columns are read or written."""

from __future__ import annotations

import json
from typing import Any

from guard.review.db import Conn
from guard.review.models import Event, Item


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def append_event(conn: Conn, item_id: str | None, actor: str, action: str, detail: dict[str, Any], at: float) -> None:
    """Add to the audit trail, inside the caller's transaction so the change and its record commit together."""
    conn.execute(
        "INSERT INTO review_events (item_id, actor, action, detail_json, at) VALUES (:item, :actor, :action, :detail, :at)",
        {"item": item_id, "actor": actor, "action": action, "detail": dumps(detail), "at": at},
    )


def get_item(conn: Conn, item_id: str) -> Item | None:
    row = conn.fetchone("SELECT * FROM review_items WHERE id = :id", {"id": item_id})
    return to_item(row) if row else None


def to_item(row: dict[str, Any]) -> Item:
    data = dict(row)
    data["request"] = json.loads(data.pop("request_json"))
    data["annotation"] = json.loads(data.pop("annotation_json"))
    data["reasons"] = json.loads(data.pop("reasons_json"))
    documents = data.pop("documents_json", None)
    data["documents"] = json.loads(documents) if documents else []
    return Item.model_validate(data)


def to_event(row: dict[str, Any]) -> Event:
    data = dict(row)
    data["detail"] = json.loads(data.pop("detail_json"))
    return Event.model_validate(data)

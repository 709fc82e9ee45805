"""Building WHERE clauses from an ItemFilter: values always go in as parameters, never as text."""

from __future__ import annotations

from typing import Any

from guard.review.models import ItemFilter, SortOrder

ORDER_BY: dict[SortOrder, str] = {
    "risk": "risk DESC, created_at ASC, id ASC",
    "age": "created_at ASC, id ASC",
    "deadline": "CASE WHEN deadline IS NULL THEN 1 ELSE 0 END, deadline ASC, created_at ASC, id ASC",
}


def in_list(column: str, prefix: str, values: list[str], params: dict[str, Any]) -> str:
    """``column IN (:p0, :p1, ...)``; an empty list matches nothing."""
    if not values:
        return "1 = 0"
    names = []
    for i, value in enumerate(values):
        name = f"{prefix}{i}"
        params[name] = value
        names.append(f":{name}")
    return f"{column} IN ({', '.join(names)})"


def where(f: ItemFilter) -> tuple[str, dict[str, Any]]:
    conds: list[str] = []
    params: dict[str, Any] = {}
    if f.statuses is not None:
        conds.append(in_list("status", "st", list(f.statuses), params))
    if f.kinds is not None:
        conds.append(in_list("kind", "kd", list(f.kinds), params))
    if f.tenants is not None:
        conds.append(in_list("tenant", "tn", f.tenants, params))
    for column in ("policy", "model", "tenant", "reviewer"):
        value = getattr(f, column)
        if value is not None:
            conds.append(f"{column} = :f_{column}")
            params[f"f_{column}"] = value
    return (" AND ".join(conds) or "1 = 1"), params

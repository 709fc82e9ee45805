"""``GET /v1/guard/reviews/{id}``: a caller whose answer was held asks for the outcome.

Only the API key that made the request may read it; for anyone else the review does not
exist (404, not 403, so ids cannot be probed). The reviewer's reject reason stays internal.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from guard.api.deps import CallerDep, Store
from guard.review.errors import ReviewNotFound
from guard.review.models import Item

router = APIRouter()


def review_view(item: Item) -> dict[str, Any]:
    return {
        "object": "guard.review",
        "id": item.id,
        "status": item.status,
        "final_answer": item.final_answer if item.is_final else None,
        "response_id": item.response_id,
        "request_id": item.request_id,
        "created_at": int(item.created_at),
        "deadline": int(item.deadline) if item.deadline is not None else None,
        "decided_at": int(item.decided_at) if item.decided_at is not None else None,
    }


@router.get("/v1/guard/reviews")
async def find_review(request_id: str, caller: CallerDep, store: Store) -> dict[str, Any]:
    """A caller whose wait was cut off (a restart, a dropped connection) finds its review by the
    ``x-request-id`` it sent. Ids are the client's choice, so they are looked up within the
    caller's key: another key of the tenant reusing the id cannot shadow this key's review."""
    item = await store.find_by_request_id(request_id, tenant=caller.tenant, key_id=caller.key_id)
    if item is None:
        raise ReviewNotFound(f"no review for request {request_id!r}", param="request_id")
    return review_view(item)


@router.get("/v1/guard/reviews/{review_id}")
async def get_review(review_id: str, caller: CallerDep, store: Store) -> dict[str, Any]:
    item = await store.get(review_id)
    if item is None or item.key_id != caller.key_id or item.tenant != caller.tenant:
        raise ReviewNotFound(f"no review {review_id!r}", param="review_id")
    return review_view(item)

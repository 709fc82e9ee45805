"""``POST /v1/guard/feedback``: a client reports a bad answer; it joins the queue as kind=feedback.

When the response is known to the queue (it was held or audited) the new item copies its
question, answer and evidence so the reviewer sees what the client saw; otherwise the client
must send the answer itself.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from guard.api.deps import CallerDep, RecentResponses, Store
from guard.errors import InvalidRequest
from guard.limits import KeyLimiter
from guard.review.models import NewItem
from guard.settings import LimitsConfig

router = APIRouter()


async def feedback_admitted(request: Request, caller: CallerDep) -> None:
    """``limits.feedback_per_minute`` reports per API key (per client address without keys),
    so one client cannot fill the review queue. The body's size and read time are bounded
    before this by ``BodyGuard`` (``limits.max_other_body_bytes``, ``limits.body_timeout_s``)."""
    state = request.app.state
    limiter: KeyLimiter | None = getattr(state, "limiter", None)
    if limiter is None:  # an app built without the proxy's runtime (the routes alone)
        limiter = state.limiter = KeyLimiter()
    runtime = getattr(state, "runtime", None)
    limits = runtime.settings.limits if runtime is not None else LimitsConfig()
    who = caller.key_id
    if who == "none":
        who += ":" + (request.client.host if request.client else "?")
    limiter.admit("feedback:" + who, limits.feedback_per_minute, None).release()


class FeedbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    response_id: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=4000)
    answer: str | None = Field(default=None, max_length=200_000)  # the answer as the client got it
    question: str | None = Field(default=None, max_length=200_000)
    expected: str | None = Field(default=None, max_length=200_000)  # what it should have said
    model: str | None = Field(default=None, max_length=200)


@router.post("/v1/guard/feedback", status_code=202, dependencies=[Depends(feedback_admitted)])
async def post_feedback(body: FeedbackBody, caller: CallerDep, store: Store, recent_responses: RecentResponses) -> dict[str, Any]:
    original = await store.find_by_response_id(body.response_id, tenant=caller.tenant)
    if original is None:
        recent = recent_responses(body.response_id, caller.tenant)  # answered by this replica
        if recent is not None:
            return await _from_recent(body, caller, store, recent)
    answer = body.answer if body.answer is not None else (original.answer if original else None)
    if answer is None:
        raise InvalidRequest("this response is not known to the review queue; send the answer too", param="answer")
    if original is not None:
        request = dict(original.request)
    else:
        request = {"messages": [{"role": "user", "content": body.question}]} if body.question else {}
    request["guard_feedback"] = {"reason": body.reason, "expected": body.expected}
    item = await store.create_item(
        NewItem(
            kind="feedback",
            policy=original.policy if original else "unknown",
            tenant=caller.tenant,
            model=original.model if original else (body.model or "unknown"),
            key_id=caller.key_id,
            request=request,
            answer=answer,
            reasoning=original.reasoning if original else None,
            annotation=original.annotation if original else {},
            reasons=[f"feedback: {body.reason}"],
            confidence=1.0 - original.risk if original else 0.5,
            response_id=body.response_id,
        ),
        actor=f"key:{caller.key_id}",
    )
    return {"object": "guard.feedback", "review_id": item.id, "status": item.status}


async def _from_recent(body: FeedbackBody, caller: Any, store: Any, recent: dict[str, Any]) -> dict[str, Any]:
    request = dict(recent["request"])
    request["guard_feedback"] = {"reason": body.reason, "expected": body.expected}
    item = await store.create_item(
        NewItem(
            kind="feedback",
            policy=recent["policy"],
            tenant=caller.tenant,
            model=recent["model"],
            key_id=caller.key_id,
            request=request,
            answer=body.answer if body.answer is not None else recent["answer"],
            annotation=recent["annotation"],
            reasons=[f"feedback: {body.reason}"],
            confidence=max(0.0, min(1.0, recent["confidence"])),
            response_id=body.response_id,
            documents=recent.get("documents") or [],
        ),
        actor=f"key:{caller.key_id}",
    )
    return {"object": "guard.feedback", "review_id": item.id, "status": item.status}

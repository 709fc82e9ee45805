"""The review queue's value types: what goes in (NewItem), what comes out (Item, Event, Stats).

These are the store's contract with the proxy and the reviewer app, so they are pydantic models
validated at the boundary; the SQL rows are converted to and from them in one place (store.py).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["hold", "audit", "feedback"]
Status = Literal["pending", "claimed", "approved", "edited", "rejected", "expired"]
DecisionAction = Literal["approve", "edit", "reject"]
ExpireAction = Literal["release", "fallback"]

OPEN_STATUSES: tuple[Status, ...] = ("pending", "claimed")
FINAL_STATUSES: tuple[Status, ...] = ("approved", "edited", "rejected", "expired")
STATUSES: tuple[Status, ...] = OPEN_STATUSES + FINAL_STATUSES
KINDS: tuple[Kind, ...] = ("hold", "audit", "feedback")


class NewItem(BaseModel):
    """Everything the proxy knows when it decides to hold (or sample, or receive feedback on) an answer.

    ``annotation`` is the dict the checks produce for clients (sentences with support, evidence
    passage_id/source/span, unsupported flags); the store keeps it as opaque JSON and the
    reviewer page reads only ``sentences`` from it.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Kind = "hold"
    policy: str
    tenant: str
    model: str
    key_id: str = ""  # the caller's API key hash: only that caller may read the result
    request: dict[str, Any] = Field(default_factory=dict)  # messages + parameters as received
    answer: str
    reasoning: str | None = None
    annotation: dict[str, Any] = Field(default_factory=dict)
    reasons: list[str] = Field(default_factory=list)  # why it was held
    confidence: float = Field(default=1.0, ge=0, le=1)
    deadline_s: float | None = Field(default=None, gt=0)  # None: never expires (audit, feedback)
    on_expire: ExpireAction = "fallback"
    fallback_answer: str | None = None  # what the caller gets on reject, or on expiry with fallback
    response_id: str | None = None
    request_id: str | None = None  # x-request-id: a caller cut off while waiting finds its review by it
    webhook_url: str | None = None
    webhook_secret_env: str | None = None  # the secret's env var name, resolved where it is sent
    # The request evidence the check saw ({"kind", "position", "text", "id"?, "title"?, ...}),
    # cut to review.max_document_chars, so the reviewer judges against the same documents.
    documents: list[dict[str, Any]] = Field(default_factory=list)


class Item(BaseModel):
    id: str
    kind: Kind
    status: Status
    policy: str
    tenant: str
    model: str
    key_id: str
    request: dict[str, Any]
    answer: str
    reasoning: str | None
    annotation: dict[str, Any]
    reasons: list[str]
    risk: float  # 1 - confidence: the queue is sorted by it
    created_at: float  # epoch seconds
    deadline: float | None
    on_expire: ExpireAction
    fallback_answer: str | None
    response_id: str | None
    request_id: str | None = None
    reviewer: str | None
    lease_until: float | None
    decided_at: float | None
    final_answer: str | None
    reject_reason: str | None
    webhook_url: str | None
    webhook_secret_env: str | None
    documents: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def question(self) -> str:
        """The last user message, as text: what the reviewer needs to judge the answer."""
        return question_of(self.request)

    def provenance(self, reviewer: str) -> dict[str, Any]:
        """Who decided what, when, from which item: kept with a correction in the knowledge base."""
        return {
            "item_id": self.id,
            "reviewer": reviewer,
            "decided_at": self.decided_at,
            "status": self.status,
            "tenant": self.tenant,
            "policy": self.policy,
            "model": self.model,
            "question": self.question,
        }


class Event(BaseModel):
    id: int
    item_id: str | None  # None for events not about one item (log in, log out)
    actor: str
    action: str
    detail: dict[str, Any]
    at: float


class ItemFilter(BaseModel):
    """Conditions combined with AND; a None field does not filter.

    ``tenants`` is the reviewer's scope (None = every tenant), ``tenant`` the chosen filter.
    """

    model_config = ConfigDict(extra="forbid")

    statuses: list[Status] | None = None
    kinds: list[Kind] | None = None
    policy: str | None = None
    model: str | None = None
    tenant: str | None = None
    tenants: list[str] | None = None
    reviewer: str | None = None


SortOrder = Literal["risk", "age", "deadline"]


class DayCount(BaseModel):
    day: str  # YYYY-MM-DD, UTC
    count: int


class ReviewerRate(BaseModel):
    reviewer: str
    decisions: int  # in the window
    last_hour: int  # decisions in the last hour
    per_hour: float  # decisions / hours with at least one decision (the pace while working)


class HourCount(BaseModel):
    hour: str  # "YYYY-MM-DD HH:00", UTC
    counts: dict[str, int]  # reviewer -> decisions in that hour


class PolicyShare(BaseModel):
    policy: str
    approved: int
    edited: int
    rejected: int

    @property
    def total(self) -> int:
        return self.approved + self.edited + self.rejected

    def share(self, status: str) -> float:
        return getattr(self, status) / self.total if self.total else 0.0


class Stats(BaseModel):
    depth: int  # pending + claimed
    pending: int
    claimed: int
    oldest_pending_age_s: float | None
    deadlines_missed: int  # items that expired before anyone decided
    decided_total: int
    decisions_per_day: list[DayCount]  # the last `days` days, oldest first, zeros included
    # items that went past their deadline in the window: expired by the sweep, or open and due
    past_deadline: int = 0
    time_to_decision_p50_s: float | None = None  # created -> decided, decisions in the window
    time_to_decision_p95_s: float | None = None
    per_reviewer: list[ReviewerRate] = Field(default_factory=list)  # most decisions first
    per_reviewer_hour: list[HourCount] = Field(default_factory=list)  # the last 12 hours, newest first
    per_policy: list[PolicyShare] = Field(default_factory=list)  # by policy name


def question_of(request: dict[str, Any]) -> str:
    for message in reversed(request.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def content_text(content: Any) -> str:
    """OpenAI content is a string or a list of parts; keep only the text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return "\n".join(parts)
    return ""

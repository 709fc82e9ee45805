"""Pending items that are the same decision: identical groups, and near-duplicates to confirm.

A model asked the same question many times gives the same (or nearly the same) answer many
times; a reviewer should decide that once. Two pending items are *identical* when they have
the same policy and the same normalised question and answer; they are *near-duplicates* when
the policy and normalised question are the same and the answers are similar (a character-level
similarity at least ``NEAR``). Identical items are decided together by default; near-duplicates
are offered, unticked, for the reviewer to add. Pure functions over ``Item``s.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from guard.review.models import Item
from review_queue.explain import normalise

NEAR = 0.85


def key(item: Item) -> tuple[str, str, str]:
    return (item.policy, normalise(item.question), normalise(item.answer))


def similarity(a: str, b: str) -> float:
    """Character-level (Chinese has no spaces to split words at), on the normalised answers."""
    x, y = normalise(a), normalise(b)
    if not x and not y:
        return 1.0
    return difflib.SequenceMatcher(None, x, y, autojunk=False).ratio()


@dataclass
class Group:
    leader: Item
    members: list[Item] = field(default_factory=list)  # identical to the leader, leader excluded
    similar: int = 0  # other rows with near-duplicate answers (offered on the item page)

    @property
    def count(self) -> int:
        return 1 + len(self.members)


def groupable(item: Item) -> bool:
    return item.status == "pending"


def group_rows(items: list[Item]) -> list[Group]:
    """The queue's rows: identical pending items folded into the first (in the queue's order)."""
    rows: list[Group] = []
    leaders: dict[tuple[str, str, str], Group] = {}
    for item in items:
        k = key(item)
        if groupable(item) and k in leaders:
            leaders[k].members.append(item)
            continue
        group = Group(item)
        rows.append(group)
        if groupable(item):
            leaders[k] = group
    for row in rows:
        if groupable(row.leader):
            _, near = siblings(row.leader, [r.leader for r in rows])
            row.similar = len(near)
    return rows


def siblings(item: Item, candidates: list[Item]) -> tuple[list[Item], list[Item]]:
    """(identical, near-duplicate) pending items of ``item`` among ``candidates`` (``item`` excluded)."""
    k = key(item)
    same, near = [], []
    for other in candidates:
        if other.id == item.id or not groupable(other) or other.policy != item.policy:
            continue
        ok = key(other)
        if ok == k:
            same.append(other)
        elif ok[1] == k[1] and similarity(other.answer, item.answer) >= NEAR:
            near.append(other)
    return same, near

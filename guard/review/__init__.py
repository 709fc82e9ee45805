"""The human review queue's store: held answers, leases, decisions, audit trail, webhooks."""

from guard.review.errors import LeaseNotHeld, ReviewNotFound
from guard.review.models import Event, Item, ItemFilter, NewItem, Stats
from guard.review.store import ReviewStore, open_store

__all__ = [
    "Event",
    "Item",
    "ItemFilter",
    "LeaseNotHeld",
    "NewItem",
    "ReviewNotFound",
    "ReviewStore",
    "Stats",
    "open_store",
]

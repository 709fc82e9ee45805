"""Review-queue errors, as members of guard's one exception hierarchy."""

from __future__ import annotations

from guard.errors import GuardError, NotFound


class ReviewNotFound(NotFound):
    code = "review_not_found"


class LeaseNotHeld(GuardError):
    """Only the reviewer holding a live lease on an item may decide it (or release it)."""

    status = 409
    type = "invalid_request_error"
    code = "lease_not_held"

"""A circuit breaker per backend: stop sending requests to a backend that keeps failing.

Without it, every request to a dead backend waits for a connect timeout (or a retry loop)
before it fails, and the backend gets hammered as it tries to come back. After ``failures``
consecutive failures the breaker opens: requests fail at once (or go to a fallback) for
``cooldown_s``. Then it is half-open: exactly one trial request goes through; its success
closes the breaker, its failure opens it for another cool-down.

Only failures that say the backend is unwell count (``BackendError``, ``BackendTimeout``);
a 400 or a 429 means the backend is alive. The breaker is in-process state, so each replica
learns a backend's health on its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

State = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class BreakerStatus:
    state: State
    failures: int  # consecutive failures so far
    retry_in_s: float  # seconds until a trial request is allowed (0 unless open)


class CircuitBreaker:
    def __init__(self, failures: int = 5, cooldown_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = failures
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    def status(self) -> BreakerStatus:
        if self._opened_at is None:
            return BreakerStatus("closed", self._failures, 0.0)
        left = self._opened_at + self.cooldown_s - self._clock()
        if left > 0:
            return BreakerStatus("open", self._failures, left)
        return BreakerStatus("half_open", self._failures, 0.0)

    def allow(self) -> bool:
        """May a request go to the backend now? In half-open state only one trial may."""
        state = self.status().state
        if state == "closed":
            return True
        if state == "half_open" and not self._trial_running:
            self._trial_running = True
            return True
        return False

    def success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_running = False

    def failure(self) -> None:
        self._failures += 1
        if self._opened_at is None:
            if self._failures >= self.threshold:
                self._opened_at = self._clock()
        elif self._trial_running:
            self._opened_at = self._clock()  # the trial failed: another cool-down
        # else: a request sent before the breaker opened, failing late; it changes nothing
        self._trial_running = False

    def abandon(self) -> None:
        """The trial ended with neither verdict (the client went away): let another try."""
        self._trial_running = False

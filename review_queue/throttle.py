"""Failed log-ins, counted per client address and per user name, with exponential back-off.

bcrypt is slow on purpose, so every guess costs the server a CPU core for tens of milliseconds.
Without a limit, a few clients posting wrong passwords keep that core busy (and once made the
whole proxy stall); with one, a guesser gets ``free`` tries, then waits 1 s, 2 s, 4 s... (to
``max_lock_s``) between tries, and a locked-out try is answered at once without hashing.

Counting per user name as well as per address stops one account being guessed from many
addresses; the price is that anyone can slow a reviewer's log-ins by failing on purpose (the
lock is a back-off, never a permanent lock-out, and a successful log-in clears it). The state is
in this process: with N replicas a guesser gets N times the tries (docs/security.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0
    locked_until: float = 0.0


class LoginThrottle:
    def __init__(
        self,
        *,
        free_per_user: int = 5,
        free_per_address: int = 20,
        base_lock_s: float = 1.0,
        max_lock_s: float = 900.0,
        forget_after_s: float = 900.0,
        max_entries: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free = {"user": free_per_user, "addr": free_per_address}
        self.base_lock_s = base_lock_s
        self.max_lock_s = max_lock_s
        self.forget_after_s = forget_after_s
        self.max_entries = max_entries
        self._clock = clock
        self._state: dict[tuple[str, str], _Failures] = {}

    @staticmethod
    def _keys(address: str, username: str) -> list[tuple[str, str]]:
        return [("addr", address), ("user", username.strip().casefold())]

    def retry_after(self, address: str, username: str) -> float:
        """Seconds until this address may try this user name again; 0 when it may now."""
        now = self._clock()
        wait = 0.0
        for key in self._keys(address, username):
            f = self._state.get(key)
            if f is not None:
                wait = max(wait, f.locked_until - now)
        return max(0.0, wait)

    def failed(self, address: str, username: str) -> None:
        now = self._clock()
        if len(self._state) >= self.max_entries:
            self._forget(now)
        for key in self._keys(address, username):
            f = self._state.get(key)
            if f is None or now - f.last > self.forget_after_s:
                f = self._state[key] = _Failures()
            f.count += 1
            f.last = now
            over = f.count - self.free[key[0]]
            if over >= 0:
                f.locked_until = now + min(self.max_lock_s, self.base_lock_s * 2 ** min(over, 30))

    def succeeded(self, address: str, username: str) -> None:
        for key in self._keys(address, username):
            self._state.pop(key, None)

    def _forget(self, now: float) -> None:
        """Drop stale entries; if all are fresh (a flood of new names), drop the oldest half."""
        stale = [k for k, f in self._state.items() if now - f.last > self.forget_after_s and f.locked_until <= now]
        for k in stale:
            del self._state[k]
        if len(self._state) >= self.max_entries:
            oldest = sorted(self._state, key=lambda k: self._state[k].last)[: len(self._state) // 2]
            for k in oldest:
                del self._state[k]

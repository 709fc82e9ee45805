"""Reviewer accounts, signed session cookies and CSRF tokens.

The cookie is signed with itsdangerous, HttpOnly and SameSite=Lax. Every session, even before
log-in, carries a random CSRF token that each form posts back; log-in replaces the token so one
planted before log-in is worthless. A logged-in cookie also names a server-side session
(``guard.review.sessions``), so log-out and the idle timeout end it for every copy of the cookie.

Passwords are checked with bcrypt in a small thread pool of their own (never on the event loop,
never in the pool the store uses), and a wrong user name costs one bcrypt check of the same
cost as a real one, so the answer time does not tell which names exist.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import bcrypt
import structlog
from itsdangerous import BadSignature, URLSafeTimedSerializer

from guard.settings import Reviewer, ReviewConfig

log = structlog.get_logger()

COOKIE = "guard_review_session"
MAX_AGE_S = 12 * 3600
_COST = re.compile(r"^\$2[abxy]?\$(\d\d)\$")


def hash_password(password: str, rounds: int = 12) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()


def check_password(password: str, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode(), hashed.encode())
    except ValueError:  # a malformed hash in the configuration
        return False


def hash_cost(hashed: str) -> int | None:
    """bcrypt's cost factor, read from a hash (``$2b$12$...`` is 12)."""
    m = _COST.match(hashed)
    return int(m.group(1)) if m else None


def dummy_hash(reviewers: list[Reviewer]) -> str:
    """A hash to check when the user name is unknown, as costly as the costliest real one."""
    costs = [c for c in (hash_cost(r.password_hash) for r in reviewers) if c is not None]
    return hash_password(secrets.token_urlsafe(16), rounds=max(costs, default=12))


@dataclass(frozen=True)
class Session:
    csrf: str
    user: str | None = None
    issued: float = 0.0
    sid: str | None = None  # the server-side session of a logged-in cookie


class LoginBusy(Exception):
    """More log-ins are being checked than the hashing pool will queue: answered 429 at once."""


class PasswordChecker:
    """bcrypt in a pool of its own, with a bounded queue and a CPU budget.

    One worker, busy at most ``duty`` of the time: after each check it rests as long again
    (duty 0.5), so a flood of guesses, from however many addresses, costs at most half a core
    and chat requests and the store keep the rest. Past ``max_waiting`` queued checks a new one
    is refused instead of queued, so a flood cannot build a backlog of minutes. A reviewer
    logging in meets the rest only during a flood.
    """

    def __init__(self, workers: int = 1, max_waiting: int = 8, duty: float = 0.5) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="guard-bcrypt")
        self._limit = workers + max_waiting
        self._pending = 0
        self._rest = max(0.0, 1.0 / duty - 1.0) if duty > 0 else 0.0
        self._free_at = 0.0  # when the worker has rested enough for its last check

    def _check(self, password: str, hashed: str) -> bool:
        """In the worker: rest first if the last check was recent, so its answer was not delayed."""
        wait = self._free_at - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        started = time.monotonic()
        try:
            return check_password(password, hashed)
        finally:
            ended = time.monotonic()
            self._free_at = ended + (ended - started) * self._rest

    async def check(self, password: str, hashed: str) -> bool:
        if self._pending >= self._limit:
            raise LoginBusy()
        self._pending += 1
        work = self._pool.submit(self._check, password, hashed)
        try:
            return await asyncio.wrap_future(work)
        finally:
            self._pending -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class Accounts:
    def __init__(self, reviewers: list[Reviewer], checker: PasswordChecker | None = None) -> None:
        self._by_name = {r.username: r for r in reviewers}
        self._dummy = dummy_hash(reviewers)
        self.checker = checker or PasswordChecker()

    def get(self, username: str | None) -> Reviewer | None:
        return self._by_name.get(username) if username else None

    async def authenticate(self, username: str, password: str) -> Reviewer | None:
        """The reviewer, when the password is right; one bcrypt check either way (``LoginBusy``
        when the hashing pool is full)."""
        reviewer = self._by_name.get(username)
        ok = await self.checker.check(password, reviewer.password_hash if reviewer else self._dummy)
        return reviewer if ok and reviewer else None

    def sample_password_users(self) -> list[str]:
        """Reviewers whose password is still the sample ``change-me`` (checked once, at start)."""
        return sample_password_users(list(self._by_name.values()))


SAMPLE_PASSWORD = "change-me"
# The hash shipped in the sample guard.yaml: recognised without hashing.
SAMPLE_HASHES = frozenset({"$2b$10$RfslMEEKCJhVmjLY9RXTvu5qrRZ0k6f.Yfs269qIIwtltsXfFiPDG"})
# Beyond this many reviewers only the shipped hash is recognised: each bcrypt check costs up to
# half a second, and start-up should not take minutes.
SAMPLE_CHECK_MAX = 10


def sample_password_users(reviewers: list[Reviewer]) -> list[str]:
    """The reviewers whose password is the sample ``change-me``."""
    if len(reviewers) > SAMPLE_CHECK_MAX:
        return [r.username for r in reviewers if r.password_hash in SAMPLE_HASHES]
    return [r.username for r in reviewers if r.password_hash in SAMPLE_HASHES or check_password(SAMPLE_PASSWORD, r.password_hash)]


def tenant_scope(reviewer: Reviewer) -> list[str] | None:
    """The tenants a reviewer may see, for the store's filters; None means every tenant."""
    return None if "*" in reviewer.tenants else list(reviewer.tenants)


def may_see(reviewer: Reviewer, tenant: str) -> bool:
    return "*" in reviewer.tenants or tenant in reviewer.tenants


class Sessions:
    def __init__(self, secret: str, max_age_s: int = MAX_AGE_S) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="guard-review-session")
        self.max_age_s = max_age_s

    def load(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=self.max_age_s)
            return Session(csrf=str(data["c"]), user=data.get("u"), issued=float(data.get("i", 0)), sid=data.get("s"))
        except (BadSignature, KeyError, TypeError, ValueError):
            return None

    def dump(self, session: Session) -> str:
        return self._serializer.dumps({"c": session.csrf, "u": session.user, "i": session.issued, "s": session.sid})


def new_session(user: str | None = None, sid: str | None = None) -> Session:
    return Session(csrf=secrets.token_urlsafe(32), user=user, issued=time.time(), sid=sid)


def csrf_ok(session: Session | None, token: str | None) -> bool:
    return bool(session and token) and hmac.compare_digest(session.csrf, token or "")


def session_secret(config: ReviewConfig) -> str:
    """The signing key from the configured env var; without one, a random key (sessions end on restart)."""
    if config.session_secret_env:
        secret = os.environ.get(config.session_secret_env)
        if secret:
            return secret
        log.warning("review.session_secret_missing", env=config.session_secret_env)
    else:
        log.warning(
            "review.session_secret_random",
            message="review.session_secret_env is not set: a random per-process secret is used, so sessions "
            "do not survive a restart and are not shared between replicas",
        )
    return secrets.token_urlsafe(48)

"""Reviewer accounts, signed session cookies and CSRF tokens.

The session lives entirely in a cookie signed with itsdangerous (nothing to store server-side),
HttpOnly and SameSite=Lax. Every session, even before log-in, carries a random CSRF token that
each form posts back; log-in replaces the token so one planted before log-in is worthless.
"""

from __future__ import annotations

import hmac
import os
import secrets
import time
from dataclasses import dataclass

import bcrypt
import structlog
from itsdangerous import BadSignature, URLSafeTimedSerializer

from guard.settings import Reviewer, ReviewConfig

log = structlog.get_logger()

COOKIE = "guard_review_session"
MAX_AGE_S = 12 * 3600
# Checked when the user name is unknown, so a failed log-in takes as long either way.
_DUMMY_HASH = bcrypt.hashpw(b"not a password", bcrypt.gensalt(rounds=4))


def hash_password(password: str, rounds: int = 12) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()


def check_password(password: str, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode(), hashed.encode())
    except ValueError:  # a malformed hash in the configuration
        return False


@dataclass(frozen=True)
class Session:
    csrf: str
    user: str | None = None
    issued: float = 0.0


class Accounts:
    def __init__(self, reviewers: list[Reviewer]) -> None:
        self._by_name = {r.username: r for r in reviewers}

    def get(self, username: str | None) -> Reviewer | None:
        return self._by_name.get(username) if username else None

    def authenticate(self, username: str, password: str) -> Reviewer | None:
        reviewer = self._by_name.get(username)
        ok = check_password(password, reviewer.password_hash if reviewer else _DUMMY_HASH.decode())
        return reviewer if ok and reviewer else None


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
            return Session(csrf=str(data["c"]), user=data.get("u"), issued=float(data.get("i", 0)))
        except (BadSignature, KeyError, TypeError, ValueError):
            return None

    def dump(self, session: Session) -> str:
        return self._serializer.dumps({"c": session.csrf, "u": session.user, "i": session.issued})


def new_session(user: str | None = None) -> Session:
    return Session(csrf=secrets.token_urlsafe(32), user=user, issued=time.time())


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

"""Where Redis is and how to log in, from the ``limits.store_url`` the operator wrote.

Parsed when the settings load, so an option guard's client (``guard.resp``) cannot honour
fails at start-up with the setting's name instead of being silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
import re
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass(frozen=True)
class Address:
    """Where Redis listens and how to log in, from ``redis://``, ``rediss://`` or ``unix://``."""

    host: str = "127.0.0.1"
    port: int = 6379
    path: str | None = None  # a unix socket instead of host and port
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False


def parse_url(url: str) -> Address:
    """``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` (TLS, certificates verified)
    or ``unix:///path.sock[?db=N&password=P]``. Raises ``ValueError`` on anything else, so a
    misspelt option fails at start-up instead of being ignored."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ValueError(f"not a Redis URL (redis://, rediss:// or unix://): {parts.scheme}://...")
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = sorted(set(query) - {"db", "password"})
    if unknown:
        raise ValueError(f"unsupported option(s) {unknown} in the Redis URL (supported: db, password)")
    password = unquote(parts.password) if parts.password is not None else query.get("password")
    username = unquote(parts.username) if parts.username else None
    db_text = query.get("db") or (parts.path.strip("/") if parts.scheme != "unix" else "") or "0"
    if not db_text.isdigit():
        raise ValueError(f"the Redis database must be a number, not {db_text!r}")
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError("a unix:// Redis URL needs the socket's path: unix:///run/redis.sock")
        return Address(path=parts.path, db=int(db_text), username=username, password=password)
    return Address(
        host=parts.hostname or "127.0.0.1", port=parts.port or 6379, db=int(db_text),
        username=username, password=password, tls=parts.scheme == "rediss",
    )


def redacted(url: str) -> str:
    """The URL with its password (in the user part or ``?password=``) replaced by ``***``, for
    logs and error messages."""
    url = re.sub(r"(?<=://)([^/@]*)@", lambda m: ("***" if ":" not in m.group(1) else m.group(1).split(":", 1)[0] + ":***") + "@", url, count=1)
    return re.sub(r"(?<=[?&]password=)[^&]*", "***", url)

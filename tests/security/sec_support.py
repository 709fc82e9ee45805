"""Helpers for the attack tests: a real guard on loopback, run the way ``guard serve`` runs it.

``serve_guard`` uses ``guard.commands.serve.uvicorn_options`` (the header deadline protocol,
forwarded-header trust) rather than uvicorn's defaults, so the tests attack what ships.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import bcrypt
import httpx

from guard.settings import Settings, hash_key
from tests.support import serve_app, write_policies

KEY_A, KEY_B = "key-alpha", "key-bravo"
USER, PASSWORD = "rita", "rita-password"


def fast_hash(password: str, rounds: int = 4) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()


def settings(backend_url: str, tmp_path: Path, *, policy: dict[str, Any] | None = None, reviewers: list[dict] | None = None,
             review: dict[str, Any] | None = None, keys: bool = False, **sections: Any) -> Settings:
    """One model ``test-model``, a SQLite review queue in ``tmp_path``, and what the test adds."""
    policies = write_policies(tmp_path / "policies", policy or {"name": "default"})
    data: dict[str, Any] = {
        "models": [{"name": "test-model", "backend": {"kind": "openai", "model": "upstream-model", "api_base": backend_url, "retries": 0}}],
        "policies_dir": str(policies),
        "review": {
            "store_url": f"sqlite:///{tmp_path / 'queue.sqlite3'}",
            "reviewers": reviewers if reviewers is not None else [{"username": USER, "password_hash": fast_hash(PASSWORD)}],
            **(review or {}),
        },
    }
    if keys:
        data["auth"] = {"mode": "keys", "keys": [{"hash": hash_key(KEY_A), "tenant": "t1"}, {"hash": hash_key(KEY_B), "tenant": "t1"}]}
    data.update(sections)
    return Settings.model_validate(data)


@contextmanager
def serve_guard(s: Settings, **app_options: Any) -> Iterator[tuple[str, Any]]:
    """guard on 127.0.0.1:<free port>; yields (``http://127.0.0.1:PORT``, the app)."""
    from guard.api.app import create_app

    app = create_app(s, **app_options)
    try:
        from guard.commands.serve import uvicorn_options
    except ImportError:  # before issue 12: uvicorn's defaults (for showing that the tests fail there)
        options: dict[str, Any] = {}
    else:
        options = uvicorn_options(s)
    with serve_app(app, **options) as base:
        yield base, app


def review_web(app: Any) -> Any:
    """The mounted reviewer app's ``ReviewWeb`` (its throttle, accounts, sessions)."""
    for route in app.routes:
        if getattr(route, "path", None) == "/review":
            return route.app.state.review_web
    raise LookupError("no reviewer app mounted")


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field in the page"
    return match.group(1)


def login_form(client: httpx.Client, base: str) -> str:
    """Open the log-in page (which sets the session cookie); its CSRF token."""
    r = client.get(f"{base}/review/login")
    assert r.status_code == 200, r.text
    return csrf_of(r.text)


def post_login(client: httpx.Client, base: str, token: str, user: str = USER, password: str = PASSWORD) -> httpx.Response:
    return client.post(f"{base}/review/login", data={"username": user, "password": password, "csrf": token}, follow_redirects=False)


def chat(base: str, key: str | None = None, timeout: float = 10, **body: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    payload = {"model": "test-model", "messages": [{"role": "user", "content": "Hello?"}], **body}
    return httpx.post(f"{base}/v1/chat/completions", json=payload, headers=headers, timeout=timeout)


def attack_logins(base: str, clients: int, seconds: float, results: Any) -> None:
    """In a process of its own: ``clients`` guessers posting wrong passwords to /review/login,
    each waiting for its answer before the next, for ``seconds``; puts the statuses counted."""
    import asyncio
    import collections

    async def guesser(i: int, client: httpx.AsyncClient, token: str, until: float, counts: collections.Counter) -> None:
        n = 0
        while time.monotonic() < until:
            user = USER if i % 2 == 0 else f"guess-{i}-{n}"  # half guess a real name, half probe names
            r = await client.post(f"{base}/review/login", data={"username": user, "password": f"wrong-{n}", "csrf": token})
            counts[r.status_code] += 1
            n += 1

    async def main() -> dict[int, int]:
        counts: collections.Counter = collections.Counter()
        # made before the clock starts: an httpx client costs a few hundred ms of CPU to build
        guessers = [httpx.AsyncClient(timeout=30, verify=False) for _ in range(clients)]
        tokens = [csrf_of((await c.get(f"{base}/review/login")).text) for c in guessers]
        until = time.monotonic() + seconds
        results.put("posting")
        await asyncio.gather(*(guesser(i, c, t, until, counts) for i, (c, t) in enumerate(zip(guessers, tokens))))
        for c in guessers:
            await c.aclose()
        return dict(counts)

    results.put(asyncio.run(main()))

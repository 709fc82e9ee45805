"""Shared helpers for the review tests: store URLs for both backends, and process workers.

Workers live here (a plain module, not a test file) so multiprocessing's spawn start method can
import them in a child process.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def run(coro):
    """A store call from a synchronous test."""
    return asyncio.run(coro)


def pg_unreachable_reason() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=2):
            return None
    except Exception as e:  # any failure to connect means: skip, and say why
        return f"PostgreSQL at 127.0.0.1:5432 db test is unreachable: {e!r}"


def store_urls(backend: str, tmp_path: Path) -> Iterator[str]:
    """Yield a fresh store URL; for PostgreSQL a unique schema, dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'review.sqlite3'}"
        return
    import psycopg

    schema = f"guard_review_test_{uuid.uuid4().hex[:12]}"
    try:
        yield f"{PG_URL}?schema={schema}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def new_item(**overrides):
    from guard.review import NewItem

    fields = dict(
        policy="support",
        tenant="acme",
        model="chat",
        key_id="sha256:" + "a" * 64,
        request={"messages": [{"role": "user", "content": "How many GPUs?"}], "temperature": 0.2},
        answer="It uses 670B GPUs. The sky is green.",
        annotation={"sentences": []},
        reasons=["low confidence"],
        confidence=0.3,
        deadline_s=3600,
        fallback_answer="Sorry, no reliable answer.",
    )
    fields.update(overrides)
    return NewItem(**fields)


def race_worker(url: str, name: str, jobs, results, barrier) -> None:
    """Claim every item id received, all at the same moment as the other worker."""
    from guard.review import open_store

    store = open_store(url)
    asyncio.run(store.get("warm-up"))  # connect before the first race, not during it
    while True:
        item_id = jobs.get()
        if item_id is None:
            break
        barrier.wait()
        won = asyncio.run(store.claim(item_id, name, 60))
        results.put((item_id, name, won))
    store.close()


def decide_later(url: str, item_id: str, delay_s: float) -> None:
    """Another process's reviewer: claim and edit after a pause."""
    from guard.review import open_store

    store = open_store(url)
    time.sleep(delay_s)

    async def act() -> None:
        assert await store.claim(item_id, "remote", 60)
        await store.decide(item_id, "remote", "edit", final_answer="edited elsewhere")

    asyncio.run(act())
    store.close()


def open_and_report(url: str, barrier, results) -> None:
    """A replica starting up: wait for the other, then open (and migrate) the store."""
    from guard.review import open_store

    barrier.wait()
    try:
        open_store(url).close()
        results.put("ok")
    except Exception as e:  # reported to the parent, which fails the test with it
        results.put(repr(e))


CHROMIUM = "/usr/bin/chromium"  # Debian's package (scripts/setup --test installs it)


@contextmanager
def chromium() -> Iterator[Any]:
    """One headless Chromium, for a module's browser tests (starting one costs seconds)."""
    import pytest

    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        try:
            yield b
        finally:
            b.close()

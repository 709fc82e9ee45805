"""Ways to run the fake backend: a background thread, the current event loop, or a process.

The thread variant is what most tests want: the backend gets its own event loop, so a test's
synchronous client (or an app under test on another loop) never blocks it.

    with run_fake_backend(ttft_ms=50, tokens=8) as fb:
        client = OpenAI(base_url=fb.base_url, api_key="x")
        ...
        assert fb.requests[-1].body["model"] == "m"
        fb.set(fault="drop")
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from aiohttp import web

from guard.testing.fake_backend import FakeBackend, RecordedRequest
from guard.testing.fake_config import FakeConfig
from guard.testing.serving import new_event_loop, start_site

class FakeBackendHandle:
    """A started fake backend: where it listens, and its in-process controls."""

    def __init__(self, backend: FakeBackend, host: str, port: int) -> None:
        self.backend = backend
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What an OpenAI client takes as base_url."""
        return f"{self.url}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.backend.requests

    @property
    def config(self) -> FakeConfig:
        return self.backend.config

    def set(self, **overrides: Any) -> FakeConfig:
        return self.backend.set(**overrides)

    def reset(self, **options: Any) -> None:
        self.backend.reset(FakeConfig(**options))

    def clear(self) -> None:
        self.backend.clear()


class ThreadedFakeBackend(FakeBackendHandle):
    """The backend on its own event loop in a daemon thread."""

    def __init__(self, backend: FakeBackend, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(backend, host, port)
        self._loop = new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._run, name="fake-backend", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> ThreadedFakeBackend:
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise RuntimeError("fake backend failed to start") from self._error
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
            self._runner = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._runner, self.port = self._loop.run_until_complete(start_site(self.backend, self.host, self.port))
        except BaseException as e:  # reported to start() in the caller's thread
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()


@contextmanager
def run_fake_backend(
    config: FakeConfig | None = None, *, host: str = "127.0.0.1", port: int = 0, max_records: int = 10_000,
    **options: Any,
) -> Iterator[ThreadedFakeBackend]:
    """A fake backend on a free loopback port in a background thread, stopped on exit.

    ``options`` are FakeConfig fields (ttft_ms, tokens, fault, ...), applied over ``config``.
    """
    base = config or FakeConfig()
    backend = FakeBackend(FakeConfig.model_validate({**base.model_dump(), **options}), max_records=max_records)
    handle = ThreadedFakeBackend(backend, host, port).start()
    try:
        yield handle
    finally:
        handle.stop()


@asynccontextmanager
async def serve_fake_backend(
    config: FakeConfig | None = None, *, host: str = "127.0.0.1", port: int = 0, **options: Any
) -> AsyncIterator[FakeBackendHandle]:
    """The same backend on the running event loop, for async tests that prefer one loop."""
    base = config or FakeConfig()
    backend = FakeBackend(FakeConfig.model_validate({**base.model_dump(), **options}))
    runner, bound = await start_site(backend, host, port)
    try:
        yield FakeBackendHandle(backend, host, bound)
    finally:
        await runner.cleanup()

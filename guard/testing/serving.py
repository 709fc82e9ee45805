"""Serving an aiohttp app of the testing package on loopback: the pieces every runner shares.

Below both the fake backend (whose ``python -m`` entry point serves forever) and the runners in
``fake_runner`` (thread, current loop), so neither imports the other's module to start a server.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Protocol

from aiohttp import web


class Servable(Protocol):
    def app(self) -> web.Application: ...


# Hanging handlers (fault=hang) must not hold shutdown for aiohttp's default 60 s.
SHUTDOWN_TIMEOUT_S = 0.5


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


async def start_site(backend: Servable, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, int]:
    """Listen on ``host:port`` (0 picks a free port); returns the runner and the bound port."""
    runner = web.AppRunner(
        backend.app(), access_log=None, handler_cancellation=True, shutdown_timeout=SHUTDOWN_TIMEOUT_S
    )
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner, int(runner.addresses[0][1])


def serve_forever(backend: Servable, host: str, port: int) -> None:
    """Run until SIGINT/SIGTERM; prints the base URL once listening so a parent can wait for it."""
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    runner, bound = loop.run_until_complete(start_site(backend, host, port))
    print(f"fake backend listening on http://{host}:{bound}/v1", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        loop.run_until_complete(stop.wait())
    finally:
        loop.run_until_complete(runner.cleanup())
        loop.close()

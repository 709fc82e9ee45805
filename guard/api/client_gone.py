"""Stop the backend call when the client leaves before its answer is ready.

A non-stream request (and a stream in ``buffer`` mode, which reads the whole answer before its
first byte) waits for the backend with nothing to send; uvicorn does not cancel the request
when the client hangs up, so the backend kept generating an answer nobody would read, holding
a GPU slot and a key's concurrency slot. ``unless_client_leaves`` runs that wait beside a watch
on the connection and cancels it at the disconnect, which closes the backend request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import structlog
from starlette.types import Receive

from guard.errors import GuardError

log = structlog.get_logger()
T = TypeVar("T")


class ClientGone(GuardError):
    """The client disconnected before the answer (nginx's 499; nobody receives it)."""

    status = 499
    type = "invalid_request_error"
    code = "client_disconnected"


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def unless_client_leaves(receive: Receive, work: Awaitable[T]) -> T:
    """``await work``, cancelled if the client disconnects first (then ``ClientGone``).

    Call it only once the request body has been read: the watch takes the messages ``receive``
    hands out, and after the body the only one left is the disconnect.
    """
    task = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait((task, watch), return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        watch.cancel()
    if task.done():
        return task.result()
    task.cancel()
    try:
        await task
    except (asyncio.CancelledError, Exception):  # noqa: BLE001 - nobody is left to tell
        pass
    log.info("client_disconnected", stage="waiting for the backend")
    raise ClientGone("the client disconnected before the answer was ready")

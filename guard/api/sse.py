"""The response of a streamed completion: SSE bytes to the client, cut short if it leaves.

Starlette's ``StreamingResponse`` runs the body in a new task inside an anyio task group and
listens for the disconnect beside it. This does the same job for less: the body is sent from
the request's own task (so the first event leaves without waiting for another turn of a busy
loop), one plain task watches for the disconnect and cancels the request task, which closes
the backend request through the event generators. A chunk marked ``LastBytes`` goes out with
the end of the chunked body, saving the separate write of the terminator.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from guard.streaming import LastBytes


class EventStream(Response):
    media_type = "text/event-stream"

    def __init__(self, events: AsyncIterator[bytes], headers: Mapping[str, str]) -> None:
        self.events = events
        self.status_code = 200
        self.background = None
        self.complete = False  # the end of the body was sent: a disconnect now cancels nothing
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        watcher = asyncio.ensure_future(self._cancel_on_disconnect(receive, task))
        try:
            await self._send_events(send)
        except asyncio.CancelledError:
            if not _client_left(watcher):
                raise  # cancelled by someone else (the server stopping): not ours to swallow
            uncancel = getattr(task, "uncancel", None)  # Python 3.11+
            if uncancel is not None:
                uncancel()
        finally:
            watcher.cancel()

    async def _send_events(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        async for data in self.events:
            if isinstance(data, LastBytes):
                self.complete = True
                await send({"type": "http.response.body", "body": bytes(data), "more_body": False})
                await anext(self.events, None)  # let the generator finish (its log line, its clean-up)
                return
            await send({"type": "http.response.body", "body": data, "more_body": True})
        self.complete = True
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _cancel_on_disconnect(self, receive: Receive, task: asyncio.Task) -> bool:
        """True when the client left before the end and the request task was cancelled for it."""
        while (await receive())["type"] != "http.disconnect":
            pass
        if self.complete:
            return False
        task.cancel()
        return True


def _client_left(watcher: asyncio.Future) -> bool:
    return watcher.done() and not watcher.cancelled() and watcher.exception() is None and watcher.result()

"""The policy-only stream: backend events to the client with as little work as possible.

With no output checks guard has four jobs on a stream: show the public model name, move
reasoning to ``reasoning_content`` (or strip it), add usage when the client asked for it and
the backend sends none, and turn a failure into an error event. Past the first few events most
events need none of that, so their bytes go out as the backend sent them: no re-encoding, and
a model name that differs is swapped as bytes. Events are still parsed and shape-checked where
they enter (``guard.backend.relay``): the stream's finish, usage and metrics come from them.

Events that arrived in one socket read leave in one write (the role chunk with the first
token, the finish with usage and ``[DONE]``): a loopback write costs more than everything else
guard does for an event. Nothing waits for more data: a batch is sent as soon as it is read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson

from guard.backend.base import Batch
from guard.errors import GuardError
from guard.responses import chunk
from guard.streaming import DONE, LastBytes, _Reasoning, counted_usage, error_event, estimated_usage, sse, wants_usage

if TYPE_CHECKING:
    from guard.metrics import StreamMeter
    from guard.calls import Call
    from guard.pipeline import Pipeline


async def open_relay(pipeline: "Pipeline", call: "Call") -> tuple[dict[str, str], AsyncIterator[bytes]]:
    """Start the backend stream; errors before the first event raise (a normal error response)."""
    first, batches, _ = await pipeline.rt.router.open_batches(
        call.model, call.endpoint, call.body, {"x-request-id": call.request_id}
    )
    head = first.events[0][1] if first.events else {}
    call.response_id = head.get("id") if isinstance(head.get("id"), str) else None
    reasoning = _Reasoning(call.endpoint, call.policy.reasoning.client == "keep", call.model.think_opened_in_prompt)
    relay = Relay(call, reasoning, pipeline.rt.metrics.stream_meter(call))
    return call.headers(), _run(pipeline, call, relay, first, batches)


def model_token(name: str) -> bytes:
    """How a compact JSON event spells its model field."""
    return b'"model":' + orjson.dumps(name)


class Relay:
    """One stream's state: reasoning split, counts for estimated usage, metrics, model rename."""

    __slots__ = ("call", "public", "reasoning", "meter", "template", "client_usage", "_public_token", "_renamed")

    def __init__(self, call: "Call", reasoning: _Reasoning, meter: "StreamMeter") -> None:
        self.call = call
        self.public = call.public_model
        self.reasoning = reasoning
        self.meter = meter
        self.template: dict[str, Any] = {}  # the first event: ids for a usage chunk of guard's own
        # guard asks the backend for usage on every stream (metrics, billing); a client that did
        # not ask gets none, as from OpenAI: no ``choices: []`` chunk it did not expect
        self.client_usage = wants_usage(call)
        self._public_token = model_token(self.public)
        self._renamed: tuple[str, bytes] = ("", b"")  # the backend's name and its token, once seen

    def encode(self, batch: Batch) -> bytes:
        """The SSE bytes for a batch's events, in one piece."""
        out = []
        for raw, event in batch.events:
            self.meter.event(event)
            self.template = self.template or event
            out.append(self._one(raw, event))
        return b"".join(out)

    def _one(self, raw: bytes | None, event: dict[str, Any]) -> bytes:
        if not self.client_usage and event.get("usage"):
            self.reasoning.usage_seen = True
            if not event.get("choices"):
                return b""
            del event["usage"]
            raw = None  # the usage rode on a chunk with a choice: re-encoded without it
        if raw is not None:
            renamed = self._named(raw, event.get("model"))
            if renamed is not None and self.reasoning.untouched(event):
                return b"data: " + renamed + b"\n\n"
        event["model"] = self.public
        self.reasoning.apply(event)
        return sse(event)

    def _named(self, raw: bytes, model: Any) -> bytes | None:
        """The payload with the public model name, or None when that takes re-encoding."""
        if model == self.public:
            return raw
        if not isinstance(model, str):
            return None  # no model field (guard adds one) or a strange one
        if self._renamed[0] != model:
            self._renamed = (model, model_token(model))
        token = self._renamed[1]
        if raw.count(token) != 1:
            return None  # spaced JSON, or the name also inside the text: re-encode
        return raw.replace(token, self._public_token)

    def owes_usage(self) -> bool:
        """The client asked for usage and the backend sent none: guard counts it."""
        return self.client_usage and not self.reasoning.usage_seen

    def tail(self, usage: dict[str, Any] | None = None) -> bytes:
        """What guard adds after the backend's last event: usage if owed, and ``[DONE]``."""
        if not self.owes_usage():
            return DONE
        usage = usage or estimated_usage(self.call, self.reasoning.pieces)
        return sse(chunk(self.call.endpoint, self.template, model=self.public, choices=[], usage=usage)) + DONE

    async def counted_tail(self, pipeline: "Pipeline") -> bytes:
        if not self.owes_usage():
            return DONE
        return self.tail(await counted_usage(pipeline, self.call, self.reasoning.pieces))


async def _run(pipeline: "Pipeline", call: "Call", relay: Relay, first: Batch, batches: AsyncIterator[Batch]) -> AsyncIterator[bytes]:
    status = 200
    try:
        batch: Batch | None = first
        while batch is not None:
            data = relay.encode(batch)
            if batch.done:
                yield LastBytes(data + await relay.counted_tail(pipeline))
                return
            if data:
                yield data
            batch = await anext(batches, None)
        yield LastBytes(await relay.counted_tail(pipeline))  # the backend closed after its finish without [DONE], or litellm ended
    except GuardError as e:
        status = e.status
        yield error_event(call, e)
    except (asyncio.CancelledError, GeneratorExit):
        status = 499  # the client went away; the backend request is closed below
        raise
    finally:
        relay.meter.finish()
        await batches.aclose()  # type: ignore[attr-defined]
        pipeline.log(call, status=status)

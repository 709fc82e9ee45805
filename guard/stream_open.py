"""Opening a client's stream: which of the streaming ways serves it, chosen once per request.

A policy with no output checks is relayed as the backend sends it (``stream_relay``); a checked
stream with several choices is buffered per choice (``stream_choices``); otherwise the policy's
``streaming.mode`` picks buffer, sentence or observe (``streaming``). This module sits above all
three, so none of them imports another to dispatch.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from guard.stream_choices import open_buffered_choices
from guard.stream_relay import open_relay
from guard.streaming import _buffer_events as buffer_events
from guard.streaming import _by_sentence as by_sentence
from guard.streaming import _chain as chain
from guard.streaming import _observe as observe
from guard.streaming import _Reasoning as Reasoning
from guard.streaming import _replay as replay

if TYPE_CHECKING:
    from guard.calls import Call
    from guard.pipeline import Pipeline


async def open_stream(pipeline: Pipeline, call: Call) -> tuple[dict[str, str], AsyncIterator[bytes]]:
    """Start the backend stream; errors before the first event raise (a normal error response)."""
    reused = await pipeline.reused(call)
    if reused is not None:
        headers = {**call.headers(), "x-guard-decision": "reused", "x-guard-confidence": "1.000"}
        return headers, replay(pipeline, call, {"first": {}, "finish_reason": "stop", "usage": None}, reused)
    if not call.policy.checks_enabled:
        return await open_relay(pipeline, call)
    router = pipeline.rt.router
    with call.trace.stage("guard.backend", **{"gen_ai.system": call.model.backend.kind, "guard.until": "first event"}):
        first, events, served_by = await router.open_stream(
            call.model, call.endpoint, call.body, {"x-request-id": call.request_id}
        )
    call.trace.first_token()
    headers = call.headers()
    call.response_id = first.get("id") if isinstance(first.get("id"), str) else None
    reasoning = Reasoning(call.endpoint, call.policy.reasoning.client == "keep", call.model.think_opened_in_prompt)
    source = chain(first, events, pipeline.rt.metrics.stream_meter(call))
    mode = call.policy.streaming.mode
    if mode == "buffer" and (call.body.get("n") or 1) > 1:
        return await open_buffered_choices(pipeline, call, headers, source, reasoning)
    if mode == "buffer":
        body = await buffer_events(call, source, reasoning)
        thought = "".join(reasoning.reasoning) or None
        verdict = await pipeline.judge(call, body["answer"], thought)
        headers["x-guard-decision"] = verdict.action
        headers["x-guard-confidence"] = f"{verdict.confidence:.3f}"
        return headers, replay(pipeline, call, body, verdict, verdict.reasoning if reasoning.keep else None)
    if mode == "sentence":
        return headers, by_sentence(pipeline, call, source, reasoning)
    return headers, observe(pipeline, call, source, reasoning)

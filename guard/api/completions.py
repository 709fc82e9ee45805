"""``POST /v1/chat/completions`` and ``POST /v1/completions``: hand the body to the pipeline."""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from guard.api.admission import Admitted
from guard.api.client_gone import unless_client_leaves
from guard.api.bodies import ChatRequest, CompletionRequest, read_json, validate
from guard.api.deps import CallerDep, RequestId, RuntimeDep
from guard.api.openapi import request_body
from guard.api.sse import EventStream
from guard.errors import BodyTooLarge, GuardError, InvalidRequest
from guard.responses import CHAT, COMPLETIONS
from guard.stream_open import open_stream
from guard.streaming import contained

router = APIRouter()

_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


async def handle(request: Request, runtime: RuntimeDep, caller: CallerDep, rid: str, endpoint: str) -> Response:
    """One completion request, from raw body to response (shared with ``guard.api.fastpath``)."""
    started = time.perf_counter()
    call = None
    try:
        body = await read_json(request, runtime.settings.limits.max_body_bytes)
        validate(ChatRequest if endpoint == CHAT else CompletionRequest, body)
        _check_limits(runtime, body)
        pipeline = request.app.state.pipeline
        prepared_from = time.time_ns()
        call = pipeline.prepare(caller, endpoint, body, rid)
        if runtime.telemetry.enabled:
            call.trace = start_trace(runtime, request, call, prepared_from)
        call.accept_language = request.headers.get("accept-language")
        if call.stream:  # buffer mode reads the whole answer in open_stream: the client may leave
            headers, events = await unless_client_leaves(request.receive, open_stream(pipeline, call))
            return EventStream(contained(call, events), {**_SSE_HEADERS, **headers})
        data, headers = await unless_client_leaves(request.receive, pipeline.complete(call))
    except GuardError as e:
        runtime.metrics.call_failed(call, e.status, started)
        if call is not None:
            call.trace.end(status=e.status, error=e.message)
        raise
    return Response(orjson.dumps(data), media_type="application/json", headers=headers)


def start_trace(runtime: RuntimeDep, request: Request, call: Any, prepared_from: int) -> Any:
    """The request's span (from before the policy stage, which is recorded as its first child)."""
    trace = runtime.telemetry.start(
        "chat" if call.endpoint == CHAT else "text_completion", call.public_model, request.headers, start_time=prepared_from,
        **{"guard.request_id": call.request_id, "guard.policy": call.policy.name, "guard.tenant": call.caller.tenant,
           "gen_ai.system": call.model.backend.kind, "gen_ai.request.temperature": call.body.get("temperature"),
           "gen_ai.request.top_p": call.body.get("top_p"), "gen_ai.request.max_tokens": call.body.get("max_tokens")},
    )
    trace.record("guard.policy", prepared_from, time.time_ns(), **{"guard.policy": call.policy.name, "guard.changes": len(call.changes)})
    return trace


def _check_limits(runtime: RuntimeDep, body: dict) -> None:
    limits = runtime.settings.limits
    messages = body.get("messages")
    if isinstance(messages, list):
        if len(messages) > limits.max_messages:
            raise InvalidRequest(f"{len(messages)} messages; the limit is {limits.max_messages}", param="messages", code="too_many_messages")
        for m in messages:
            content = m.get("content")
            size = len(content) if isinstance(content, str) else sum(len(str(p)) for p in content or [])
            if size > limits.max_message_chars:
                raise BodyTooLarge(f"a message is {size} characters; the limit is {limits.max_message_chars}", param="messages")


@router.post("/v1/chat/completions", dependencies=[Admitted], openapi_extra=request_body(ChatRequest))
async def chat_completions(request: Request, rid: RequestId, runtime: RuntimeDep, caller: CallerDep) -> Response:
    return await handle(request, runtime, caller, rid, CHAT)


@router.post("/v1/completions", dependencies=[Admitted], openapi_extra=request_body(CompletionRequest))
async def completions(request: Request, rid: RequestId, runtime: RuntimeDep, caller: CallerDep) -> Response:
    return await handle(request, runtime, caller, rid, COMPLETIONS)

"""Public model names to upstreams, with retries and fallbacks.

A retry or a fallback is only safe before anything reached the client, so streaming calls fall
back only while opening the stream (before the first event); after that a failure is reported
to the client as an error event by the streaming layer. A timeout is not retried on the same
backend (it is likely still busy with the first attempt); the next fallback is tried instead.
Each backend has a circuit breaker (``guard.backend.breaker``): while it is open, its requests
go to the fallbacks or fail at once with 503.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import structlog

from guard.backend.base import Batch, Upstream
from guard.backend.breaker import BreakerStatus, CircuitBreaker
from guard.backend.litellm_upstream import LitellmUpstream
from guard.backend.relay import RelayUpstream
from guard.errors import BackendError, BackendTimeout, GuardError, ModelNotFound, Unavailable
from guard.settings import BreakerConfig, ModelConfig, Settings

log = structlog.get_logger()
T = TypeVar("T")
E = TypeVar("E")  # a stream item: an event or a batch of them

# Failures worth trying elsewhere: the backend, not the request, is at fault.
_RETRYABLE = (BackendError, BackendTimeout)


def build_upstream(model: ModelConfig) -> Upstream:
    if model.backend.kind == "litellm":
        return LitellmUpstream(model.name, model.backend)
    return RelayUpstream(model.name, model.backend)


class Router:
    def __init__(self, settings: Settings, upstreams: dict[str, Upstream] | None = None) -> None:
        self.settings = settings
        self.upstreams = upstreams if upstreams is not None else {m.name: build_upstream(m) for m in settings.models}
        self.breakers = {
            m.name: CircuitBreaker(m.backend.breaker.failures, m.backend.breaker.cooldown_s) for m in settings.models
        }

    def model(self, name: str) -> ModelConfig:
        """The config for a public name; a ``*`` entry serves any name (quick-start mode)."""
        model = self.settings.model(name) or self.settings.model("*")
        if model is None:
            raise ModelNotFound(f"the model {name!r} does not exist", param="model")
        return model

    def _chain(self, model: ModelConfig) -> list[ModelConfig]:
        return [model] + [self.settings.model(f) for f in model.fallbacks]  # type: ignore[misc]

    def _body_for(self, m: ModelConfig, body: dict[str, Any]) -> dict[str, Any]:
        """The body as this backend gets it: its model name, and the adjustments it is
        configured for (text parts joined, usage asked for on a stream)."""
        b = m.backend
        out = body if b.model in ("*", body.get("model")) else {**body, "model": b.model}
        if b.flatten_text_parts and isinstance(out.get("messages"), list):
            messages = flatten_text_parts(out["messages"])
            if messages is not out["messages"]:
                out = {**out, "messages": messages}
        if b.stream_usage and out.get("stream"):
            options = out.get("stream_options")
            options = options if isinstance(options, dict) else {}
            if not options.get("include_usage"):
                out = {**out, "stream_options": {**options, "include_usage": True}}
        return out

    async def _first_success(self, model: ModelConfig, attempt: Callable[[ModelConfig], Awaitable[T]], *, stream: bool) -> tuple[T, str]:
        """Try the model, then its fallbacks, each with its retries, skipping open circuits.

        A timeout moves on to the next model at once: the backend may still be working on the
        first attempt. A 4xx-type ``GuardError`` means the backend is alive and is raised as is.
        """
        last: GuardError | None = None
        for m in self._chain(model):
            breaker = self.breakers[m.name]
            for n in range(m.backend.retries + 1):
                if not breaker.allow():
                    last = circuit_open(m.name, breaker.status(), m.backend.breaker)
                    break
                try:
                    result = await attempt(m)
                except _RETRYABLE as e:
                    last = e
                except GuardError:
                    breaker.success()  # a 400 or 429: the backend is alive and answering
                    raise
                except BaseException:
                    breaker.abandon()  # cancelled (client gone): no verdict on the backend
                    raise
                else:
                    breaker.success()
                    return result, m.name
                breaker.failure()
                log.warning("backend_failed", model=m.name, attempt=n, error=last.message, stream=stream)
                if isinstance(last, BackendTimeout):
                    break
                if n < m.backend.retries:
                    await asyncio.sleep(0.05 * 2**n)
        assert last is not None
        raise last

    async def complete(self, model: ModelConfig, endpoint: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[dict[str, Any], str]:
        """The response and the public name of the model that served it."""

        def attempt(m: ModelConfig) -> Awaitable[dict[str, Any]]:
            return self.upstreams[m.name].complete(endpoint, self._body_for(m, body), headers)

        return await self._first_success(model, attempt, stream=False)

    async def open_stream(
        self, model: ModelConfig, endpoint: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[dict[str, Any], AsyncIterator[dict[str, Any]], str]:
        """Open a stream and read its first event, falling back while nothing has been sent."""
        return await self._open(model, lambda m: self.upstreams[m.name].stream(endpoint, self._body_for(m, body), headers))

    async def open_batches(
        self, model: ModelConfig, endpoint: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[Batch, AsyncIterator[Batch], str]:
        """``open_stream`` by arrival: events that came together, with the bytes the backend sent."""
        return await self._open(model, lambda m: self.upstreams[m.name].stream_batches(endpoint, self._body_for(m, body), headers))

    async def _open(self, model: ModelConfig, start: Callable[[ModelConfig], AsyncIterator[E]]) -> tuple[E, AsyncIterator[E], str]:
        """The first item of the first upstream that sends one, the rest of its stream, and its name."""

        async def attempt(m: ModelConfig) -> tuple[E, AsyncIterator[E]]:
            events = start(m).__aiter__()
            try:
                return await events.__anext__(), events
            except StopAsyncIteration:
                await _aclose(events)
                raise BackendError(f"backend {m.name!r} sent an empty stream") from None
            except BaseException:
                await _aclose(events)
                raise

        (first, events), served_by = await self._first_success(model, attempt, stream=True)
        return first, events, served_by

    async def close(self) -> None:
        for u in self.upstreams.values():
            await u.close()


def flatten_text_parts(messages: list[Any]) -> list[Any]:
    """Messages whose content is a list of text parts only, with that content as one string
    (parts joined by a newline, as vLLM joins them); the same list when nothing changes."""
    out, changed = [], False
    for m in messages:
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, list) and content and all(
            isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in content
        ):
            m = {**m, "content": "\n".join(p["text"] for p in content)}
            changed = True
        out.append(m)
    return out if changed else messages


def circuit_open(name: str, status: BreakerStatus, config: BreakerConfig | None = None) -> Unavailable:
    """The 503 while a circuit is open, with the ``retry-after`` the configuration asks for."""
    config = config or BreakerConfig()
    if config.retry_after_s is None:
        seconds = max(1, math.ceil(status.retry_in_s))
    else:  # never later than the trial request: the backend may be back by then
        seconds = math.ceil(min(config.retry_after_s, status.retry_in_s))
    headers = {"retry-after": str(seconds)}
    if not config.client_retry:
        headers["x-should-retry"] = "false"
    return Unavailable(
        f"backend {name!r} is failing; guard stopped sending it requests for a while (circuit open)",
        code="backend_circuit_open",
        headers=headers,
    )


async def _aclose(events: AsyncIterator[Any]) -> None:
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        await aclose()

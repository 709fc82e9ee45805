"""Public model names to upstreams, with retries and fallbacks.

A retry or a fallback is only safe before anything reached the client, so streaming calls fall
back only while opening the stream (before the first event); after that a failure is reported
to the client as an error event by the streaming layer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import structlog

from guard.backend.base import Upstream
from guard.backend.litellm_upstream import LitellmUpstream
from guard.backend.relay import RelayUpstream
from guard.errors import BackendError, BackendTimeout, GuardError, ModelNotFound
from guard.settings import ModelConfig, Settings

log = structlog.get_logger()

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

    def model(self, name: str) -> ModelConfig:
        """The config for a public name; a ``*`` entry serves any name (quick-start mode)."""
        model = self.settings.model(name) or self.settings.model("*")
        if model is None:
            raise ModelNotFound(f"the model {name!r} does not exist", param="model")
        return model

    def _chain(self, model: ModelConfig) -> list[ModelConfig]:
        return [model] + [self.settings.model(f) for f in model.fallbacks]  # type: ignore[misc]

    def _body_for(self, m: ModelConfig, body: dict[str, Any]) -> dict[str, Any]:
        if m.backend.model in ("*", body.get("model")):
            return body
        return {**body, "model": m.backend.model}

    async def complete(self, model: ModelConfig, endpoint: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[dict[str, Any], str]:
        """The response and the public name of the model that served it."""
        last: GuardError | None = None
        for m in self._chain(model):
            for attempt in range(m.backend.retries + 1):
                try:
                    return await self.upstreams[m.name].complete(endpoint, self._body_for(m, body), headers), m.name
                except _RETRYABLE as e:
                    last = e
                    log.warning("backend_failed", model=m.name, attempt=attempt, error=e.message)
                    if attempt < m.backend.retries:
                        await asyncio.sleep(0.05 * 2**attempt)
        assert last is not None
        raise last

    async def open_stream(
        self, model: ModelConfig, endpoint: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[dict[str, Any], AsyncIterator[dict[str, Any]], str]:
        """Open a stream and read its first event, falling back while nothing has been sent."""
        last: GuardError | None = None
        for m in self._chain(model):
            for attempt in range(m.backend.retries + 1):
                events = self.upstreams[m.name].stream(endpoint, self._body_for(m, body), headers).__aiter__()
                try:
                    first = await events.__anext__()
                except StopAsyncIteration:
                    last = BackendError(f"backend {m.name!r} sent an empty stream")
                except _RETRYABLE as e:
                    last = e
                else:
                    return first, events, m.name
                log.warning("backend_failed", model=m.name, attempt=attempt, error=last.message, stream=True)
                await _aclose(events)
                if attempt < m.backend.retries:
                    await asyncio.sleep(0.05 * 2**attempt)
        assert last is not None
        raise last

    async def close(self) -> None:
        for u in self.upstreams.values():
            await u.close()


async def _aclose(events: AsyncIterator[Any]) -> None:
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        await aclose()

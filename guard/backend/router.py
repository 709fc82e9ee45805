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
from collections.abc import AsyncIterator
from typing import Any

import structlog

from guard.backend.base import Upstream
from guard.backend.breaker import BreakerStatus, CircuitBreaker
from guard.backend.litellm_upstream import LitellmUpstream
from guard.backend.relay import RelayUpstream
from guard.errors import BackendError, BackendTimeout, GuardError, ModelNotFound, Unavailable
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
        if m.backend.model in ("*", body.get("model")):
            return body
        return {**body, "model": m.backend.model}

    async def complete(self, model: ModelConfig, endpoint: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[dict[str, Any], str]:
        """The response and the public name of the model that served it."""
        last: GuardError | None = None
        for m in self._chain(model):
            breaker = self.breakers[m.name]
            for attempt in range(m.backend.retries + 1):
                if not breaker.allow():
                    last = circuit_open(m.name, breaker.status())
                    break
                try:
                    result = await self.upstreams[m.name].complete(endpoint, self._body_for(m, body), headers)
                except _RETRYABLE as e:
                    breaker.failure()
                    last = e
                    log.warning("backend_failed", model=m.name, attempt=attempt, error=e.message)
                    if isinstance(e, BackendTimeout):
                        break
                    if attempt < m.backend.retries:
                        await asyncio.sleep(0.05 * 2**attempt)
                    continue
                except GuardError:
                    breaker.success()  # a 400 or 429: the backend is alive and answering
                    raise
                except BaseException:
                    breaker.abandon()  # cancelled (client gone): no verdict on the backend
                    raise
                breaker.success()
                return result, m.name
        assert last is not None
        raise last

    async def open_stream(
        self, model: ModelConfig, endpoint: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[dict[str, Any], AsyncIterator[dict[str, Any]], str]:
        """Open a stream and read its first event, falling back while nothing has been sent."""
        last: GuardError | None = None
        for m in self._chain(model):
            breaker = self.breakers[m.name]
            for attempt in range(m.backend.retries + 1):
                if not breaker.allow():
                    last = circuit_open(m.name, breaker.status())
                    break
                events = self.upstreams[m.name].stream(endpoint, self._body_for(m, body), headers).__aiter__()
                try:
                    first = await events.__anext__()
                except StopAsyncIteration:
                    last = BackendError(f"backend {m.name!r} sent an empty stream")
                except _RETRYABLE as e:
                    last = e
                except GuardError:
                    breaker.success()
                    raise
                except BaseException:
                    breaker.abandon()
                    await _aclose(events)
                    raise
                else:
                    breaker.success()
                    return first, events, m.name
                breaker.failure()
                log.warning("backend_failed", model=m.name, attempt=attempt, error=last.message, stream=True)
                await _aclose(events)
                if isinstance(last, BackendTimeout):
                    break
                if attempt < m.backend.retries:
                    await asyncio.sleep(0.05 * 2**attempt)
        assert last is not None
        raise last

    async def close(self) -> None:
        for u in self.upstreams.values():
            await u.close()


def circuit_open(name: str, status: BreakerStatus) -> Unavailable:
    retry = max(1, math.ceil(status.retry_in_s))
    return Unavailable(
        f"backend {name!r} is failing; guard stopped sending it requests for a while (circuit open)",
        code="backend_circuit_open",
        headers={"retry-after": str(retry)},
    )


async def _aclose(events: AsyncIterator[Any]) -> None:
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        await aclose()

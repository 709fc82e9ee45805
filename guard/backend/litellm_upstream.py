"""Providers that do not speak the OpenAI protocol, through litellm used as a library.

litellm is imported on first use (its import takes seconds and it fetches a price map unless
``LITELLM_LOCAL_MODEL_COST_MAP`` is set, which the CLI does). Its exceptions carry an HTTP
``status_code``; they are translated into ``guard.errors`` here.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import structlog

from guard.backend.base import Batch
from guard.errors import BackendError, BackendTimeout, GuardError, InvalidRequest, RateLimited
from guard.settings import BackendConfig

log = structlog.get_logger()


def _to_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    dump = getattr(obj, "model_dump", None) or getattr(obj, "dict")
    return dump(exclude_none=True)


class LitellmUpstream:
    def __init__(self, name: str, config: BackendConfig) -> None:
        self.name = name
        self.config = config

    def _kwargs(self, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        kwargs = {k: v for k, v in body.items() if k not in ("model", "stream_options")}
        kwargs["model"] = self.config.model
        kwargs["timeout"] = self.config.timeouts.total
        kwargs["num_retries"] = 0  # retries and fallbacks are guard's job
        if self.config.api_base:
            kwargs["api_base"] = self.config.api_base
        key = self.config.api_key()
        if key:
            kwargs["api_key"] = key
        extra = {**self.config.extra_headers, **headers}
        if extra:
            kwargs["extra_headers"] = extra
        return kwargs

    async def complete(self, endpoint: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        litellm = _litellm()
        try:
            if endpoint == "completions":
                resp = await litellm.atext_completion(**self._kwargs(body, headers))
            else:
                resp = await litellm.acompletion(**self._kwargs(body, headers))
        except Exception as e:  # noqa: BLE001 - translated at the seam
            raise translate(self.name, e, expose=self.config.expose_errors) from e
        return _to_dict(resp)

    async def stream(self, endpoint: str, body: dict[str, Any], headers: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
        litellm = _litellm()
        kwargs = self._kwargs(body, headers)
        kwargs["stream"] = True
        if body.get("stream_options"):
            kwargs["stream_options"] = body["stream_options"]
        try:
            call = litellm.atext_completion if endpoint == "completions" else litellm.acompletion
            resp = await call(**kwargs)
            async for chunk in resp:
                yield _to_dict(chunk)
        except GuardError:
            raise
        except Exception as e:  # noqa: BLE001
            raise translate(self.name, e, expose=self.config.expose_errors) from e

    async def stream_batches(self, endpoint: str, body: dict[str, Any], headers: dict[str, str]) -> AsyncIterator[Batch]:
        """One event per batch and no raw bytes: litellm hands over objects, not the wire."""
        async with aclosing(self.stream(endpoint, body, headers)) as events:
            async for event in events:
                yield Batch([(None, event)])

    async def models(self) -> list[dict[str, Any]]:
        return []

    async def close(self) -> None:
        return None


def _litellm():
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


def translate(name: str, e: Exception, *, expose: bool = False) -> GuardError:
    """litellm's exception as the client should see it; the provider's message goes to the log
    (``backend_error_body``), and to the client only with the backend's ``expose_errors``."""
    status = getattr(e, "status_code", None)
    message = str(getattr(e, "message", None) or e)[:1000]
    kind = type(e).__name__
    log.warning("backend_error_body", backend=name, status=status, kind=kind, message=message)
    said = f": {message}" if expose else f" ({kind}; details are in guard's log)"
    if "Timeout" in kind or status == 408:
        return BackendTimeout(f"backend {name!r} did not answer in time")
    if status == 429 or "RateLimit" in kind:
        return RateLimited(f"the backend is rate limiting{said if expose else ''}")
    if status in (400, 422) or kind == "BadRequestError":
        return InvalidRequest(f"the backend rejected the request{said}", code="backend_rejected")
    return BackendError(f"backend {name!r} failed{said}")

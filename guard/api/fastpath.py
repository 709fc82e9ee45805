"""The two completion routes as bare ASGI, ahead of FastAPI's middleware and routing.

Every request to guard pays FastAPI's layers (the error and telemetry middlewares, the body
limit, the router, dependency solving), and a stream pays the middlewares' ``send`` wrappers
again for every event; on the completion routes that cost is most of what guard adds, and the
proxy's promise is to add about a millisecond. So ``GuardApp`` answers ``POST
/v1/chat/completions`` and ``POST /v1/completions`` itself, before the middleware stack, with the
same steps the dependencies would run (request id, authentication, per-key admission) as plain
calls and the same error mapping. Everything else goes to FastAPI as usual. The routes stay
declared on the FastAPI app (``guard.api.completions``) for the OpenAPI document and for any
caller that reaches them there.

Every request, on either path, first passes ``BodyGuard`` (guard.api.slow_clients): the body must
arrive within ``limits.body_timeout_s`` and stay under the route's size limit.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from guard.api.admission import lease_for
from guard.api.completions import handle
from guard.api.deps import authenticate, request_id
from guard.api.errors import failed_request, internal_error
from guard.api.slow_clients import BodyGuard
from guard.errors import GuardError
from guard.responses import CHAT, COMPLETIONS
from guard.settings import CorsConfig

ROUTES = {"/v1/chat/completions": CHAT, "/v1/completions": COMPLETIONS}


class GuardApp(FastAPI):
    """FastAPI with the completion routes served before its middleware stack.

    With ``server.cors`` configured, CORS wraps everything, the fast routes included: a
    browser's preflight ``OPTIONS`` is answered, and every answer to an allowed origin carries
    the CORS headers (streams too).
    """

    cors: ASGIApp | None = None

    def enable_cors(self, config: CorsConfig) -> None:
        from starlette.middleware.cors import CORSMiddleware

        self.cors = CORSMiddleware(
            self._dispatch,
            allow_origins=config.allow_origins,
            allow_methods=config.allow_methods,
            allow_headers=config.allow_headers,
            expose_headers=config.expose_headers,
            max_age=config.max_age,
        )

    _guarded: BodyGuard | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        if self._guarded is None:
            inner = self.cors if self.cors is not None else self._dispatch  # CORS inside the body guard
            self._guarded = BodyGuard(inner, self._body_timeout_s, self._body_limit)
        await self._guarded(scope, receive, send)

    def _body_timeout_s(self) -> float:
        return self.state.runtime.settings.limits.body_timeout_s

    def _body_limit(self, path: str) -> int | None:
        """None on the completion routes: ``read_json`` applies ``limits.max_body_bytes`` there,
        with the request id and metrics of a completion."""
        return None if path in ROUTES else self.state.runtime.settings.limits.max_other_body_bytes

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = ROUTES.get(scope.get("path", "")) if scope["type"] == "http" and scope["method"] == "POST" else None
        if endpoint is None:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self  # what Starlette would set: ``request.app`` reads it
        await complete(scope, receive, send, endpoint)


async def complete(scope: Scope, receive: Receive, send: Send, endpoint: str) -> None:
    request = Request(scope, receive)
    rid = await request_id(request)
    lease: Any = None
    try:
        caller = await authenticate(request)
        lease = await lease_for(request, caller)
        response = await handle(request, request.app.state.runtime, caller, rid, endpoint)
    except GuardError as e:
        response = failed_request(e, rid, scope["path"])
    except Exception:  # noqa: BLE001 - a bug still gets an OpenAI-shaped answer
        response = internal_error(rid)
    try:
        await response(scope, receive, send)  # for a stream: until the last byte or a disconnect
    finally:
        if lease is not None:
            lease.release()

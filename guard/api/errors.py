"""Every error leaves as OpenAI-shaped JSON with the right status, from this one module."""

from __future__ import annotations

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from guard.errors import GuardError, InvalidRequest, NotFound

log = structlog.get_logger()


def error_response(e: GuardError, request_id: str | None = None) -> Response:
    headers = dict(e.headers)
    if request_id:
        headers["x-request-id"] = request_id
    return Response(orjson.dumps(e.to_dict()), status_code=e.status, media_type="application/json", headers=headers)


def failed_request(e: GuardError, request_id: str | None, path: str) -> Response:
    """The one log event for a request that ended in an error (successful ones log in the
    pipeline), and its response."""
    emit = log.warning if e.status >= 500 else log.info
    emit("request", request_id=request_id, path=path, status=e.status, code=e.code, error=e.message)
    return error_response(e, request_id)


def internal_error(request_id: str | None) -> Response:
    """A bug: logged with its traceback; the client gets a clean error, never a traceback."""
    log.exception("internal_error", request_id=request_id)
    return error_response(GuardError("internal error in guard; the request id is in the log"), request_id)


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def install(app: FastAPI) -> None:
    @app.exception_handler(GuardError)
    async def _guard_error(request: Request, e: GuardError) -> Response:
        return failed_request(e, _request_id(request), request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, e: RequestValidationError) -> Response:
        first = e.errors()[0] if e.errors() else {}
        loc = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return error_response(InvalidRequest(f"{loc}: {first.get('msg', 'invalid')}", param=loc or None), _request_id(request))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException) -> Response:
        if e.status_code == 404:
            err: GuardError = NotFound(f"no route for {request.method} {request.url.path}")
        else:
            err = GuardError(str(e.detail))
            err.status = e.status_code
            err.type = "invalid_request_error" if e.status_code < 500 else "server_error"
        return error_response(err, _request_id(request))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, e: Exception) -> Response:
        return internal_error(_request_id(request))

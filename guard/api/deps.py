"""FastAPI dependencies as ``Annotated`` aliases: the runtime, the caller, the review store.

All are ``async def`` although none awaits: FastAPI runs a plain ``def`` dependency in a worker
thread, which costs more than the whole proxy hop should.
"""

from __future__ import annotations

import re
import secrets
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request

from guard.errors import AuthenticationFailed, NotFound
from guard.calls import Caller
from guard.runtime import Runtime
from guard.settings import ApiKey, hash_key

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
NO_AUTH = Caller(tenant="default", key_id="none")


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def request_id(request: Request) -> str:
    """Honour the client's ``x-request-id`` when it is sane; otherwise make one."""
    rid = request.headers.get("x-request-id")
    if not rid or not _REQUEST_ID.match(rid):
        rid = secrets.token_hex(16)  # uuid4's 32 hex digits at a third of the cost
    request.state.request_id = rid
    structlog.contextvars.bind_contextvars(request_id=rid)
    return rid


def key_table(keys: list[ApiKey]) -> dict[str, ApiKey]:
    return {k.hash: k for k in keys}


async def authenticate(request: Request) -> Caller:
    runtime: Runtime = request.app.state.runtime
    auth = runtime.settings.auth
    if auth.mode == "none":
        return NO_AUTH
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        token = request.headers.get("x-api-key", "")
        if not token:
            raise AuthenticationFailed("missing API key: send it as 'Authorization: Bearer <key>'")
    digest = hash_key(token.strip())
    key = request.app.state.keys.get(digest)
    if key is None:
        raise AuthenticationFailed("invalid API key")
    caller = Caller(tenant=key.tenant, key_id=digest[7:19], policies=tuple(key.policies))
    request.state.caller = caller
    request.state.api_key = key  # its rate and concurrency limits (guard.api.admission)
    return caller


async def get_store(request: Request) -> Any:
    review = request.app.state.runtime.review
    if review is None:
        raise NotFound("the review queue is not enabled on this server", code="review_disabled")
    return review.store


async def get_recent(request: Request) -> Any:
    """Look-up of responses this replica answered recently (for feedback on unqueued answers)."""
    review = request.app.state.runtime.review
    return review.recent if review is not None else (lambda response_id, tenant: None)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
RequestId = Annotated[str, Depends(request_id)]
CallerDep = Annotated[Caller, Depends(authenticate)]
Store = Annotated[Any, Depends(get_store)]
RecentResponses = Annotated[Any, Depends(get_recent)]

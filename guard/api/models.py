"""``GET /v1/models``: the public model names, shaped as OpenAI lists them."""

from __future__ import annotations

import time

from fastapi import APIRouter

from guard.api.deps import CallerDep, RequestId, RuntimeDep

router = APIRouter()
_CREATED = int(time.time())


@router.get("/v1/models")
async def list_models(rid: RequestId, runtime: RuntimeDep, caller: CallerDep) -> dict:
    data = [{"id": m.name, "object": "model", "created": _CREATED, "owned_by": m.owned_by} for m in runtime.settings.models if m.name != "*"]
    if runtime.settings.model("*") is not None:
        # quick-start mode: whatever the backend serves is served here
        data += await runtime.router.upstreams["*"].models()
    return {"object": "list", "data": data}


@router.get("/v1/models/{name:path}")
async def get_model(name: str, rid: RequestId, runtime: RuntimeDep, caller: CallerDep) -> dict:
    m = runtime.router.model(name)
    return {"id": name, "object": "model", "created": _CREATED, "owned_by": m.owned_by}

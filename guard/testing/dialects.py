"""How each OpenAI-compatible server shapes its JSON, as a table of small differences.

Servers that claim OpenAI compatibility differ in details a proxy must survive: where the
reasoning goes, whether and where usage appears in a stream, extra fields in a choice, and the
shape of error bodies. Each difference is one field of ``Dialect``; the render functions below
read only the table, so adding a server means adding a row, not a code path.

The non-OpenAI rows are approximations of those servers' observed behaviour; refine them
against the servers' own sources when a test needs an exact detail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from guard.testing.fake_reply import Piece, Reply

StreamUsage = Literal["requested", "final_chunk", "never"]
ErrorShape = Callable[[int, str, str], dict[str, Any]]


def _openai_error(status: int, message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _vllm_error(status: int, message: str, kind: str) -> dict[str, Any]:
    return {"object": "error", "message": message, "type": kind, "param": None, "code": status}


def _llamacpp_error(status: int, message: str, kind: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "type": kind}}


def _ollama_error(status: int, message: str, kind: str) -> dict[str, Any]:
    return {"error": message}


@dataclass(frozen=True)
class Dialect:
    name: str
    reasoning_field: str = "reasoning_content"
    # requested: a separate chunk with choices [] when stream_options.include_usage (OpenAI);
    # final_chunk: usage on the chunk that carries finish_reason, always; never: no usage in streams.
    stream_usage: StreamUsage = "requested"
    null_usage_in_chunks: bool = True  # OpenAI puts "usage": null in every chunk when usage is requested
    system_fingerprint: str | None = None
    role_chunk: bool = True  # the first chunk carries {"role": "assistant", "content": ""}
    extra_choice: dict[str, Any] = field(default_factory=dict)
    error_shape: ErrorShape = _openai_error
    owned_by: str = "fake"


DIALECTS: dict[str, Dialect] = {
    "openai": Dialect("openai", system_fingerprint="fp_fake", extra_choice={"logprobs": None}),
    "vllm": Dialect(
        "vllm", null_usage_in_chunks=False, extra_choice={"logprobs": None, "stop_reason": None},
        error_shape=_vllm_error, owned_by="vllm",
    ),
    "llamacpp": Dialect(
        "llamacpp", stream_usage="final_chunk", null_usage_in_chunks=False,
        error_shape=_llamacpp_error, owned_by="llamacpp",
    ),
    "ollama": Dialect(
        "ollama", reasoning_field="reasoning", null_usage_in_chunks=False,
        system_fingerprint="fp_ollama", error_shape=_ollama_error, owned_by="library",
    ),
}


def get_dialect(name: str) -> Dialect:
    try:
        return DIALECTS[name]
    except KeyError:
        raise ValueError(f"unknown dialect {name!r}; known: {sorted(DIALECTS)}") from None


@dataclass(frozen=True)
class Meta:
    """What every object of one response repeats."""

    id: str
    created: int
    model: str


def error_type(status: int) -> str:
    return {
        400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
        404: "not_found_error", 429: "rate_limit_error",
    }.get(status, "server_error" if status >= 500 else "invalid_request_error")


def error_body(d: Dialect, status: int, message: str) -> dict[str, Any]:
    return d.error_shape(status, message, error_type(status))


def usage(d: Dialect, prompt_tokens: int, reply: Reply) -> dict[str, Any]:
    completion = len(reply.pieces)
    out: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
    }
    if reply.reasoning_count:
        out["completion_tokens_details"] = {"reasoning_tokens": reply.reasoning_count}
    return out


def finish_reason(reply: Reply) -> str:
    return "length" if reply.truncated else "stop"


def _head(d: Dialect, meta: Meta, obj: str) -> dict[str, Any]:
    head: dict[str, Any] = {"id": meta.id, "object": obj, "created": meta.created, "model": meta.model}
    if d.system_fingerprint is not None:
        head["system_fingerprint"] = d.system_fingerprint
    return head


# ---- chat completions -------------------------------------------------------------------------


def chat_delta(d: Dialect, piece: Piece) -> dict[str, Any]:
    if piece.kind == "reasoning":
        return {d.reasoning_field: piece.text}
    return {"content": piece.text}


def chat_chunk(
    d: Dialect, meta: Meta, delta: dict[str, Any], finish: str | None, null_usage: bool,
    chunk_usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    out = _head(d, meta, "chat.completion.chunk")
    out["choices"] = [{"index": 0, "delta": delta, **d.extra_choice, "finish_reason": finish}]
    if chunk_usage is not None:
        out["usage"] = chunk_usage
    elif null_usage:
        out["usage"] = None
    return out


def chat_usage_chunk(d: Dialect, meta: Meta, chunk_usage: dict[str, Any]) -> dict[str, Any]:
    out = _head(d, meta, "chat.completion.chunk")
    out["choices"] = []
    out["usage"] = chunk_usage
    return out


def chat_completion(d: Dialect, meta: Meta, reply: Reply, full_usage: dict[str, Any] | None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.reasoning_count:
        message[d.reasoning_field] = reply.reasoning
    out = _head(d, meta, "chat.completion")
    out["choices"] = [{"index": 0, "message": message, **d.extra_choice, "finish_reason": finish_reason(reply)}]
    if full_usage is not None:
        out["usage"] = full_usage
    return out


# ---- legacy text completions ------------------------------------------------------------------


def text_chunk(
    d: Dialect, meta: Meta, text: str, finish: str | None, null_usage: bool,
    chunk_usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    out = _head(d, meta, "text_completion")
    out["choices"] = [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish}]
    if chunk_usage is not None:
        out["usage"] = chunk_usage
    elif null_usage:
        out["usage"] = None
    return out


def text_usage_chunk(d: Dialect, meta: Meta, chunk_usage: dict[str, Any]) -> dict[str, Any]:
    out = _head(d, meta, "text_completion")
    out["choices"] = []
    out["usage"] = chunk_usage
    return out


def text_completion(d: Dialect, meta: Meta, reply: Reply, full_usage: dict[str, Any] | None) -> dict[str, Any]:
    text = "".join(p.text for p in reply.pieces)  # a completion has no reasoning channel
    out = _head(d, meta, "text_completion")
    out["choices"] = [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason(reply)}]
    if full_usage is not None:
        out["usage"] = full_usage
    return out


def model_list(d: Dialect, model: str, created: int) -> dict[str, Any]:
    return {"object": "list", "data": [{"id": model, "object": "model", "created": created, "owned_by": d.owned_by}]}

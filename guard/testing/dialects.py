"""How each OpenAI-compatible server shapes its JSON, as a table of small differences.

Servers that claim OpenAI compatibility differ in details a proxy must survive: where the
reasoning goes, whether and where usage appears in a stream, extra (often null) fields in a
delta or message, and the shape of error bodies. Each difference is one field of ``Dialect``;
the render functions below read only the table, so adding a server means adding a row, not a
code path.

The rows for vLLM, SGLang, Ollama (/v1), llama.cpp's llama-server, LMDeploy and TensorRT-LLM
follow those servers' own protocol sources; tests/fixtures/dialects/<name>/ holds a recorded
example of each shape and its README cites the source files. tests/test_compat_dialects.py
checks that this table still renders the recorded shapes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from guard.testing.fake_reply import Piece, Reply

# requested: a separate chunk with choices [] when stream_options.include_usage (OpenAI, vLLM);
# final_chunk: usage on the chunk that carries finish_reason, always (llama.cpp);
# final_chunk_requested: usage on the finish chunk, only when include_usage (LMDeploy);
# never: no usage in streams.
StreamUsage = Literal["requested", "final_chunk", "final_chunk_requested", "never"]
ErrorShape = Callable[[int, str, str], dict[str, Any]]


def _openai_error(status: int, message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _flat_error(status: int, message: str, kind: str) -> dict[str, Any]:
    """FastChat-derived servers: vLLM before 0.10, SGLang, LMDeploy, TensorRT-LLM."""
    return {"object": "error", "message": message, "type": kind, "param": None, "code": status}


_vllm_error = _flat_error  # kept for callers of the old name


def _llamacpp_error(status: int, message: str, kind: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "type": kind}}


def _ollama_error(status: int, message: str, kind: str) -> dict[str, Any]:
    """openai.NewError: only 400 and 404 get their own type, everything else is api_error."""
    kinds = {400: "invalid_request_error", 404: "not_found_error"}
    return {"error": {"message": message, "type": kinds.get(status, "api_error"), "param": None, "code": None}}


@dataclass(frozen=True)
class Dialect:
    name: str
    reasoning_field: str = "reasoning_content"
    stream_usage: StreamUsage = "requested"
    null_usage_in_chunks: bool = True  # "usage": null in every chunk when usage is requested
    always_null_usage: bool = False  # "usage": null in every chunk even when not requested
    system_fingerprint: str | None = None
    role_chunk: bool = True  # a first chunk that carries only the role
    role_delta: dict[str, Any] = field(default_factory=lambda: {"role": "assistant", "content": ""})
    delta_fields: dict[str, Any] = field(default_factory=dict)  # keys every delta repeats (often null)
    message_fields: dict[str, Any] = field(default_factory=dict)  # extra keys of a non-stream message
    extra_choice: dict[str, Any] = field(default_factory=dict)
    finish_choice: dict[str, Any] = field(default_factory=dict)  # extra choice keys once finished
    omit_nulls_in_chunks: bool = False  # chunks dumped with exclude_none (TensorRT-LLM)
    extra_whole: dict[str, Any] = field(default_factory=dict)  # extra top-level keys, non-stream
    extra_final: dict[str, Any] = field(default_factory=dict)  # extra top-level keys, finish chunk
    usage_fields: dict[str, Any] = field(default_factory=dict)  # extra keys of usage
    stream_usage_fields: dict[str, Any] | None = None  # in streams, if they differ from usage_fields
    # details: usage.completion_tokens_details.reasoning_tokens (OpenAI); top: usage.reasoning_tokens
    # (SGLang); none: reasoning tokens are not reported apart
    reasoning_usage: Literal["details", "top", "none"] = "details"
    error_shape: ErrorShape = _openai_error
    owned_by: str = "fake"


_LLAMACPP_TIMINGS = {
    "prompt_n": 1, "prompt_ms": 1.0, "prompt_per_token_ms": 1.0, "prompt_per_second": 1000.0,
    "predicted_n": 1, "predicted_ms": 1.0, "predicted_per_token_ms": 1.0, "predicted_per_second": 1000.0,
}

DIALECTS: dict[str, Dialect] = {
    "openai": Dialect("openai", system_fingerprint="fp_fake", extra_choice={"logprobs": None}),
    # vllm/entrypoints/openai/protocol.py (stream chunks are dumped with exclude_unset)
    "vllm": Dialect(
        "vllm", reasoning_usage="none", null_usage_in_chunks=False, extra_choice={"logprobs": None}, finish_choice={"stop_reason": None},
        message_fields={"refusal": None, "annotations": None, "audio": None, "function_call": None,
                        "tool_calls": [], "reasoning_content": None},
        extra_whole={"service_tier": None, "system_fingerprint": None, "prompt_logprobs": None,
                     "kv_transfer_params": None},
        usage_fields={"prompt_tokens_details": None}, stream_usage_fields={},
        error_shape=_flat_error, owned_by="vllm",
    ),
    # python/sglang/srt/entrypoints/openai/protocol.py (chunks dumped in full: nulls everywhere)
    "sglang": Dialect(
        "sglang", always_null_usage=True, reasoning_usage="top",
        role_delta={"role": "assistant", "content": ""},
        delta_fields={"role": None, "content": None, "reasoning_content": None, "tool_calls": None},
        message_fields={"reasoning_content": None, "tool_calls": None},
        extra_choice={"logprobs": None, "matched_stop": None},
        extra_whole={"metadata": None},
        usage_fields={"prompt_tokens_details": None, "reasoning_tokens": 0},
        error_shape=_flat_error, owned_by="sglang",
    ),
    # tools/server (server-common / server-task): usage and timings always on the finish chunk
    "llamacpp": Dialect(
        "llamacpp", reasoning_usage="none", stream_usage="final_chunk", null_usage_in_chunks=False,
        system_fingerprint="b6000-fake", role_delta={"role": "assistant", "content": None},
        extra_whole={"timings": _LLAMACPP_TIMINGS}, extra_final={"timings": _LLAMACPP_TIMINGS},
        error_shape=_llamacpp_error, owned_by="llamacpp",
    ),
    # openai/openai.go: role in every delta, reasoning in "reasoning", no role-only first chunk
    "ollama": Dialect(
        "ollama", reasoning_usage="none", reasoning_field="reasoning", null_usage_in_chunks=False, role_chunk=False,
        delta_fields={"role": "assistant", "content": ""},
        system_fingerprint="fp_ollama", error_shape=_ollama_error, owned_by="library",
    ),
    # lmdeploy/serve/openai/protocol.py + api_server.py: usage on the finish chunk if requested
    "lmdeploy": Dialect(
        "lmdeploy", reasoning_usage="none", stream_usage="final_chunk_requested", always_null_usage=True, role_chunk=False,
        delta_fields={"role": "assistant", "content": None, "reasoning_content": None,
                      "gen_tokens": None, "tool_calls": []},
        message_fields={"gen_tokens": None, "reasoning_content": None, "tool_calls": None},
        extra_choice={"logprobs": None},
        error_shape=_flat_error, owned_by="lmdeploy",
    ),
    # tensorrt_llm/serve/openai_protocol.py + postprocess_handlers.py: content chunks are dumped
    # with exclude_none (no finish_reason key until the end), the usage chunk in full
    "trtllm": Dialect(
        "trtllm", reasoning_usage="none", null_usage_in_chunks=False, omit_nulls_in_chunks=True, role_delta={"role": "assistant"},
        extra_choice={"logprobs": None}, finish_choice={"stop_reason": None},
        message_fields={"reasoning_content": None, "tool_calls": []},
        usage_fields={"prompt_tokens_details": {"cached_tokens": 0}},
        error_shape=_flat_error, owned_by="tensorrt_llm",
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


def usage(d: Dialect, prompt_tokens: int, reply: Reply, *, stream: bool = False) -> dict[str, Any]:
    completion = len(reply.pieces)
    out: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
    }
    fields = d.usage_fields if not stream or d.stream_usage_fields is None else d.stream_usage_fields
    out.update(fields)
    if reply.reasoning_count and d.reasoning_usage == "top":
        out["reasoning_tokens"] = reply.reasoning_count
    elif reply.reasoning_count and d.reasoning_usage == "details":
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


def first_delta(d: Dialect) -> dict[str, Any]:
    """The delta of the role-only first chunk (sent when ``role_chunk``)."""
    return {**d.delta_fields, **d.role_delta}


def chat_delta(d: Dialect, piece: Piece) -> dict[str, Any]:
    if piece.kind == "reasoning":
        return {**d.delta_fields, d.reasoning_field: piece.text}
    return {**d.delta_fields, "content": piece.text}


def final_delta(d: Dialect) -> dict[str, Any]:
    """The delta of the chunk that carries finish_reason and nothing else."""
    return {**d.delta_fields, "content": ""} if d.delta_fields else {}


def chat_chunk(
    d: Dialect, meta: Meta, delta: dict[str, Any], finish: str | None, null_usage: bool,
    chunk_usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    out = _head(d, meta, "chat.completion.chunk")
    choice = {"index": 0, "delta": delta, **d.extra_choice, "finish_reason": finish}
    if finish is not None:
        choice.update(d.finish_choice)
        out.update(d.extra_final)
    if d.omit_nulls_in_chunks:
        choice = {k: v for k, v in choice.items() if v is not None}
    out["choices"] = [choice]
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
    message: dict[str, Any] = {"role": "assistant", "content": reply.content, **d.message_fields}
    if reply.reasoning_count:
        message[d.reasoning_field] = reply.reasoning
    out = _head(d, meta, "chat.completion")
    out["choices"] = [{"index": 0, "message": message, **d.extra_choice, "finish_reason": finish_reason(reply), **d.finish_choice}]
    if full_usage is not None:
        out["usage"] = full_usage
    out.update(d.extra_whole)
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

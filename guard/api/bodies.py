"""Request bodies: read within the size limit, parse, and validate the fields guard relies on.

The models validate types of the standard fields and keep every other field (``extra="allow"``)
so backend-specific parameters pass through untouched. Handlers work on the plain dict after
validation; the models exist to give clear 400s, not to re-serialise the body.

Because handlers read the plain dict, the fields guard itself acts on are strict: ``"stream":
"false"`` is a 400, not a string that reads as true and streams; a text part whose ``text`` is
not a string is a 400 naming ``messages.0.content.1.text``, not a crash further on.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, Strict, StrictBool, StrictInt, StrictStr, ValidationError, model_validator
from starlette.requests import Request

from guard.errors import BodyTooLarge, InvalidRequest


Number = Annotated[float, Strict()]  # an int or a float; never a string or a boolean


class ContentPart(BaseModel):
    """One part of a message's content. Only the fields guard reads are typed; a text part
    must carry its text as a string."""

    model_config = ConfigDict(extra="allow")
    type: StrictStr
    text: StrictStr | None = None

    @model_validator(mode="after")
    def _text_part_has_text(self) -> "ContentPart":
        if self.type in ("text", "input_text", "output_text") and self.text is None:
            raise ValueError(f"a {self.type} part needs a text string")
        return self


class FunctionCall(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: StrictStr | None = None
    arguments: StrictStr | None = None


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="allow")
    function: FunctionCall | None = None


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: StrictStr | list[ContentPart] | None = None
    name: StrictStr | None = None
    tool_calls: list[ToolCall] | None = None
    function_call: FunctionCall | None = None


class Tool(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: StrictStr | None = None
    function: dict[str, Any] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: StrictBool | None = None


class _Common(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: StrictStr = Field(min_length=1, max_length=256)
    stream: StrictBool | None = None
    stream_options: StreamOptions | None = None
    temperature: Number | None = None
    top_p: Number | None = None
    frequency_penalty: Number | None = None
    presence_penalty: Number | None = None
    max_tokens: StrictInt | None = Field(default=None, ge=0)
    max_completion_tokens: StrictInt | None = Field(default=None, ge=0)
    n: StrictInt | None = Field(default=None, ge=1, le=128)
    seed: StrictInt | None = None
    stop: StrictStr | list[StrictStr] | None = None
    metadata: dict[str, Any] | None = None


class ChatRequest(_Common):
    messages: list[Message] = Field(min_length=1)
    # Evidence for the answer: strings or {"text", "title"?, "id"?, "source"?} (vLLM's shape).
    # Validated, with messages naming the entry, by guard.knowledge.documents.parse_documents.
    documents: list[Any] | None = None
    tools: list[Tool] | None = None


class CompletionRequest(_Common):
    prompt: StrictStr | list[StrictStr] | list[StrictInt] | list[list[StrictInt]]


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise BodyTooLarge(f"the request body is {length} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise BodyTooLarge(f"the request body is over the limit of {limit} bytes")
        chunks.append(part)
    raw = b"".join(chunks)
    if not raw:
        raise InvalidRequest("the request body is empty; send a JSON object", code="invalid_json")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise InvalidRequest(f"the request body is not valid JSON: {e}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise InvalidRequest("the request body must be a JSON object", code="invalid_json")
    return data


_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _field_path(loc: tuple[Any, ...]) -> str:
    """``messages.0.content.1.text`` from pydantic's location, without the union-branch labels
    (``str``, ``list[ContentPart]``, ``function-after[...]``) it puts in between."""
    parts = [str(p) for p in loc if isinstance(p, int) or (isinstance(p, str) and _FIELD.match(p) and p not in _BRANCHES)]
    return ".".join(parts)


_BRANCHES = frozenset({"str", "int", "float", "bool", "list", "dict", "none"})


def validate(model: type[BaseModel], data: dict[str, Any]) -> None:
    try:
        model.model_validate(data)
    except ValidationError as e:
        # the deepest error of a union is the one about what the client meant to send
        best = max(e.errors(), key=lambda err: len(_field_path(err["loc"]).split(".")))
        loc = _field_path(best["loc"])
        raise InvalidRequest(f"{loc}: {best['msg']}", param=loc, code="invalid_type") from None

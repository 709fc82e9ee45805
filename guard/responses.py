"""Reading and rewriting OpenAI response bodies: the text of a choice, reasoning, verdicts.

Chat choices carry ``message.content`` (or ``delta.content`` in a stream); legacy completions
carry ``text``. These helpers hide that difference from the pipeline and the streaming layer.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from guard.reasoning import split_think

CHAT = "chat/completions"
COMPLETIONS = "completions"


def choice_text(endpoint: str, choice: dict[str, Any], *, stream: bool = False) -> str:
    if endpoint == COMPLETIONS:
        return choice.get("text") or ""
    holder = choice.get("delta" if stream else "message") or {}
    content = holder.get("content")
    return content if isinstance(content, str) else ""


def set_choice_text(endpoint: str, choice: dict[str, Any], text: str, *, stream: bool = False) -> None:
    if endpoint == COMPLETIONS:
        choice["text"] = text
    else:
        choice.setdefault("delta" if stream else "message", {})["content"] = text


def separate_reasoning(endpoint: str, body: dict[str, Any], keep: bool, opened: bool = False) -> list[str | None]:
    """Move inline ``<think>`` reasoning out of each choice's answer; return it per choice.

    With ``keep`` the client still gets the reasoning, as ``reasoning_content``; otherwise it
    is removed. Either way the answer text that checks see has no reasoning in it.
    """
    found: list[str | None] = []
    for choice in body.get("choices") or []:
        if not isinstance(choice, dict):
            found.append(None)
            continue
        text = choice_text(endpoint, choice)
        reasoning, answer = split_think(text, opened=opened) if text else (None, text)
        message = choice.get("message") if endpoint == CHAT else None
        if isinstance(message, dict):
            field = message.get("reasoning_content") or message.get("reasoning")
            if isinstance(field, str) and field:
                reasoning = field if reasoning is None else field + "\n" + reasoning
            message.pop("reasoning", None)
            if keep and reasoning:
                message["reasoning_content"] = reasoning
            else:
                message.pop("reasoning_content", None)
        if reasoning is not None or text != answer:
            set_choice_text(endpoint, choice, answer)
        found.append(reasoning)
    return found


def deliver_reasoning(endpoint: str, choice: dict[str, Any], reasoning: str | None) -> None:
    """Put the checked reasoning on a non-stream choice, or take it off (blocked, replaced,
    stripped, or checks that failed)."""
    message = choice.get("message") if endpoint == CHAT else None
    if not isinstance(message, dict):
        return
    if reasoning:
        message["reasoning_content"] = reasoning
    else:
        message.pop("reasoning_content", None)


def new_id(endpoint: str) -> str:
    prefix = "chatcmpl" if endpoint == CHAT else "cmpl"
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def chunk(endpoint: str, template: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A stream chunk shaped like ``template`` (id, created, model) with new fields."""
    return {
        "id": template.get("id") or new_id(endpoint),
        "object": "chat.completion.chunk" if endpoint == CHAT else "text_completion",
        "created": template.get("created") or int(time.time()),
        "model": template.get("model", ""),
        **fields,
    }


def replacement_choice(endpoint: str, index: int, text: str, finish_reason: str | None, *, stream: bool) -> dict[str, Any]:
    if endpoint == COMPLETIONS:
        return {"index": index, "text": text, "logprobs": None, "finish_reason": finish_reason}
    if stream:
        return {"index": index, "delta": {"role": "assistant", "content": text}, "logprobs": None, "finish_reason": finish_reason}
    message = {"role": "assistant", "content": text, "refusal": None}  # the spec requires refusal
    return {"index": index, "message": message, "logprobs": None, "finish_reason": finish_reason}

"""Counting a prompt's tokens with the backend's own tokenizer, for usage a client can bill on.

Some servers send no usage in a stream (llama-cpp-python, older Ollama); guard then reports
usage it counted itself. Characters / 4 of the client's text undercounts badly: the chat
template adds role markers and often a default system prompt (SmolLM2's: 13 estimated against
44 real tokens for one question). So where the backend has a tokenize endpoint, guard asks it
to count the prompt as the backend renders it:

- ``vllm`` and ``sglang``: ``POST /tokenize`` with the messages (the server applies its chat
  template) or the prompt; the answer has ``count``;
- ``llama.cpp`` (the C++ server): ``POST /apply-template`` renders the messages, ``POST
  /tokenize`` counts the result;
- ``llama-cpp-python``: ``POST /extras/tokenize/count``; it cannot render a template, so guard
  renders the configured ``chat_template`` (``guard up`` reads it from the GGUF file) or, with
  none, a ChatML approximation, and says so (``exact`` False).

Pure request building and answer parsing live here; the relay upstream sends them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from guard.responses import CHAT

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass(frozen=True, slots=True)
class Step:
    """One request to the backend's server root: path and JSON body; ``field`` is the key of
    the answer to read (``count``, ``tokens`` to count, or ``prompt`` for the next step)."""

    path: str
    body: dict[str, Any]
    field: str


def _texts(messages: list[Any]) -> list[dict[str, str]]:
    """Messages with their content as one string, as a template expects."""
    from guard.policy.template import text_of

    out = []
    for m in messages:
        if isinstance(m, dict):
            out.append({"role": str(m.get("role", "user")), "content": text_of(m.get("content"))})
    return out


def render(template: str, messages: list[Any]) -> str:
    """A chat template (Jinja, as in tokenizer_config.json and GGUF files), sandboxed."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=False, lstrip_blocks=False)
    return env.from_string(template).render(messages=_texts(messages), add_generation_prompt=True, bos_token="", eos_token="")


def _prompt_text(body: dict[str, Any]) -> str | None:
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        return prompt[0]
    return None  # several prompts or token ids: not counted here


def first_step(kind: str, endpoint: str, body: dict[str, Any], chat_template: str | None) -> tuple[Step, bool] | None:
    """The first request for counting ``body``'s prompt, and whether the count will be exact."""
    chat = endpoint == CHAT
    messages = body.get("messages") if chat else None
    if chat and not isinstance(messages, list):
        return None
    prompt = None if chat else _prompt_text(body)
    if not chat and prompt is None:
        return None
    model = body.get("model")
    if kind in ("vllm", "sglang"):
        payload: dict[str, Any] = {"model": model, "messages": _texts(messages), "add_generation_prompt": True} if chat else {"model": model, "prompt": prompt}
        return Step("tokenize", payload, "count"), True
    if kind == "llama.cpp":
        if chat:
            return Step("apply-template", {"messages": _texts(messages)}, "prompt"), True
        return Step("tokenize", {"content": prompt, "add_special": True}, "tokens"), True
    if kind == "llama-cpp-python":
        text = render(chat_template or CHATML, messages) if chat else prompt
        return Step("extras/tokenize/count", {"input": text}, "count"), bool(chat_template) or not chat
    return None


def next_step(kind: str, step: Step, answer: Any) -> Step | int | None:
    """What the answer to ``step`` gives: the count, the next request, or None (unusable)."""
    if not isinstance(answer, dict):
        return None
    value = answer.get(step.field)
    if step.field == "prompt":
        return Step("tokenize", {"content": value, "add_special": True}, "tokens") if isinstance(value, str) else None
    if step.field == "tokens":
        return len(value) if isinstance(value, list) else None
    return value if isinstance(value, int) and value >= 0 else None

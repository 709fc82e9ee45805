"""The input template: build (``wrap``) or police (``enforce``) the prompt. Pure functions.

Variables come from the request's ``metadata`` object and from extra top-level body fields, so a
client can send ``{"messages": [...], "metadata": {"product": "X"}}`` or ``"product": "X"``.
Substitution is a plain ``{name}`` replacement, never ``str.format``, so a variable cannot reach
into Python objects, and it is one pass, so a value that contains ``{question}`` stays those
characters (data, never template syntax).

Variables are client text that lands in the system message, so they are checked like the
messages: each at most ``max_variable_chars`` on one line (line breaks and control characters
become spaces; with ``client_system: forbid`` a multi-line value is refused), matched against
``deny_patterns`` and counted in ``max_input_chars``. Deny patterns see every channel a client
writes: each message's text parts of any type, its ``name``, tool-call names and arguments, the
tool and function definitions, the variables, and the whole conversation joined (a phrase split
across two messages), each also in its folded form (``guard.text.fold``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from guard.errors import InvalidRequest, PolicyViolation
from guard.policy.schema import InputPolicy, Template
from guard.text.fold import compile_rule, rule_hit, views

_VAR = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

# Body fields that are OpenAI parameters, never template variables.
OPENAI_PARAMS = frozenset(
    {
        "model", "messages", "prompt", "stream", "stream_options", "temperature", "top_p", "n",
        "stop", "max_tokens", "max_completion_tokens", "presence_penalty", "frequency_penalty",
        "logit_bias", "logprobs", "top_logprobs", "user", "seed", "tools", "tool_choice",
        "parallel_tool_calls", "response_format", "functions", "function_call", "metadata",
        "store", "service_tier", "modalities", "audio", "prediction", "reasoning_effort",
        "echo", "best_of", "suffix",
    }
)


@dataclass(slots=True)
class Prepared:
    """What the template stage did, for the log and the client's ``guard`` field."""

    question: str  # the user's question as the checks should see it
    wrapped: bool = False
    consumed: list[str] = field(default_factory=list)  # body fields used as variables


def text_of(content: Any) -> str:
    """The text of a message content: a string, or the text parts of a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p["text"] for p in content if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
        )
    raise InvalidRequest("message content must be a string or a list of parts", param="messages")


# Keys of content parts that hold binary payloads or links, not words a model reads as text.
_PAYLOAD_KEYS = frozenset({"image_url", "url", "data", "file_data", "input_audio", "file_id", "detail", "format", "type"})


def _strings(value: Any, out: list[str], depth: int = 0) -> None:
    """Every string inside a JSON value, except binary payloads (bounded depth)."""
    if depth > 8:
        return
    if isinstance(value, str):
        if value:
            out.append(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            if k not in _PAYLOAD_KEYS:
                _strings(v, out, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _strings(v, out, depth + 1)


def message_texts(message: Any) -> list[str]:
    """Everything a client wrote in one message: text of every part type, name, tool calls."""
    if not isinstance(message, dict):
        return []
    out: list[str] = []
    content = message.get("content")
    if isinstance(content, str):
        out.append(content)
    else:
        _strings(content, out)
    for key in ("name", "tool_calls", "function_call", "refusal"):
        _strings(message.get(key), out)
    return out


def tool_texts(body: dict[str, Any]) -> list[str]:
    """Tool and function definitions: their names, descriptions and parameter schemas."""
    out: list[str] = []
    for key in ("tools", "functions"):
        tools = body.get(key)
        if isinstance(tools, list):
            for t in tools:
                _strings(t, out)
    return out


def _denied(policy: InputPolicy, texts: list[str]) -> bool:
    """A deny pattern matches a text, or the texts joined, as written or folded."""
    if not policy.deny_patterns or not texts:
        return False
    joined = "\n".join(texts)
    candidates = views(joined) + (texts if len(texts) > 1 else [])  # each alone too: anchored rules
    return any(rule_hit(compile_rule(p), candidates) for p in policy.deny_patterns)


def _variable_value(policy: InputPolicy, name: str, value: str) -> str:
    """A variable as data: bounded, one line."""
    if len(value) > policy.max_variable_chars:
        raise PolicyViolation(
            f"template variable {name!r} is {len(value)} characters; the policy allows at most {policy.max_variable_chars}",
            param=f"metadata.{name}",
            code="variable_too_long",
        )
    one_line = _CONTROL.sub(" ", value)
    if one_line != value and policy.client_system == "forbid" and _LINE_BREAK.search(value):
        raise PolicyViolation(
            f"template variable {name!r} spans several lines; this policy does not accept system text from the client",
            param=f"metadata.{name}",
            code="variable_not_allowed",
        )
    return one_line.strip()


_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_LINE_BREAK = re.compile(r"[\n\r\x0b\x0c\x85\u2028\u2029]")


def checked_variables(policy: InputPolicy, body: dict[str, Any]) -> dict[str, str]:
    """The request's variables that the template renders, made data and checked."""
    used = template_variables(policy.template) | {"style"}
    variables = {}
    for name, value in request_variables(body).items():
        variables[name] = _variable_value(policy, name, value) if name in used else value
    rendered = [v for k, v in variables.items() if k in used]
    if _denied(policy, rendered):
        raise PolicyViolation("a template variable matches a pattern this policy denies", param="metadata", code="input_denied")
    return variables


def request_variables(body: dict[str, Any]) -> dict[str, str]:
    variables: dict[str, str] = {}
    for key, value in body.items():
        if key not in OPENAI_PARAMS and isinstance(value, (str, int, float)) and not isinstance(value, bool):
            variables[key] = str(value)
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        variables.update({k: str(v) for k, v in metadata.items() if isinstance(v, (str, int, float))})
    return variables


def render(text: str, variables: dict[str, str]) -> str:
    return _VAR.sub(lambda m: variables.get(m.group(1), ""), text)


def template_variables(template: Template) -> set[str]:
    parts = [template.role, template.instruction, template.context, template.question]
    parts += list(template.styles.values())
    return {m.group(1) for p in parts if p for m in _VAR.finditer(p)}


def _check_limits(policy: InputPolicy, texts: list[str], n_messages: int, extra_chars: int = 0, also: tuple[list[str], ...] = ()) -> None:
    """``also``: more groups of text to match deny patterns on, each group joined (the tool
    definitions, the user turns run together); they do not count towards ``max_input_chars``."""
    if policy.max_messages is not None and n_messages > policy.max_messages:
        raise PolicyViolation(
            f"{n_messages} messages; the policy allows at most {policy.max_messages}",
            param="messages",
            code="too_many_messages",
        )
    total = sum(len(t) for t in texts) + extra_chars
    if policy.max_input_chars is not None and total > policy.max_input_chars:
        raise PolicyViolation(
            f"input is {total} characters; the policy allows at most {policy.max_input_chars}",
            param="messages",
            code="input_too_long",
        )
    if _denied(policy, texts) or any(_denied(policy, group) for group in also):
        raise PolicyViolation("the input matches a pattern this policy denies", param="messages", code="input_denied")


def _check_required(policy: InputPolicy, variables: dict[str, str]) -> None:
    missing = [name for name in policy.required if not variables.get(name)]
    if missing:
        raise PolicyViolation(
            f"missing required template variables: {', '.join(missing)} (send them in metadata)",
            param="metadata",
            code="missing_template_variable",
        )


def _style_text(template: Template, variables: dict[str, str]) -> str:
    style = variables.get("style") or template.default_style
    if style is None:
        return ""
    if style not in template.styles:
        allowed = ", ".join(sorted(template.styles)) or "none"
        raise PolicyViolation(
            f"style {style!r} is not allowed; allowed styles: {allowed}", param="style", code="style_not_allowed"
        )
    return render(template.styles[style], variables)


def _system_prompt(template: Template, variables: dict[str, str], client_system: str) -> str:
    parts = [render(p, variables) for p in (template.role, template.instruction) if p]
    style = _style_text(template, variables)
    if style:
        parts.append(style)
    if client_system:
        parts.append(client_system)
    if template.context:
        context = render(template.context, variables)
        if context.strip():
            parts.append("Context:\n" + context)
    return "\n\n".join(parts)


def prepare_chat(policy: InputPolicy, body: dict[str, Any]) -> Prepared:
    """Check and, in ``wrap`` mode, rewrite ``body['messages']`` in place."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages must be a non-empty list", param="messages")
    system_texts = [text_of(m.get("content")) for m in messages if m.get("role") in ("system", "developer")]
    user_msgs = [m for m in messages if m.get("role") == "user"]
    question = text_of(user_msgs[-1].get("content")) if user_msgs else ""
    if policy.mode == "off" and not (policy.deny_patterns or policy.max_input_chars or policy.max_messages):
        return Prepared(question=question)  # nothing to check: the common relay case stays cheap
    written = [t for m in messages for t in message_texts(m)]
    # the tool definitions, and the user's turns run together (a phrase split across them with
    # replies between still hits)
    also = ([t for m in user_msgs for t in message_texts(m)], tool_texts(body))
    if policy.mode == "off":
        _check_limits(policy, written, len(messages), also=also)
        return Prepared(question=question)

    variables = checked_variables(policy, body) if policy.mode == "wrap" else request_variables(body)
    used = template_variables(policy.template) | {"style"}
    var_chars = sum(len(v) for k, v in variables.items() if k in used) if policy.mode == "wrap" else 0
    _check_limits(policy, written, len(messages), var_chars, also)
    if system_texts and policy.client_system == "forbid":
        raise PolicyViolation(
            "this policy does not accept a system prompt from the client", param="messages", code="system_prompt_forbidden"
        )
    _check_required(policy, variables)
    if not user_msgs:
        raise PolicyViolation("the request has no user question", param="messages", code="missing_question")
    _style_text(policy.template, variables)  # an unknown style is refused in both modes
    consumed = sorted(k for k in variables if k in body and k in template_variables(policy.template) | {"style"})
    if policy.mode == "enforce":
        return Prepared(question=question, consumed=consumed)

    client_system = "\n\n".join(system_texts) if policy.client_system == "allow" else ""
    variables = {**variables, "question": question}
    tpl = policy.template
    new: list[dict[str, Any]] = []
    system = _system_prompt(tpl, variables, client_system)
    if system:
        new.append({"role": "system", "content": system})
    for ex in tpl.examples:
        new.append({"role": "user", "content": render(ex.question, variables)})
        new.append({"role": "assistant", "content": render(ex.answer, variables)})
    last_user = max(i for i, m in enumerate(messages) if m.get("role") == "user")
    history = [m for i, m in enumerate(messages[:last_user]) if m.get("role") not in ("system", "developer")]
    new.extend(history)
    new.append({"role": "user", "content": render(tpl.question, variables)})
    new.extend(messages[last_user + 1 :])
    body["messages"] = new
    for key in consumed:
        body.pop(key, None)
    return Prepared(question=question, wrapped=True, consumed=consumed)


def prepare_prompt(policy: InputPolicy, body: dict[str, Any]) -> Prepared:
    """The legacy completions endpoint: police the prompt; ``wrap`` renders the template as text."""
    prompt = body.get("prompt")
    if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt):
        texts = prompt
    elif isinstance(prompt, str):
        texts = [prompt]
    else:
        raise InvalidRequest("prompt must be a string or a list of strings", param="prompt")
    question = texts[-1] if texts else ""
    if policy.mode == "off":
        _check_limits(policy, texts, len(texts))
        return Prepared(question=question)
    variables = checked_variables(policy, body) if policy.mode == "wrap" else request_variables(body)
    used = template_variables(policy.template) | {"style"}
    var_chars = sum(len(v) for k, v in variables.items() if k in used) if policy.mode == "wrap" else 0
    _check_limits(policy, texts, len(texts), var_chars)
    _check_required(policy, variables)
    _style_text(policy.template, variables)
    if policy.mode == "enforce":
        return Prepared(question=question)
    # a list prompt is one completion per prompt: each one is wrapped
    wrapped = [_wrap_prompt(policy.template, variables, p) for p in texts]
    body["prompt"] = wrapped[0] if isinstance(prompt, str) else wrapped
    return Prepared(question=question, wrapped=True)


def _wrap_prompt(tpl: Template, variables: dict[str, str], prompt: str) -> str:
    variables = {**variables, "question": prompt}
    head = _system_prompt(tpl, variables, "")
    shots = "".join(
        f"{render(ex.question, variables)}\n{render(ex.answer, variables)}\n\n" for ex in tpl.examples
    )
    return (head + "\n\n" if head else "") + shots + render(tpl.question, variables)

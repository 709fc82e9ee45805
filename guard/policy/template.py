"""The input template: build (``wrap``) or police (``enforce``) the prompt. Pure functions.

Variables come from the request's ``metadata`` object and from extra top-level body fields, so a
client can send ``{"messages": [...], "metadata": {"product": "X"}}`` or ``"product": "X"``.
Substitution is a plain ``{name}`` replacement, never ``str.format``, so a variable cannot reach
into Python objects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from guard.errors import InvalidRequest, PolicyViolation
from guard.policy.schema import InputPolicy, Template

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
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    raise InvalidRequest("message content must be a string or a list of parts", param="messages")


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


def _check_limits(policy: InputPolicy, texts: list[str], n_messages: int) -> None:
    if policy.max_messages is not None and n_messages > policy.max_messages:
        raise PolicyViolation(
            f"{n_messages} messages; the policy allows at most {policy.max_messages}",
            param="messages",
            code="too_many_messages",
        )
    total = sum(len(t) for t in texts)
    if policy.max_input_chars is not None and total > policy.max_input_chars:
        raise PolicyViolation(
            f"input is {total} characters; the policy allows at most {policy.max_input_chars}",
            param="messages",
            code="input_too_long",
        )
    for pattern in policy.deny_patterns:
        for t in texts:
            if re.search(pattern, t, flags=re.IGNORECASE):
                raise PolicyViolation(
                    "the input matches a pattern this policy denies",
                    param="messages",
                    code="input_denied",
                )


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
    if policy.mode == "off":
        return Prepared(question=question)

    variables = request_variables(body)
    _check_limits(policy, [text_of(m.get("content")) for m in messages], len(messages))
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
        return Prepared(question=question)
    variables = request_variables(body)
    _check_limits(policy, texts, len(texts))
    _check_required(policy, variables)
    _style_text(policy.template, variables)
    if policy.mode == "enforce" or not isinstance(prompt, str):
        return Prepared(question=question)
    variables = {**variables, "question": prompt}
    tpl = policy.template
    head = _system_prompt(tpl, variables, "")
    shots = "".join(
        f"{render(ex.question, variables)}\n{render(ex.answer, variables)}\n\n" for ex in tpl.examples
    )
    body["prompt"] = (head + "\n\n" if head else "") + shots + render(tpl.question, variables)
    return Prepared(question=question, wrapped=True)

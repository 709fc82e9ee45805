"""Messages a policy sends to end users, in their language (pure functions).

A held, blocked or fallback answer's reader is an end user in a chat, not an API client: the
text is the policy's message in the user's language, chosen from the request's Accept-Language
header, else from the question itself (Chinese characters: zh), else English.
"""

from __future__ import annotations

import re

from guard.policy.schema import Policy

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


def accepted_languages(header: str | None) -> list[str]:
    """Primary language tags of an Accept-Language header, best first ("zh-CN;q=0.9" -> "zh")."""
    if not header:
        return []
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            name, _, value = p.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        primary = tag.strip().split("-")[0].lower()
        if primary and primary != "*" and q > 0:
            ranked.append((-q, i, primary))
    return [lang for _, _, lang in sorted(ranked)]


def pick_language(available: list[str], accept_language: str | None, question: str = "") -> str:
    for lang in accepted_languages(accept_language):
        if lang in available:
            return lang
    if _CJK.search(question or "") and "zh" in available:
        return "zh"
    return "en" if "en" in available or not available else available[0]


def hold_message(policy: Policy, review_id: str, accept_language: str | None = None, question: str = "") -> str:
    """What the caller of a held answer reads; ``hold.message``, when a policy sets it, wins."""
    if policy.hold.message is not None:
        return policy.hold.message.replace("{review_id}", review_id)
    messages = policy.decision.hold_message
    lang = pick_language(list(messages), accept_language, question)
    return messages.get(lang) or next(iter(messages.values()), "")


def end_user_message(policy: Policy, name: str, accept_language: str | None = None, question: str = "") -> str:
    """``decision.fallback_message`` or ``decision.block_message`` in the caller's language.

    The built-in Chinese translations apply only to the built-in texts: a policy that rewrote
    the message without giving translations gets its own text in every language.
    """
    d = policy.decision
    plain: str = getattr(d, name)
    own_text = name in d.model_fields_set
    table = d.translations.get(name, {}) if ("translations" in d.model_fields_set or not own_text) else {}
    if not table:
        return plain
    lang = pick_language(["en", *table], accept_language, question)
    return table.get(lang) or plain

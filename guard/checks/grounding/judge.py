"""An LLM judge as a verifier, through an injected ``ask(prompt) -> str`` function.

One prompt per answer (not per sentence): the numbered sentences with their evidence, and a
request to reply with one verdict per line. The proxy wires ``ask`` to its own backend
layer; tests pass a plain function. A reply that cannot be read gives "no opinion" for the
sentences it misses, so a confused judge never overrides the lexical score by accident.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import structlog

log = structlog.get_logger()

Ask = Callable[[str], str]

_PROMPT = """You check whether statements are supported by evidence.
For each numbered statement, answer SUPPORTED if the evidence states or clearly implies it,
and UNSUPPORTED if the evidence does not say it or contradicts it (wrong numbers, names or
dates are UNSUPPORTED). Reply with one line per statement, exactly in the form
<number>: SUPPORTED
or
<number>: UNSUPPORTED
and nothing else.

{items}"""

_ITEM = """[{n}] Evidence:
{evidence}
[{n}] Statement: {claim}
"""

_LINE_RE = re.compile(r"^\s*\[?(\d+)\]?\s*[:.)\-]\s*\**\s*(UNSUPPORTED|SUPPORTED|NOT SUPPORTED|YES|NO)\b",
                      re.IGNORECASE | re.MULTILINE)
_MAX_EVIDENCE_CHARS = 1500


def build_prompt(pairs: Sequence[tuple[str, str]]) -> str:
    items = "\n".join(
        _ITEM.format(n=i, evidence=evidence[:_MAX_EVIDENCE_CHARS].strip() or "(none)", claim=claim.strip())
        for i, (claim, evidence) in enumerate(pairs, start=1)
    )
    return _PROMPT.format(items=items)


def parse_verdicts(reply: str, n: int) -> list[float | None]:
    """1.0 for SUPPORTED/YES, 0.0 for UNSUPPORTED/NO, None where the reply says nothing."""
    verdicts: list[float | None] = [None] * n
    for m in _LINE_RE.finditer(reply):
        idx = int(m.group(1)) - 1
        if 0 <= idx < n and verdicts[idx] is None:
            word = m.group(2).upper()
            verdicts[idx] = 1.0 if word in {"SUPPORTED", "YES"} else 0.0
    return verdicts


class JudgeVerifier:
    name = "judge"

    def __init__(self, ask: Ask) -> None:
        self.ask = ask

    def verify(self, pairs: Sequence[tuple[str, str]]) -> list[float | None]:
        if not pairs:
            return []
        reply = self.ask(build_prompt(pairs))
        verdicts = parse_verdicts(reply, len(pairs))
        if any(v is None for v in verdicts):
            log.warning("judge.unreadable", missing=sum(v is None for v in verdicts), reply=reply[:200])
        return verdicts

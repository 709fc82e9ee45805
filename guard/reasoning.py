"""Keeping a reasoning model's thinking apart from its answer.

DeepSeek-R1 and its distills either put the thinking in a ``reasoning_content`` field (vLLM and
SGLang with a reasoning parser) or inline as ``<think>...</think>`` at the start of the content.
Some chat templates open ``<think>`` in the prompt, so the output starts mid-thought and only the
closing tag appears; the model config says so (``think_opened_in_prompt``), because a bare
``</think>`` in any other answer is answer text: taking everything before it as reasoning would
let a model (or a prompt injection) hide text from the answer's checks. Stream and non-stream
split the same way. The policy decides whether the client sees the reasoning (always as
``reasoning_content``, the field clients already understand) and how it is checked.
"""

from __future__ import annotations

OPEN, CLOSE = "<think>", "</think>"


def split_think(content: str, *, opened: bool = False) -> tuple[str | None, str]:
    """(reasoning, answer) from a complete message content.

    Reasoning is a leading ``<think>...</think>`` block or, when the prompt ``opened`` the
    block, everything up to the first ``</think>``. Nothing else is.
    """
    if opened:
        if CLOSE in content:
            reasoning, answer = content.split(CLOSE, 1)
            return reasoning.strip(), answer.lstrip()
        return content.strip(), ""  # cut off while thinking, as the stream would read it
    stripped = content.lstrip()
    if stripped.startswith(OPEN):
        rest = stripped[len(OPEN):]
        if CLOSE in rest:
            reasoning, answer = rest.split(CLOSE, 1)
            return reasoning.strip(), answer.lstrip()
        return rest.strip(), ""  # cut off while thinking: no answer yet
    return None, content


class ThinkSplitter:
    """The streaming counterpart of ``split_think``: feed content deltas, get (reasoning, answer) deltas.

    Text that might be the start of a tag is held back until it can be told apart, so a tag split
    across two chunks never leaks into the answer.
    """

    def __init__(self, *, opened: bool = False) -> None:
        # opened: the prompt already opened <think>, so the output starts inside the reasoning
        self._state = "thinking" if opened else "start"  # start -> thinking -> answer
        self._buf = ""

    @property
    def settled(self) -> bool:
        """Past any reasoning: from here on every delta is answer text, passed on unchanged."""
        return self._state == "answer"

    def feed(self, delta: str) -> tuple[str, str]:
        self._buf += delta
        reasoning, answer = "", ""
        while True:
            if self._state == "start":
                s = self._buf.lstrip()
                if not s:
                    return reasoning, answer
                if s.startswith(OPEN):
                    self._buf = s[len(OPEN):]
                    self._state = "thinking"
                    continue
                if OPEN.startswith(s):
                    return reasoning, answer  # could still become <think>
                # no tag at the start: this is an answer, whatever tags come later (a model whose
                # prompt opens <think> is configured with think_opened_in_prompt)
                self._state = "answer"
                continue
            if self._state == "thinking":
                if CLOSE in self._buf:
                    before, after = self._buf.split(CLOSE, 1)
                    reasoning += before
                    self._buf = after.lstrip()
                    self._state = "answer"
                    continue
                keep = _partial_suffix(self._buf, CLOSE)
                reasoning += self._buf[: len(self._buf) - keep]
                self._buf = self._buf[len(self._buf) - keep:]
                return reasoning, answer
            answer += self._buf
            self._buf = ""
            return reasoning, answer

    def flush(self) -> tuple[str, str]:
        buf, self._buf = self._buf, ""
        if self._state == "thinking":
            return buf, ""
        return "", buf


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``tag``."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0

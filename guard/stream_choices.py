"""Buffered streams with ``n`` > 1: every choice read whole, checked at once, then replayed.

The same contract as a single buffered stream (``guard.streaming``): the decision is known before
the first byte, so it is in the headers; each choice gets its own verdict and its approved (or
replacement) text; the reported decision is the most severe (``guard.pipeline.most_severe``),
and the ``guard`` object on the last finish chunk lists each choice's verdict. Only ``buffer``
mode takes ``n`` > 1: a sentence or observed stream would interleave verdicts with text.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from guard.responses import chunk, replacement_choice
from guard.streaming import _finish, _Reasoning, read_choices, sse

if TYPE_CHECKING:
    from guard.calls import Call, Verdict
    from guard.pipeline import Pipeline


async def open_buffered_choices(pipeline: "Pipeline", call: "Call", headers: dict[str, str], source: AsyncIterator[dict[str, Any]], reasoning: _Reasoning) -> tuple[dict[str, str], AsyncIterator[bytes]]:
    from guard.calls import most_severe

    body = await read_choices(call, source, reasoning)
    indices = sorted(body["texts"])
    verdicts = list(await asyncio.gather(*(pipeline.judge(call, "".join(body["texts"][i]), None) for i in indices)))
    worst = most_severe(verdicts) if verdicts else None
    if worst is not None:
        headers["x-guard-decision"] = worst.action
        headers["x-guard-confidence"] = f"{worst.confidence:.3f}"
    return headers, _replay_choices(pipeline, call, body, indices, verdicts, worst)


async def _replay_choices(pipeline: "Pipeline", call: "Call", body: dict[str, Any], indices: list[int], verdicts: list["Verdict"], worst: "Verdict | None") -> AsyncIterator[bytes]:
    first = body["first"] or {}
    ep, name = call.endpoint, call.public_model
    finals = []
    for i, verdict in zip(indices, verdicts):
        yield sse(chunk(ep, first, model=name, choices=[replacement_choice(ep, i, verdict.text, None, stream=True)]))
        finish = verdict.finish_reason or body["finish"].get(i, "stop")
        finals.append(chunk(ep, first, model=name, choices=[replacement_choice(ep, i, "", finish, stream=True)]))
    for final in finals[:-1]:
        yield sse(final)
    last = finals[-1] if finals else chunk(ep, first, model=name, choices=[replacement_choice(ep, 0, "", "stop", stream=True)])
    per_choice = [{"index": i, **v.as_dict(annotate=False)} for i, v in zip(indices, verdicts)]
    annotate = worst is not None and worst.action in ("annotate", "hold")
    for b in await _finish(pipeline, call, last, worst, body["usage"], annotate, body.get("pieces", 0), choices=per_choice):
        yield b

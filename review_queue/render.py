"""Turn an item's answer and annotation into pieces a template can show (pure functions).

The annotation comes from the checks as JSON: ``{"sentences": [{"text", "start", "end",
"support", "unsupported", "reasons", "evidence": [{"passage_id", "source", "span", "score"}]}]}``.
It is data from another component and the answer is untrusted text, so nothing here builds
HTML: the template escapes every piece.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class EvidenceView:
    passage_id: str
    source: str
    span: str
    score: float | None


@dataclass(frozen=True)
class SentenceView:
    number: int
    text: str
    support: float | None
    unsupported: bool
    reasons: list[str] = field(default_factory=list)
    evidence: list[EvidenceView] = field(default_factory=list)


@dataclass(frozen=True)
class Segment:
    text: str
    sentence: SentenceView | None = None  # None: text between annotated sentences


def sentences(annotation: dict[str, Any]) -> list[SentenceView]:
    raw = annotation.get("sentences") if isinstance(annotation, dict) else None
    views = []
    for i, s in enumerate(raw if isinstance(raw, list) else [], start=1):
        if not isinstance(s, dict):
            continue
        evidence = [
            EvidenceView(
                passage_id=str(e.get("passage_id", "")),
                source=str(e.get("source", "")),
                span=str(e.get("span", "")),
                score=_number(e.get("score")),
            )
            for e in s.get("evidence") or []
            if isinstance(e, dict)
        ]
        views.append(
            SentenceView(
                number=i,
                text=str(s.get("text", "")),
                support=_number(s.get("support")),
                unsupported=bool(s.get("unsupported")),
                reasons=[str(r) for r in s.get("reasons") or []],
                evidence=evidence,
            )
        )
    return views


def segments(answer: str, annotation: dict[str, Any]) -> list[Segment]:
    """Split the answer at the annotated sentences, in order, covering every character once.

    Offsets are used when they point at the sentence's text; otherwise the text is searched
    for after the previous sentence (offsets can drift when an answer was rewritten).
    """
    raw = annotation.get("sentences") if isinstance(annotation, dict) else None
    raw = raw if isinstance(raw, list) else []
    out: list[Segment] = []
    cursor = 0
    for view, s in zip(sentences(annotation), [s for s in raw if isinstance(s, dict)]):
        start = _locate(answer, view.text, s.get("start"), cursor)
        if start is None:
            continue
        end = start + len(view.text)
        if start > cursor:
            out.append(Segment(answer[cursor:start]))
        out.append(Segment(answer[start:end], view))
        cursor = end
    if cursor < len(answer):
        out.append(Segment(answer[cursor:]))
    return out


def _locate(answer: str, text: str, start: Any, cursor: int) -> int | None:
    if not text:
        return None
    if isinstance(start, int) and start >= cursor and answer[start:start + len(text)] == text:
        return start
    found = answer.find(text, cursor)
    return found if found >= 0 else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def age(seconds: float | None) -> str:
    """A short human duration: 45s, 12m, 3h, 2d."""
    if seconds is None:
        return "–"
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def since(t: float | None, now: float | None = None) -> str:
    return age(None if t is None else (now or time.time()) - t)


def until(t: float | None, now: float | None = None) -> str:
    if t is None:
        return "–"
    left = t - (now or time.time())
    return age(left) if left >= 0 else "-" + age(-left)


def clock(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else "–"

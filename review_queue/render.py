"""Turn an item's answer and annotation into pieces a template can show (pure functions).

The annotation comes from the checks as JSON: ``{"sentences": [{"text", "start", "end",
"support", "unsupported", "reasons", "codes", "evidence": [{"passage_id", "source", "span", "score",
"title"?, "document"?}]}]}``; ``codes`` (reason codes with parameters) and the evidence's
``title``/``document`` (request documents) are optional, since older items lack them.
It is data from another component and the answer is untrusted text, so nothing here builds
HTML: the template escapes every piece.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from review_queue.explain import Piece, mark_claim, mark_evidence, reason_texts


@dataclass(frozen=True)
class EvidenceView:
    passage_id: str
    source: str
    span: str
    score: float | None  # the retrieval score of the passage
    title: str = ""  # a request document's title, when the caller gave one
    document: str = ""  # a request document's name or id
    pieces: list[Piece] = field(default_factory=list)  # the span, matched and conflicting words marked


@dataclass(frozen=True)
class SentenceView:
    number: int
    text: str
    support: float | None
    unsupported: bool
    reasons: list[str] = field(default_factory=list)  # in the page's language
    evidence: list[EvidenceView] = field(default_factory=list)
    pieces: list[Piece] = field(default_factory=list)  # the claim, the words its reasons name marked


@dataclass(frozen=True)
class Segment:
    text: str
    sentence: SentenceView | None = None  # None: text between annotated sentences


def sentences(annotation: dict[str, Any], lang: str = "en") -> list[SentenceView]:
    raw = annotation.get("sentences") if isinstance(annotation, dict) else None
    views = []
    for i, s in enumerate(raw if isinstance(raw, list) else [], start=1):
        if not isinstance(s, dict):
            continue
        text = str(s.get("text", ""))
        codes = [c for c in s.get("codes") or [] if isinstance(c, dict)]
        evidence = [
            EvidenceView(
                passage_id=str(e.get("passage_id", "")),
                source=str(e.get("source", "")),
                span=str(e.get("span", "")),
                score=_number(e.get("score")),
                title=str(e.get("title") or ""),
                document=str(e.get("document") or ""),
                pieces=mark_evidence(text, str(e.get("span", "")), codes),
            )
            for e in s.get("evidence") or []
            if isinstance(e, dict)
        ]
        views.append(
            SentenceView(
                number=i,
                text=text,
                support=_number(s.get("support")),
                unsupported=bool(s.get("unsupported")),
                reasons=reason_texts(s, lang),
                evidence=evidence,
                pieces=mark_claim(text, codes),
            )
        )
    return views


def segments(answer: str, annotation: dict[str, Any], lang: str = "en") -> list[Segment]:
    """Split the answer at the annotated sentences, in order, covering every character once.

    Offsets are used when they point at the sentence's text; otherwise the text is searched
    for after the previous sentence (offsets can drift when an answer was rewritten).
    """
    raw = annotation.get("sentences") if isinstance(annotation, dict) else None
    raw = raw if isinstance(raw, list) else []
    out: list[Segment] = []
    cursor = 0
    for view, s in zip(sentences(annotation, lang), [s for s in raw if isinstance(s, dict)]):
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


def readable(
    detail: Any, key_label: Callable[[str], str] | None = None, value_label: Callable[[str, str], str] | None = None
) -> str:
    """An audit event's detail as text a person reads: ``key: value`` pairs, characters unescaped.

    (Jinja's ``tojson`` writes non-ASCII as ``\\u`` escapes (``\\u4e2d`` for 中), which makes a Chinese reason unreadable.)
    ``key_label`` names the keys in the page's language, ``value_label(key, value)`` the values
    that are names (an item's kind); times (``*_until``, ``*_at``) are shown as clock times.
    """
    name = key_label or (lambda k: k)
    if isinstance(detail, dict):
        parts = []
        for k, v in detail.items():
            if str(k).endswith(("_until", "_at")) and isinstance(v, (int, float)):
                shown = clock(v)
            elif value_label is not None and isinstance(v, str):
                shown = value_label(str(k), v)
            else:
                shown = readable(v, key_label, value_label)
            parts.append(f"{name(str(k))}: {shown}")
        return "; ".join(parts)
    if isinstance(detail, list):
        return ", ".join(readable(v, key_label, value_label) for v in detail)
    if detail is None:
        return "–"
    if isinstance(detail, float):
        return f"{detail:.3f}".rstrip("0").rstrip(".")
    return str(detail)

"""The request documents of a held item, as the reviewer page shows them: each document's name,
its text, and the spans the check cited from it (so the reviewer sees the evidence the check saw)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DocumentView:
    label: str  # the id, else the title, else documents[i] / context / tool
    title: str | None
    kind: str
    text: str
    truncated: int | None  # the original length when the stored text was cut
    cited: list[str] = field(default_factory=list)  # "[2] span", by sentence number


def _label(d: dict[str, Any]) -> str:
    if d.get("id"):
        return str(d["id"])
    if d.get("title"):
        return str(d["title"])
    if d.get("kind") == "document":
        return f"documents[{d.get('position')}]"
    return str(d.get("source") or d.get("kind") or "?")


def _same(e: dict[str, Any], d: dict[str, Any]) -> bool:
    if e.get("kind") != d.get("kind"):
        return False
    if d.get("kind") == "document":
        return e.get("document") == d.get("position")
    return e.get("source") == (d.get("source") or d.get("kind"))


def document_views(documents: list[dict[str, Any]], annotation: dict[str, Any]) -> list[DocumentView]:
    sentences = annotation.get("sentences") if isinstance(annotation, dict) else None
    views = []
    for d in documents if isinstance(documents, list) else []:
        if not isinstance(d, dict):
            continue
        cited = [
            f"[{n}] {e.get('span', '')}"
            for n, s in enumerate(sentences if isinstance(sentences, list) else [], start=1)
            if isinstance(s, dict)
            for e in s.get("evidence") or []
            if isinstance(e, dict) and _same(e, d)
        ]
        views.append(DocumentView(_label(d), d.get("title"), str(d.get("kind", "document")), str(d.get("text", "")),
                                  d.get("truncated"), cited))
    return views

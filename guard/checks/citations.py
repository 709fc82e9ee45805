"""Label citations of request evidence with the document they come from.

The grounding check cites passages by id and source, the same for every retriever. A passage
cut from a request's documents carries (in its metadata) which document it belongs to and where
it starts; this fills those into the ``Evidence`` so the client, the SSE verdict and the
reviewer see "documents[2] 'Pricing', characters 120-180" beside citations from the index.
Done after the check, so how support is scored is untouched.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from guard.checks.base import CheckReport, Evidence


def _labelled(e: Evidence, passage: Any) -> Evidence:
    meta = passage.metadata
    start = end = None
    offset = meta.get("offset")
    at = passage.text.find(e.span) if e.span else -1
    if offset is not None and at >= 0:
        start = int(offset) + at
        end = start + len(e.span)
    return replace(
        e,
        kind=meta.get("kind"),
        document=meta.get("document"),
        document_id=meta.get("document_id"),
        title=meta.get("title"),
        span_start=start,
        span_end=end,
    )


def label_citations(report: CheckReport, retriever: Any) -> CheckReport:
    """Name the document of every citation that comes from request evidence (in place)."""
    get = getattr(retriever, "get", None)
    if get is None:
        return report
    for sentence in report.sentences:
        labelled = []
        for e in sentence.evidence:
            passage = get(e.passage_id)
            labelled.append(_labelled(e, passage) if passage is not None and "kind" in passage.metadata else e)
        sentence.evidence = labelled
    return report

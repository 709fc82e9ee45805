"""Verdicts a client sees in the text itself, for apps that never read the ``guard`` object.

LangChain, LlamaIndex and most chat front ends keep only the text and ``finish_reason``; the
``x-guard-*`` headers exist only where the decision is known before the answer starts (whole
answers and buffered streams). So a policy may ask, under ``visible``, for:

- ``footnotes``: an ``annotate`` answer gets its citations as numbered markers after the
  supported sentences and a list of the sources at the end;
- ``held_notice``: an ``observe`` stream that was already sent but then held (or blocked) for
  review ends with this one line, so the reader knows it is being checked;
- ``withheld_finish_reason``: the finish reason of an answer guard replaced (block, fallback,
  hold): ``content_filter`` by default, which every client library exposes.

Pure text functions; the pipeline and the streaming layer decide where they apply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from guard.checks.base import CheckReport

if TYPE_CHECKING:
    from guard.policy.schema import VisiblePolicy


def sources(report: CheckReport) -> list[str]:
    """The cited sources, in the order the answer first cites them."""
    seen: list[str] = []
    for s in report.sentences:
        if s.unsupported:
            continue
        for e in s.evidence[:1]:
            if e.source and e.source not in seen:
                seen.append(e.source)
    return seen


def footnotes(text: str, report: CheckReport) -> str:
    """``text`` with a ``[n]`` marker after each supported sentence and the sources listed.

    Markers go in only where the report's offsets still point at its sentences (a masked answer
    has moved them); the list is added either way. An answer with no citation is unchanged.
    """
    cited = sources(report)
    if not cited:
        return text
    number = {src: i + 1 for i, src in enumerate(cited)}
    marks = []
    for s in report.sentences:
        if s.unsupported or not s.evidence or s.evidence[0].source not in number:
            continue
        if text[s.start:s.end] != s.text:
            marks = []
            break
        marks.append((s.end, f"[{number[s.evidence[0].source]}]"))
    out = text
    for end, mark in sorted(marks, reverse=True):
        out = out[:end] + mark + out[end:]
    return f"{out.rstrip()}\n\n{source_list(report)}"


def source_list(report: CheckReport) -> str:
    """``[1] source`` lines, one per cited source ("" when nothing is cited)."""
    return "\n".join(f"[{i + 1}] {src}" for i, src in enumerate(sources(report)))


def observed_addition(action: str, report: CheckReport, visible: "VisiblePolicy", review_id: str | None) -> str:
    """What an ``observe`` stream adds after the answer it already sent, if anything: the
    sources of an annotated answer, the notice of a held or blocked one."""
    if action == "annotate" and visible.footnotes:
        listing = source_list(report)
        return "\n\n" + listing if listing else ""
    if action in ("hold", "block") and visible.held_notice:
        return "\n\n" + visible.held_notice.replace("{review_id}", review_id or "-").strip()
    return ""

"""Why a claim was flagged, in pieces a template can show: marked evidence, reasons, an edit's diff.

Pure functions over untrusted text: they return (kind, text) pieces and never build HTML, so
the template escapes every piece. The marks are computed here, from the claim and the evidence
span, with the same tokens and numbers the grounding check uses: a reviewer sees which words
and numbers of the passage the claim shares ("match"), and which ones the check's reason codes
name as conflicting ("conflict": a different number where the claim's is missing, or the
``evidence_word`` of a contradiction).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from guard.text.numbers import extract_quantities, same_value
from guard.text.tokens import STOPWORDS, stem

_WORD_RE = re.compile(r"[A-Za-z][A-Za-z'’\-]*[A-Za-z]|[A-Za-z]")
_CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Chinese characters that join every sentence: marking them would mark everything.
_CJK_COMMON = frozenset("的了是在和与及或有为这那也就都而且个中上下不一我你他她它们之其")
# Reason codes whose claim-side number has no match in the evidence: the evidence's own
# numbers are then the conflicting ones.
_NUMBER_CODES = frozenset({"number_missing", "number_mismatch", "year_missing"})


@dataclass(frozen=True)
class Piece:
    kind: str  # "text", "match", "number", "conflict"
    text: str


def reason_texts(sentence: dict[str, Any], lang: str) -> list[str]:
    """The sentence's reasons in ``lang``: rendered from its codes, else its English text (old items)."""
    codes = [c for c in sentence.get("codes") or [] if isinstance(c, dict) and c.get("code")]
    if codes:
        from guard.checks.grounding.reasons import render

        return [render(c, lang) for c in codes]
    return [str(r) for r in sentence.get("reasons") or []]


def conflict_words(codes: list[dict[str, Any]]) -> tuple[set[str], set[str]]:
    """(evidence-side words, claim-side words) that the codes name as conflicting."""
    evidence, claim = set(), set()
    for c in codes:
        params = c.get("params") if isinstance(c, dict) else None
        if not isinstance(params, dict):
            continue
        if params.get("evidence_word"):
            evidence.add(str(params["evidence_word"]).casefold())
        for key in ("claim_word", "value"):
            if params.get(key):
                claim.add(str(params[key]).casefold())
        if c.get("code") == "unstated_addition" and params.get("words"):
            # what the claim adds to the question that the evidence never states, one word each
            claim.update(w.strip().casefold() for w in str(params["words"]).split(",") if w.strip())
    return evidence, claim


def mark_evidence(claim: str, span: str, codes: list[dict[str, Any]] | None = None) -> list[Piece]:
    """``span`` cut into pieces: words and numbers it shares with ``claim``, conflicting ones, the rest."""
    codes = codes or []
    evidence_conflicts, _ = conflict_words(codes)
    claim_values = [q.value for q in extract_quantities(claim)]
    # the kinds (year or not) of the claim's numbers the codes say are missing: the evidence's
    # numbers of the same kind are the ones they conflict with
    missing = [q for c in codes if isinstance(c, dict) and c.get("code") in _NUMBER_CODES
               for q in extract_quantities(str((c.get("params") or {}).get("value", "")))]
    conflict_kinds = {q.is_year for q in missing}
    claim_stems = {stem(w) for w in _words(claim) if w not in STOPWORDS}
    claim_cjk = {ch for ch in _CJK_RE.findall(claim) if ch not in _CJK_COMMON}
    marks: list[tuple[int, int, str]] = []
    for q in extract_quantities(span):
        if any(same_value(q.value, v) for v in claim_values):
            marks.append((q.start, q.end, "number"))
        elif q.is_year in conflict_kinds:
            marks.append((q.start, q.end, "conflict"))
    for m in _WORD_RE.finditer(span):
        word = m.group(0).lower().replace("’", "'")
        if word.casefold() in evidence_conflicts:
            marks.append((m.start(), m.end(), "conflict"))
        elif word not in STOPWORDS and len(word) > 1 and stem(word) in claim_stems:
            marks.append((m.start(), m.end(), "match"))
    for m in _CJK_RE.finditer(span):
        if m.group(0) in claim_cjk:
            marks.append((m.start(), m.end(), "match"))
    for word in evidence_conflicts:  # Chinese conflict words are not found as English words
        if _CJK_RE.search(word):
            for m in re.finditer(re.escape(word), span):
                marks.append((m.start(), m.end(), "conflict"))
    return _cut(span, marks)


def mark_claim(claim: str, codes: list[dict[str, Any]]) -> list[Piece]:
    """The claim with the words and numbers its reason codes name (missing, contradicted) marked."""
    _, words = conflict_words(codes)
    marks = []
    for word in words:
        for m in re.finditer(re.escape(word), claim, flags=re.IGNORECASE):
            marks.append((m.start(), m.end(), "conflict"))
    return _cut(claim, marks)


def _words(text: str) -> list[str]:
    return [w.lower().replace("’", "'") for w in _WORD_RE.findall(text)]


def _cut(text: str, marks: list[tuple[int, int, str]]) -> list[Piece]:
    """Pieces covering ``text`` once; where marks overlap, the earlier-starting (then "conflict") wins."""
    priority = {"conflict": 0, "number": 1, "match": 2}
    pieces: list[Piece] = []
    cursor = 0
    for start, end, kind in sorted(marks, key=lambda m: (m[0], priority[m[2]], -m[1])):
        if start < cursor:
            continue
        if start > cursor:
            pieces.append(Piece("text", text[cursor:start]))
        pieces.append(Piece(kind, text[start:end]))
        cursor = end
    if cursor < len(text):
        pieces.append(Piece("text", text[cursor:]))
    return _merge(pieces)


def _merge(pieces: list[Piece]) -> list[Piece]:
    out: list[Piece] = []
    for p in pieces:
        if out and out[-1].kind == p.kind == "text":
            out[-1] = Piece("text", out[-1].text + p.text)
        else:
            out.append(p)
    return out


# ---------------------------------------------------------------------- edits


def normalise(text: str) -> str:
    """For comparing answers and questions: NFKC, case-folded, whitespace collapsed, end punctuation dropped."""
    text = unicodedata.normalize("NFKC", text or "").casefold()
    text = " ".join(text.split())
    return text.rstrip(" .!?。！？")


def changed(original: str, final: str) -> bool:
    """Whether the reviewer changed the answer (line endings and surrounding blanks do not count)."""
    return final.replace("\r\n", "\n").strip() != (original or "").replace("\r\n", "\n").strip()


def diff(original: str, final: str) -> list[Piece]:
    """Word-level diff as pieces: "same", "del" (removed), "ins" (added)."""
    a, b = _diff_tokens(original), _diff_tokens(final)
    out: list[Piece] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(Piece("same", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(Piece("del", "".join(a[i1:i2])))
        if j2 > j1:
            out.append(Piece("ins", "".join(b[j1:j2])))
    return out


def _diff_tokens(text: str) -> list[str]:
    # words, single CJK characters, runs of spaces, single punctuation marks
    return re.findall(r"[\u3400-\u9fff]|\w+|\s+|[^\w\s]", text or "")


def still_unsupported(sentences: list[dict[str, Any]], final: str) -> list[str]:
    """Flagged claims of the original answer that the final answer still contains.

    The review page cannot re-run the checks, so an edited answer counts as fixed where the
    reviewer removed or rewrote the flagged sentence, and as still unsupported where it is left.
    """
    have = normalise(final)
    out = []
    for s in sentences:
        text = str(s.get("text", "")) if isinstance(s, dict) else ""
        if s.get("unsupported") and text.strip() and normalise(text) in have:
            out.append(text.strip())
    return out

"""Both answer forms for both labels: a short pick and a full sentence, right and wrong.

Why: in HaluEval QA the right answers are bare picks ("Karl Shapiro", mean 2.2 words) and the
hallucinations full sentences ("Woody Allen was appointed the fifth Poet Laureate ... in
1946.", mean 11). A verifier that reads the question learns "a sentence = hallucinated" from
those rows, and then flags every well-formed chat answer (docs/calibration.md). Dropping rows
until the lengths match (``--match-lengths``) throws most of the file away. Here each record
whose hallucination is a sentence around one wrong span gives two more rows made of its own
words: the sentence with the right answer put in the span (grounded), and the wrong span alone
(hallucinated). Each label then comes in both forms, and the model has to read the facts.

A record is a grounded and a hallucinated row with the same context and question. The wrong
span is the one run of the sentence's content words that the question does not contain
("Woody Allen" in the sentence above is in the question, so that record gives nothing: its
wrong pick is not a run of new words). Only spans that look like a fact (a name or figure, at
most ``MAX_SPAN_WORDS``) are replaced, and only by a right answer of the same kind, so the new
sentences stay grammatical: "The Queen Paola Foundation was started by King Baudouin." becomes
"... by King Albert II." (grounded) and "King Baudouin" (hallucinated).

Measured (docs/calibration.md): a question-reading verifier trained with these rows no longer
learns length, and reads HaluEval QA worse than the lexical check; the option stays for
operators' own rows and for a stronger base model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

MAX_SPAN_WORDS = 6
MIN_SENTENCE_WORDS = 5  # shorter hallucinations are picks already

_TOKEN = re.compile(r"\w[\w'.,-]*\w|\w|[^\w\s]")
_GLUE = frozenset(
    "a an the of in on at to for by with and or is was were are be been has had have it its "
    "this that as from his her their which who what de la le von van der".split()
)
_FACT = re.compile(r"[A-Z0-9\"'“]")  # a name, a figure, or a quoted title starts this way
_NOT_A_FACT = frozenset("none yes no neither nobody nothing not both only all".split())  # capitalised, yet no pick


def sentence_forms(rows: Sequence[Any]) -> list[Any]:
    """The extra rows (``model_copy`` of the originals, ids suffixed ``/sentence`` and
    ``/pick``) for every record where a wrong span can be found."""
    records: dict[tuple[str, str], dict[int, list[Any]]] = {}
    for r in rows:
        records.setdefault((r.context, r.question), {0: [], 1: []})[r.label].append(r)
    extra: list[Any] = []
    for (_, question), sides in records.items():
        if len(sides[0]) != 1 or len(sides[1]) != 1 or not question.strip():
            continue
        right, wrong = sides[0][0], sides[1][0]
        made = swapped(question, wrong.answer, right.answer)
        if made is None:
            continue
        sentence, pick = made
        extra.append(right.model_copy(update={"id": f"{right.id}/sentence", "answer": sentence}))
        extra.append(wrong.model_copy(update={"id": f"{wrong.id}/pick", "answer": pick}))
    return extra


def swapped(question: str, wrong: str, right: str) -> tuple[str, str] | None:
    """(the wrong sentence with ``right`` in its wrong span, the wrong span alone), or None."""
    right = right.strip().rstrip(".").strip()
    if len(wrong.split()) < MIN_SENTENCE_WORDS or not right or len(right.split()) > MAX_SPAN_WORDS:
        return None
    span = wrong_span(question, wrong)
    if span is None:
        return None
    start, end = span
    pick = wrong[start:end]
    if not (_fact(pick) and _fact(right)) or pick.lower() == right.lower():
        return None
    return wrong[:start] + right + wrong[end:], pick


def _fact(text: str) -> bool:
    return bool(_FACT.match(text)) and text.split()[0].lower().strip(",.") not in _NOT_A_FACT


def wrong_span(question: str, sentence: str) -> tuple[int, int] | None:
    """Character offsets of the one run of content words in ``sentence`` that ``question``
    lacks, or None when there is none, more than one, or it is too long."""
    asked = {m.group().lower() for m in _TOKEN.finditer(question)}
    tokens = list(_TOKEN.finditer(sentence))
    new = {i for i, m in enumerate(tokens) if _is_new(m.group(), asked)}
    if not new:
        return None
    first, last = min(new), max(new)
    between = [tokens[i].group() for i in range(first, last + 1) if i not in new]
    if any(w.lower() in asked and w.lower() not in _GLUE and w[0].isalnum() for w in between):
        return None  # two runs with the question's words between them
    if sum(1 for i in range(first, last + 1) if tokens[i].group()[0].isalnum()) > MAX_SPAN_WORDS:
        return None
    return tokens[first].start(), tokens[last].end()


def _is_new(token: str, asked: set[str]) -> bool:
    low = token.lower()
    return token[0].isalnum() and low not in asked and low not in _GLUE

"""Claims, not sentences: what in an answer states a fact that the knowledge must back.

An answer mixes facts with talk: greetings, thanks, apologies, agreement ("That is right."),
questions back to the user, first-person feelings and opinions, and hedges ("I don't know about
the history, but ..."). Grading talk against the knowledge gives it low support (its words are
not in any passage), so harmless replies used to sink the confidence of grounded answers. Here
each sentence is cut into clauses, and every piece gets a ``kind``:

- ``claim``: states something; graded by the grounding check;
- ``chitchat``: greeting, thanks, apology, agreement, pleasantry, discourse marker ("Well,"),
  framing ("According to the context,", "Here are the key points:", a markdown heading);
- ``hedge``: uncertainty about itself only ("I'm not sure,", "I think", "我记得不太清楚");
- ``question``: a question back to the user;
- ``opinion``: a first-person feeling or opinion ("I love that song", "太棒了");
- ``refusal``: the whole sentence declines to answer (see ``refusal.py``).

Only ``claim`` pieces are graded, and a hedge or a pleasantry exempts only its own clause:
"I don't know about the history, but it is one of the major forms of throwing sports" grades the
second clause. A clause that states nothing on its own ("and 128K context", "据了解") stays with
its neighbour instead of being graded alone. The rules (``talk.py``) are regular expressions over one clause, in
English and Chinese: microseconds per answer, no model. They lean towards ``claim``: a clause
with a figure is always graded, "Did you know that X?" grades X, and a bare "Yes." answering a
yes/no question is graded as the question's statement (it asserts it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from guard.checks.grounding.refusal import CONCESSIONS, ZH_DOES, is_refusal
from guard.checks.grounding.talk import (
    ASKS_BACK, BARE_YES, OPINION_FRAME_EN, PREFIXES, Kind, classify, is_polar_question, only_judges, whole_kind,
)
from guard.text import cjk, tokens
from guard.text.sentences import LIST_MARKER, Span, split_sentences

CHECKED: Kind = "claim"


@dataclass(frozen=True, slots=True)
class ClaimSpan:
    """One piece of the answer, with offsets into it, its kind and why (a reason code name)."""

    text: str
    start: int
    end: int
    kind: Kind = "claim"
    why: str = ""  # "greeting", "thanks", "hedge", ... (a code in reasons.TEMPLATES); "" for claims
    checked_as: str = ""  # the text graded instead of ``text`` (a bare "Yes" to a yes/no question)
    sentence: str = ""  # the whole sentence a clause comes from: its words help find the evidence

    @property
    def checked(self) -> bool:
        return self.kind == CHECKED

    @property
    def graded_text(self) -> str:
        return self.checked_as or self.text


# ------------------------------------------------------------------ clause boundaries

# English: a semicolon; "but", "whereas", "while" after a comma; "and" before a new subject
# (a pronoun or determiner), with or without a comma. The joint word stays with the right-hand
# clause. "A, B and C are open models" is not cut: the pieces would state nothing alone.
#
# Three more joints part a statement from talk that would otherwise claim the whole sentence:
# a question tagged on after a comma ("It is a mystery novel, do you like that genre?"), what
# a hedge concedes ("I don't know much about them other than they play basketball"), and a
# fact recalled inside an opinion ("I like basketball and remember that Halas played both").
_EN_JOINT = re.compile(
    r";\s+"
    r"|,\s+(?=(?:but|yet|whereas|while|though|however)\b)"
    r"|\s+(?=but\s)"
    r"|,?\s+(?=and\s+(?:also\s+|then\s+|now\s+|later\s+)?(?:it|he|she|they|we|i|you|this|that|these|those|there|its|his|her|their|the)\s)"
    r"|,\s+(?=(?:do|did|have|has|are|were|would|could|can|will|don't|didn't|haven't|what|how|which|who)\s+"
    r"(?:\w+\s+){0,2}(?:you|it|they|he|she|we|that|this|about)\b[^.!]*\?\s*$)"
    rf"|,?\s+(?=(?:{CONCESSIONS})\s)"
    r"|\s+(?=and\s+(?:also\s+)?(?:i\s+)?(?:remember|recall|know|heard|read|learned)\s+that\s)",
    re.IGNORECASE,
)
# Chinese: a semicolon, and a comma before a connective of contrast (而, 但, 不过, 然而, 却). A comma
# alone mostly separates phrases of one statement in Chinese ("该研究发表于2017年，提出了...") and
# "X表示，..." frames the rest, so it does not cut (measured: cutting there too cost 0.005 AUROC
# on the Chinese news development set).
_ZH_JOINT = re.compile(r"；|[，,](?=(?:而|但是|但|不过|然而|却|可是))")
_ZH_CONNECTIVE_PREFIX = ("而", "但", "但是", "不过", "然而", "却", "并且", "而且", "同时")
# Words of an English clause that show it has a verb of its own (so "and" joins statements):
# any verb form, modals and contractions included.
_EN_VERB = re.compile(
    rf"\b(?:{tokens.EN_AUXILIARIES}|be|been|being|am|do|shall|should|may|might|must|'s|'re|'ve|'d|'ll)\b"
    rf"|\b{tokens.EN_PAST_OR_PRESENT}\b|n't\b",
    re.IGNORECASE,
)
_EN_CONNECTIVE = re.compile(rf"^(?:but|yet|whereas|while|though|however|and|so|{CONCESSIONS})\b[,\s]*", re.IGNORECASE)


def _states_something(text: str) -> bool:
    """Enough words of its own to be graded alone: a verb and two content words (English), five
    Chinese characters besides connectives, or a figure with words around it."""
    if cjk.has_cjk(text):
        body = "".join(cjk.cjk_runs(text))
        for p in _ZH_CONNECTIVE_PREFIX:
            if body.startswith(p):
                body = body[len(p):]
                break
        return len(body) >= 5
    stripped = _EN_CONNECTIVE.sub("", text.strip())
    return len(tokens.content_words(stripped)) >= 2 and bool(_EN_VERB.search(stripped))


def _names_nothing(text: str) -> bool:
    """No figure, no name, no Chinese: an English fragment with nothing a passage could back."""
    body = _EN_CONNECTIVE.sub("", text.strip())
    return not re.search(r"\d", body) and not cjk.has_cjk(body) and not re.search(r"\b(?!I\b)[A-Z]", body)


def _raw_clauses(sentence: Span) -> list[Span]:
    """Cut one sentence at clause joints; offsets stay those of the answer."""
    joint = _ZH_JOINT if cjk.has_cjk(sentence.text) else _EN_JOINT
    pieces: list[Span] = []
    start = 0
    text = sentence.text
    for m in joint.finditer(text):
        if m.start() <= start:
            continue
        pieces.append(_span(text, start, m.start(), sentence.start))
        start = m.end()
    pieces.append(_span(text, start, len(text), sentence.start))
    return [p for p in pieces if p.text]


def _span(text: str, a: int, b: int, offset: int) -> Span:
    piece = text[a:b]
    lead = len(piece) - len(piece.lstrip())
    body = piece.strip().rstrip(",，、")
    return Span(body, offset + a + lead, offset + a + lead + len(body))


def _has_content(text: str) -> bool:
    return bool(tokens.content_words(text) or re.search(r"\d", text) or len("".join(cjk.cjk_runs(text))) >= 2)


_OPINION_FRAME = re.compile(rf"^(?:{OPINION_FRAME_EN}|在我看来|我个人(?:认为|觉得)|我觉得|个人认为)\W*$", re.IGNORECASE)


def _strip_prefixes(piece: Span) -> list[ClaimSpan]:
    """Leading talk ("Well,", "I think", "Did you know that") as its own pieces, then the rest."""
    found = None if ASKS_BACK.match(piece.text) else whole_kind(piece.text)
    if found:
        return [ClaimSpan(piece.text, piece.start, piece.end, found[1], found[0])]
    out: list[ClaimSpan] = []
    rest = piece
    for _ in range(3):
        for why, kind, rx in PREFIXES:
            m = rx.match(rest.text)
            if m and m.end() < len(rest.text) and _has_content(rest.text[m.end():]):
                head = rest.text[: m.end()].rstrip(" ,，")
                out.append(ClaimSpan(head, rest.start, rest.start + len(head), kind, why))
                cut = m.end()
                rest = Span(rest.text[cut:], rest.start + cut, rest.end)
                break
        else:
            break
    kind, why = classify(rest.text) if out else ("claim", "")  # unchanged: classified above
    if kind == "question" and out and out[-1].kind == "question":
        kind, why = "claim", ""  # "Did you know that X?" asserts X
    out.append(ClaimSpan(rest.text, rest.start, rest.end, kind, why))
    return out


def _join(a: ClaimSpan, b: ClaimSpan, answer: str) -> ClaimSpan:
    """The stretch of ``answer`` from ``a`` to ``b``, with ``b``'s kind when ``a`` is talk."""
    kind, why = (a.kind, a.why) if a.kind == b.kind else ("claim", "")
    return ClaimSpan(answer[a.start : b.end], a.start, b.end, kind, why)


def _in_sentence(pieces: list[ClaimSpan], answer: str) -> list[ClaimSpan]:
    """Mark the claims of a sentence cut into several with the stretch that holds them all."""
    claims = [p for p in pieces if p.checked]
    if len(claims) < 2:
        return pieces
    whole = answer[claims[0].start : claims[-1].end]
    return [replace(p, sentence=whole) if p.checked else p for p in pieces]


def _rejoin(pieces: list[ClaimSpan], answer: str) -> list[ClaimSpan]:
    """Neighbouring claims of one sentence as one claim (talk between them still splits)."""
    out: list[ClaimSpan] = []
    for p in pieces:
        if out and p.checked and out[-1].checked:
            out[-1] = ClaimSpan(answer[out[-1].start : p.end], out[-1].start, p.end)
        else:
            out.append(p)
    return out


def _sentence_pieces(sentence: Span, answer: str, separate: bool) -> list[ClaimSpan]:
    """One sentence's pieces: clauses classified, talk split off, clauses that state nothing
    joined to a claim of the same sentence, neighbouring talk of one kind joined; with
    ``separate`` off, neighbouring claims joined again."""
    raw = _raw_clauses(sentence)
    pieces = [c for piece in raw for c in _strip_prefixes(piece)]
    if len(raw) > 1:
        pieces = [
            ClaimSpan(p.text, p.start, p.end, "opinion", "opinion")
            if p.checked and i and _OPINION_FRAME.match(pieces[i - 1].text) and only_judges(p.text)
            else p
            for i, p in enumerate(pieces)
        ]
    out: list[ClaimSpan] = []
    pending: ClaimSpan | None = None
    for p in pieces:
        if p.checked and pending is not None:
            p, pending = _join(pending, p, answer), None
            out = [q for q in out if q.end <= p.start]  # talk inside the joined claim is part of it
        if out and not p.checked and out[-1].kind == p.kind:
            out[-1] = _join(out[-1], p, answer)
            continue
        if p.checked and len(raw) > 1 and not _states_something(p.text):
            last = next((i for i in range(len(out) - 1, -1, -1) if out[i].checked), None)
            if last is not None:
                out[last] = _join(out[last], p, answer)
                del out[last + 1 :]  # talk between two parts of one claim belongs to the claim
                out[last] = ClaimSpan(answer[out[last].start : p.end], out[last].start, p.end)
            else:
                pending = p
            continue
        out.append(p)
    if pending is not None and out and out[-1].end <= pending.start and not out[-1].checked and _names_nothing(pending.text):
        # talk, then a fragment that names nothing: "I have not seen it, but have heard about it"
        talk = out[-1]
        out[-1] = ClaimSpan(answer[talk.start : pending.end], talk.start, pending.end, talk.kind, talk.why)
    elif pending is not None:  # a short claim with only talk after it keeps its place ("He won in 2001, did you know?")
        out.append(pending)
        out.sort(key=lambda p: p.start)
    return _in_sentence(out, answer) if separate else _rejoin(out, answer)


def _merge_fragments(sentences: list[list[ClaimSpan]], answer: str, min_chars: int) -> list[ClaimSpan]:
    """A sentence that is one claim shorter than ``min_chars`` ("1959.") joins the next claim,
    or the previous one at the end, rather than being graded alone or dropped."""
    out: list[ClaimSpan] = []
    pending: ClaimSpan | None = None
    for pieces in sentences:
        fragment = len(pieces) == 1 and pieces[0].checked and len(pieces[0].text) < min_chars
        for p in pieces:
            if p.checked and pending is not None:
                p, pending = ClaimSpan(answer[pending.start : p.end], pending.start, p.end), None
                fragment = False
            if fragment:
                pending = p
                continue
            out.append(p)
    if pending is not None:
        last = next((i for i in range(len(out) - 1, -1, -1) if out[i].checked), None)
        if last is None:
            out.append(pending)
        else:
            out[last:] = [ClaimSpan(answer[out[last].start : pending.end], out[last].start, pending.end)]
    return out


# A list item's marker or a heading's hashes ("- ", "2. ", "3、", "(4) ", "## "): layout, not words
# of the claim ("2. It activates 37B" must not claim the number 2).
_MARKER = re.compile(rf"^{LIST_MARKER}\s*")


# A heading is a title unless it has a figure, a verb that states ("## Qwen2.5 was made by Google")
# or a name ("## Google's Llama" is graded: its names must be in the evidence).
_HEADING_STATES = re.compile(rf"\d|\b(?:{tokens.EN_AUXILIARIES}|{tokens.EN_PAST})\b|是|{ZH_DOES}", re.IGNORECASE)


# A markdown table: the rule under its header ("|---|:--:|") and the header itself are layout;
# each other row is one claim ("| DeepSeek-V3 | 671B |": its name and figures must be in the evidence).
_TABLE_RULE = re.compile(r"\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?")


def _is_table_header(sentence: Span, answer: str) -> bool:
    if not sentence.text.startswith("|"):
        return False
    nxt = answer[sentence.end : sentence.end + 200].lstrip().split("\n", 1)[0].strip()
    return bool(_TABLE_RULE.fullmatch(nxt)) and not _HEADING_STATES.search(sentence.text)  # "| Qwen was made by Google |" is graded


def _unmarked(sentence: Span) -> tuple[Span, str]:
    """The sentence without its list or heading marker, and the marker ("" when none)."""
    m = _MARKER.match(sentence.text)
    if not m or m.end() == len(sentence.text):
        return sentence, ""
    return Span(sentence.text[m.end():], sentence.start + m.end(), sentence.end), m.group(0)


def _pieces(sentence: Span, marker: str, answer: str, separate: bool) -> list[ClaimSpan]:
    if is_refusal(sentence.text):
        return [ClaimSpan(sentence.text, sentence.start, sentence.end, "refusal", "refusal")]
    if _TABLE_RULE.fullmatch(sentence.text) or _is_table_header(sentence, answer):
        return [ClaimSpan(sentence.text, sentence.start, sentence.end, "chitchat", "framing")]  # "| Model | Size |"
    if sentence.text.startswith("|"):
        return [ClaimSpan(sentence.text, sentence.start, sentence.end)]  # a table row: one claim, its cells together
    if marker.startswith("#") and not _HEADING_STATES.search(sentence.text) \
            and not tokens.capitalised_terms(sentence.text) and not cjk.foreign_names(sentence.text):
        return [ClaimSpan(sentence.text, sentence.start, sentence.end, "chitchat", "framing")]  # "## Key points"
    return _sentence_pieces(sentence, answer, separate)


def split_answer(answer: str, question: str = "", min_chars: int = 0, separate: bool = True) -> list[ClaimSpan]:
    """Every piece of ``answer`` with its kind, in order, offsets into ``answer``.

    A sentence that is a refusal as a whole is one ``refusal`` piece; others are cut into
    clauses, each classified, with leading talk split off. With ``separate``, every clause that
    states something is its own claim; without, the claims of one sentence that are not parted
    by talk are graded as one (the policy's ``checks.grounding.clauses``). Claims shorter than
    ``min_chars`` join a neighbouring claim; talk stands alone however short ("Yes.").
    """
    polar = is_polar_question(question)
    sentences = [_pieces(s, marker, answer, separate) for s, marker in map(_unmarked, split_sentences(answer))]
    pieces = _merge_fragments(sentences, answer, min_chars)
    if polar and len(pieces) == 1 and pieces[0].why == "agreement" and BARE_YES.match(pieces[0].text):
        p = pieces[0]
        pieces = [ClaimSpan(p.text, p.start, p.end, "claim", "", checked_as=f"{p.text} {question.strip()}")]
    return pieces

"""Claims, not sentences: what in an answer states a fact that the knowledge must back.

An answer mixes facts with talk: greetings, thanks, apologies, agreement ("That is right."),
questions back to the user, first-person feelings and opinions, and hedges ("I don't know about
the history, but ..."). Grading talk against the knowledge gives it low support (its words are
not in any passage), so harmless replies used to sink the confidence of grounded answers. Here
each sentence is cut into clauses, and every piece gets a ``kind``:

- ``claim``: states something; graded by the grounding check;
- ``chitchat``: greeting, thanks, apology, agreement, pleasantry, discourse marker ("Well,");
- ``hedge``: uncertainty about itself only ("I'm not sure,", "I think", "我记得不太清楚");
- ``question``: a question back to the user;
- ``opinion``: a first-person feeling or opinion ("I love that song", "太棒了");
- ``refusal``: the whole sentence declines to answer (see ``refusal.py``).

Only ``claim`` pieces are graded, and a hedge or a pleasantry exempts only its own clause:
"I don't know about the history, but it is one of the major forms of throwing sports" grades the
second clause. A clause that states nothing on its own ("and 128K context", "据了解") stays with
its neighbour instead of being graded alone. Rules are regular expressions over one clause, in
English and Chinese: microseconds per answer, no model. They lean towards ``claim``: a clause
with a figure is always graded, "Did you know that X?" grades X, and a bare "Yes." answering a
yes/no question is graded as the question's statement (it asserts it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

from guard.checks.grounding.evidence import EvidenceText
from guard.checks.grounding.features import Claim
from guard.checks.grounding.refusal import is_refusal
from guard.text import cjk, tokens
from guard.text.sentences import Span, split_sentences

# How much a claim's words that also occur in the question count towards its coverage (1 = like
# its own words). The question is not evidence: "Gerina Dunwich was born earlier", answering "Who
# was born earlier, Gerina Dunwich or Erich Maria Remarque?", found every word of it in passages
# retrieved *for the question*. Measured on the development sets, 0.3 (against 1) raised AUROC on
# Chinese news whose question is the headline (0.845 -> 0.850) and cost English QA 0.001.
QUESTION_WORD_WEIGHT = 0.3
Kind = Literal["claim", "chitchat", "hedge", "question", "opinion", "refusal"]
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
_EN_JOINT = re.compile(
    r";\s+"
    r"|,\s+(?=(?:but|yet|whereas|while|though|however)\b)"
    r"|\s+(?=but\s)"
    r"|,?\s+(?=and\s+(?:it|he|she|they|we|i|you|this|that|these|those|there|its|his|her|their|the)\s)",
    re.IGNORECASE,
)
# Chinese: a semicolon, and a comma before a connective of contrast (而, 但, 不过, 然而, 却). A comma
# alone mostly separates phrases of one statement in Chinese ("该研究发表于2017年，提出了...") and
# "X表示，..." frames the rest, so it does not cut (measured: cutting there too cost 0.005 AUROC
# on the Chinese news development set).
_ZH_JOINT = re.compile(r"；|[，,](?=(?:而|但是|但|不过|然而|却|可是))")
_ZH_CONNECTIVE_PREFIX = ("而", "但", "但是", "不过", "然而", "却", "并且", "而且", "同时")
# Words of an English clause that show it has a verb of its own (so "and" joins statements).
_EN_VERB = re.compile(
    r"\b(?:is|are|was|were|be|been|being|am|has|have|had|does|do|did|can|could|will|would|shall|"
    r"should|may|might|must|'s|'re|'ve|'d|'ll)\b|\b[a-z]{3,}(?:ed|s)\b|n't\b",
    re.IGNORECASE,
)
_EN_CONNECTIVE = re.compile(r"^(?:but|yet|whereas|while|though|however|and|so)\b[,\s]*", re.IGNORECASE)


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


# ------------------------------------------------------------------ what a clause is

def _rx(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


_END = r"[\s.!?。！？~～…]*$"
# Whole-clause talk, English and Chinese: (code, pattern). The clause must match from its start
# to its end (modulo punctuation), so "That is right next to the station" is a claim.
_WHOLE: list[tuple[str, Kind, re.Pattern[str]]] = [
    ("greeting", "chitchat", _rx(
        r"^(?:hi|hello|hey|greetings|good (?:morning|afternoon|evening|day)|welcome|howdy)\b(?:\s+(?:there|everyone|all|friend))?" + _END,
        r"^(?:nice|pleased|glad) to (?:meet|see|hear from) you(?: too)?" + _END,
        r"^how (?:are|is) (?:you|it going|your day)(?: doing)?(?: today)?" + _END,
        r"^(?:你好|您好|大家好|嗨|哈喽|早上好|下午好|晚上好|很高兴(?:认识|见到)你|欢迎)(?:呀|啊|！)?" + _END,
    )),
    ("thanks", "chitchat", _rx(
        r"^(?:thanks?|thank you|many thanks|cheers)(?: (?:so|very) much| a lot| again| kindly)?(?:\s*,?\s*(?:for|to)\b.{0,60})?" + _END,
        r"^(?:i |we )?(?:really |truly )?appreciate (?:it|that|this|your \w+)" + _END,
        r"^you(?:'re| are) (?:very |most )?welcome" + _END,
        r"^(?:my pleasure|no problem|no worries|anytime|any time)" + _END,
        r"^(?:谢谢|感谢|多谢)(?:你|您|大家)?(?:的|对)?(?:提问|耐心|支持|理解|关注|信任|夸奖|分享|帮助|反馈|关心)?(?:了)?(?:啊|呀)?" + _END,
        r"^(?:不客气|不用谢|别客气|不用客气)" + _END,
    )),
    ("apology", "chitchat", _rx(
        r"^(?:i'?m|i am|we'?re|we are)\s+(?:so |very |really |truly |terribly |deeply )?sorry(?:\s+(?:for|about|to|that|if)\b(?!.*\d).{0,60})?" + _END,
        r"^(?:sorry|my apologies|apologies|i apologi[sz]e|we apologi[sz]e)(?:\s+(?:for|about|to|that|if)\b(?!.*\d).{0,60})?" + _END,
        r"^(?:my|our) (?:deepest |sincere |heartfelt )?condolences\b.{0,40}$",
        r"^(?:sorry to hear (?:that|about)\b.{0,40})$",
        r"^(?:对不起|抱歉|很抱歉|非常抱歉|真抱歉|不好意思)(?:[，,]?(?:给(?:你|您)带来(?:了)?(?:不便|困扰)|让(?:你|您)久等了|打扰了))?" + _END,
        r"^(?:我很遗憾|很遗憾|我很难过)(?:听到|得知)?[^0-9]{0,12}$",
        r"^(?:请节哀|节哀顺变|深表同情|深表哀悼)" + _END,
    )),
    ("agreement", "chitchat", _rx(
        r"^(?:yes|yeah|yep|yup|sure|ok|okay|right|exactly|indeed|absolutely|of course|certainly|correct|"
        r"true|agreed|definitely|totally|precisely|definitely|sure thing|alright|all right)(?:\s+(?:sir|ma'am|indeed))?" + _END,
        r"^(?:that|this|it)(?:'s| is| was)\s+(?:absolutely |quite |totally |exactly |so |very )?"
        r"(?:right|correct|true|a (?:good|great|fair|valid|interesting|excellent) (?:point|question|one))" + _END,
        r"^you(?:'re| are)\s+(?:absolutely |quite |totally |so )?(?:right|correct)" + _END,
        r"^(?:good|great|excellent|interesting|fair) (?:point|question)" + _END,
        r"^i (?:totally |completely |fully )?(?:agree|see|understand|get it|hear you)(?: with you)?" + _END,
        r"^(?:got it|makes sense|fair enough|sounds good|will do|noted|i know|i know,? right)" + _END,
        r"^(?:好的|好|是的|是啊|对|对的|对啊|没错|当然|确实|嗯|嗯嗯|行|可以|明白|明白了|了解|知道了|同意|"
        r"你说得对|说得对|说的对|有道理|好问题|问得好|没问题)(?:的|呀|啊|呢|吧)?" + _END,
    )),
    ("pleasantry", "chitchat", _rx(
        r"^(?:i )?hope (?:this|that|it) (?:helps|was helpful|answers your question)\b.{0,30}$",
        r"^(?:let me know|feel free|don't hesitate|do not hesitate)\b.{0,80}$",
        r"^(?:glad|happy|pleased) (?:i could|to) (?:help|assist)\b.{0,30}$",
        r"^(?:good luck|have (?:a )?(?:nice|great|good) (?:day|one|time|weekend)|take care|enjoy|bye|goodbye|see you)\b.{0,30}$",
        r"^(?:希望(?:这|以上|我的)?(?:回答|内容|信息)?(?:能)?(?:对你|对您)?(?:有所|有)帮助|如(?:果)?(?:你|您)?(?:还)?有(?:其他|任何)?(?:问题|疑问)|欢迎(?:随时|继续)?(?:提问|咨询)|祝你|祝您|再见|保重).{0,30}$",
    )),
    ("attribution", "chitchat", _rx(
        r"^(?:据了解|据悉|据报道|据介绍|据统计|据称|据说|听说|众所周知)" + _END,
        r"^(?:i (?:know|heard|read|learned)|i have (?:heard|read)|they say|it is said)" + _END,
    )),
    ("hedge", "hedge", _rx(
        r"^(?:i'?m|i am)\s+(?:not (?:\w+ )?(?:sure|certain)|unsure|not an expert)\b(?!.*\d).{0,60}$",
        r"^i (?:could|might|may) be (?:wrong|mistaken)\b.{0,30}$",
        r"^(?:correct me if i'?m wrong|if i (?:remember|recall) (?:correctly|right)|as far as i (?:know|can tell|remember)|"
        r"to (?:the best of )?my knowledge|from what i (?:know|remember|recall|understand)|i (?:think|believe|guess)(?: so)?|not sure(?: though)?)" + _END,
        r"^i (?:do not|don't|dont) (?:really |quite )?(?:know|remember|recall)\b(?!.*\d).{0,60}$",
        r"^(?:如果我没记错(?:的话)?|据我所知|我不是专家|仅供参考|可能不准确)" + _END,
        r"^(?:我不太确定|我不确定|我记不清|我记得不太清楚|我不太了解|我不知道|我不清楚)[^0-9]{0,20}$",
    )),
    ("opinion", "opinion", _rx(
        r"^i (?:really |absolutely |just |personally |also |totally |do |would )?(?:love|like|enjoy|adore|hate|dislike|prefer|miss|admire|"
        r"feel|hope|wish|want|would love|'d love|can't wait|cannot wait)\b(?!.*\d).*$",
        r"^i(?:'m| am) (?:a )?(?:huge |big |really big )?fan\b(?!.*\d).*$",
        r"^i(?:'m| am) (?:so |really |very )?(?:glad|happy|excited|thrilled|jealous|impressed|sad|curious|interested)\b(?!.*\d).*$",
        r"^(?:personally|in my (?:humble )?opinion|imo|my (?:personal )?favou?rite)\b(?!.*\d).*$",
        r"^i (?:think|find|found) (?:it|that|this|they|them)(?:'s| is| was| are| were| would be| sounds| seems)?\s*(?:so |really |very |pretty |quite )?"
        r"(?:great|good|nice|cool|awesome|amazing|interesting|fascinating|beautiful|wonderful|fun|funny|sad|scary|boring|a (?:good|great) idea)" + _END,
        r"^(?:that|this|it)(?:'s| is| was| sounds| seems| looks)\s+(?:like\s+)?(?:a |an )?(?:so |really |very |pretty |quite |super )?"
        r"(?:great|good|nice|cool|awesome|amazing|interesting|fascinating|wonderful|fun|funny|sad|terrible|too bad|a shame|"
        r"good to know|unfortunate|impressive|lovely|exciting|incredible)" + _END,
        r"^(?:how|what a) (?:interesting|cool|sad|nice|fun|great|lovely|wonderful)\b.{0,20}$",
        r"^(?:wow|oh wow|awesome|cool|nice|great|amazing|interesting|lol|haha)" + _END,
        r"^我(?:也|真的|非常|很|特别|挺|一直|就)?(?:喜欢|爱|讨厌|希望|期待|羡慕|佩服|想念|好奇)[^0-9]*$",
        r"^我(?:也|真的)?(?:很|非常|特别|挺)?(?:高兴|开心|激动|难过|感兴趣)[^0-9]*$",
        r"^(?:我个人(?:认为|觉得)|在我看来|我觉得(?:这|那|它)?(?:很|真|挺|非常)?(?:好|棒|不错|有意思|有趣|酷))[^0-9]*$",
        r"^(?:太(?:棒|好|酷|厉害|有意思)了|真(?:棒|好|不错|有意思|有趣|厉害)|听起来(?:很|真|挺)?(?:不错|很棒|有意思|有趣)|挺(?:好|不错|有意思)的?|好(?:酷|棒|有趣)啊?|哇|哈哈+)" + r"[^0-9]{0,6}$",
    )),
]
# Prefixes stripped off a clause before it is graded: ("code", kind, pattern). What follows is the
# claim ("Well, I know it's the largest state" grades "it's the largest state").
_PREFIXES: list[tuple[str, Kind, re.Pattern[str]]] = [
    ("agreement", "chitchat", _rx(
        r"^(?:yes|yeah|yep|sure|ok|okay|well|oh|ah|hmm|so|actually|indeed|right|exactly|absolutely|of course|"
        r"true|correct|great|cool|wow|haha|honestly|interesting|no|nope)\s*[,!.]\s+",
        r"^(?:well|oh|ah|hmm|yes|yeah)\s+(?=i\b)",
        r"^(?:好的|是的|对|没错|当然|嗯|哦|确实|其实|说实话|谢谢(?:你|您)?(?:的)?(?:提问)?)[，,！!。]\s*",
    )),
    ("attribution", "chitchat", _rx(
        r"^(?:well,?\s+|oh,?\s+)?(?:i (?:know|heard|read|learned|recall|remember|have (?:heard|read))|they say|it is said)(?:\s+that)?[,\s]\s*",
        r"^(?:我(?:听说|知道|记得)|听说|据了解|据悉|据报道|据介绍|据称|据说|众所周知)[，,]?\s*",
    )),
    ("hedge", "hedge", _rx(
        r"^(?:i (?:think|believe|guess|suppose|feel like|reckon|assume)|i'?m (?:pretty |fairly |quite )?(?:sure|certain|confident)|"
        r"if i (?:remember|recall) (?:correctly|right)|as far as i (?:know|can tell|remember)|to (?:the best of )?my knowledge|"
        r"from what i (?:know|remember|recall|understand|read)|"
        r"maybe|perhaps|probably|possibly|apparently|presumably|supposedly)(?:\s+that)?[,\s]\s*",
        r"^(?:我(?:觉得|认为|猜|想|相信)|据我所知|如果我没记错(?:的话)?|也许|可能|大概|或许|好像|似乎)[，,]?\s*",
    )),
    ("question", "question", _rx(
        r"^(?:did|do) you know(?: that)?[,\s]\s*",
        r"^你(?:知道|可知道|听说过)(?:吗)?[，,]?\s*",
    )),
]
_ASKS_BACK = re.compile(r"^(?:did|do) you know(?: that)?[,\s]\s*\S|^你(?:知道|可知道|听说过)(?:吗)?[，,]\s*\S", re.IGNORECASE)
# A question back to the user ends with a question mark outside quotes ('the single "Happy?"' is a
# claim), and asks: a question word or "you" in English, a question particle or word in Chinese.
_QUESTION_END = re.compile(r"[?？]\s*$|[吗呢嘛][\s。！!~]*$")
_ASKS_EN = re.compile(
    r"^(?:what|which|who|whom|whose|when|where|why|how|is|are|was|were|do|does|did|can|could|will|would|shall|should|"
    r"may|might|have|has|had|isn't|aren't|don't|doesn't|didn't|won't|any|anything|or)\b|\byou\b|\byour\b",
    re.IGNORECASE,
)
_ASKS_ZH = re.compile(r"[吗呢嘛][\s。！!？?~]*$|什么|哪|怎么|怎样|如何|多少|几|是否|为什么|为何|谁|你|您|要不要|能不能|可不可以|有没有")
_POLAR_EN = re.compile(r"^\s*(?:is|are|was|were|do|does|did|can|could|will|would|has|have|had|should|may|might|must|isn't|aren't|wasn't|doesn't|didn't)\b", re.IGNORECASE)
_POLAR_ZH = re.compile(r"(?:吗|是否|是不是|有没有|能不能|会不会|对不对|对吗)[\s？?]*$|是否")
_BARE_YES = re.compile(r"^(?:yes|yeah|yep|yup|correct|that(?:'s| is) (?:right|correct|true)|true|right|exactly|indeed|absolutely|"
                       r"是的|是|对|对的|没错|正确|确实如此|确实)\W*$", re.IGNORECASE)


def is_polar_question(question: str) -> bool:
    """A yes/no question: its bare "Yes" asserts the question's statement."""
    last = question.strip().splitlines()[-1] if question.strip() else ""
    return bool(last) and bool(_POLAR_EN.search(last) or _POLAR_ZH.search(last))


def _whole(text: str) -> tuple[str, Kind] | None:
    body = text.strip().strip("\"'“”‘’()（）")
    if not body:
        return None
    for why, kind, rx in _WHOLE:
        if rx.search(body):
            return why, kind
    if _QUESTION_END.search(body) and (_ASKS_ZH if cjk.has_cjk(body) else _ASKS_EN).search(body):
        return "question", "question"
    if is_refusal(body):
        return "hedge", "hedge"
    return None


def classify(text: str) -> tuple[Kind, str]:
    """The kind of one clause and its reason code ("" for a claim)."""
    found = _whole(text)
    return (found[1], found[0]) if found else ("claim", "")


def _has_content(text: str) -> bool:
    return bool(tokens.content_words(text) or re.search(r"\d", text) or len("".join(cjk.cjk_runs(text))) >= 2)


_OPINION_FRAME = re.compile(r"^(?:personally|in my (?:humble )?opinion|imo|在我看来|我个人(?:认为|觉得)|我觉得|个人认为)\W*$", re.IGNORECASE)


def _strip_prefixes(piece: Span) -> list[ClaimSpan]:
    """Leading talk ("Well,", "I think", "Did you know that") as its own pieces, then the rest."""
    found = None if _ASKS_BACK.match(piece.text) else _whole(piece.text)
    if found:
        return [ClaimSpan(piece.text, piece.start, piece.end, found[1], found[0])]
    out: list[ClaimSpan] = []
    rest = piece
    for _ in range(3):
        for why, kind, rx in _PREFIXES:
            m = rx.match(rest.text)
            if m and m.end() < len(rest.text) and _has_content(rest.text[m.end():]):
                head = rest.text[: m.end()].rstrip(" ,，")
                out.append(ClaimSpan(head, rest.start, rest.start + len(head), kind, why))
                cut = m.end()
                rest = Span(rest.text[cut:], rest.start + cut, rest.end)
                break
        else:
            break
    kind, why = classify(rest.text)
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
            if p.checked and i and _OPINION_FRAME.match(pieces[i - 1].text) and not re.search(r"\d", p.text)
            else p
            for i, p in enumerate(pieces)
        ]
    out: list[ClaimSpan] = []
    pending: ClaimSpan | None = None
    for p in pieces:
        if p.checked and pending is not None:
            p, pending = _join(pending, p, answer), None
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
    if pending is not None:
        out.append(pending)
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


_INITIALISM_END = re.compile(r"(?:\b(?:[A-Za-z]\.){2,}|\b(?:Co|Corp|Bros|Mt|Ft|Gen|Gov|Sen|Rep|Lt|Col|Sgt|Capt|Rev|Vol|Dept|Univ)\.)$")


def _answer_sentences(answer: str) -> list[Span]:
    """``split_sentences``, with two more non-ends an answer often has: after an initialism or a
    title ("a J.D. degree", "The A.V. Club", "Allen and Co. conference"), and before a lower-case
    word ("Yahoo! is"). (Kept here, not in ``split_sentences``: knowledge chunking uses that.)"""
    out: list[Span] = []
    for s in split_sentences(answer):
        if out and (_INITIALISM_END.search(out[-1].text) or s.text[:1].islower()):
            out[-1] = Span(answer[out[-1].start : s.end], out[-1].start, s.end)
        else:
            out.append(s)
    return out


def split_answer(answer: str, question: str = "", min_chars: int = 0, separate: bool = True) -> list[ClaimSpan]:
    """Every piece of ``answer`` with its kind, in order, offsets into ``answer``.

    A sentence that is a refusal as a whole is one ``refusal`` piece; others are cut into
    clauses, each classified, with leading talk split off. With ``separate``, every clause that
    states something is its own claim; without, the claims of one sentence that are not parted
    by talk are graded as one (the policy's ``checks.grounding.clauses``). Claims shorter than
    ``min_chars`` join a neighbouring claim; talk stands alone however short ("Yes.").
    """
    polar = is_polar_question(question)
    sentences = [
        [ClaimSpan(s.text, s.start, s.end, "refusal", "refusal")] if is_refusal(s.text) else _sentence_pieces(s, answer, separate)
        for s in _answer_sentences(answer)
    ]
    pieces = _merge_fragments(sentences, answer, min_chars)
    if polar and len(pieces) == 1 and pieces[0].why == "agreement" and _BARE_YES.match(pieces[0].text):
        p = pieces[0]
        pieces = [ClaimSpan(p.text, p.start, p.end, "claim", "", checked_as=f"{p.text} {question.strip()}")]
    return pieces


# ------------------------------------------------------------------ echoes of the question

def question_units(question: str) -> frozenset[str]:
    """The content units of the question (English stems, Chinese bigrams), as claims count them."""
    return frozenset(tokens.content_stems(question)) | frozenset(cjk.content_ngrams(question, 2))


def fresh_coverage(claim: Claim, ev: EvidenceText, given: frozenset[str], coverage: float) -> float:
    """Coverage of ``claim`` in ``ev`` where units it shares with the question (``given``) weigh
    ``QUESTION_WORD_WEIGHT``: an answer that echoes the question is judged on what it adds.

    A claim made only of the question's words (an echo) keeps its plain ``coverage``: the words
    still have to be in the evidence, and a bare pick among the question's options ("Erich Maria
    Remarque") is all a right answer to a choice question has.
    """
    units = claim.stems + claim.cjk2
    new = [u for u in units if u not in given]
    if not given or not new or len(new) == len(units):
        return coverage
    have_stems, have_cjk = ev.stems, ev.cjk2
    old = [u for u in units if u in given]

    def found(u: str) -> bool:
        return u in have_stems or u in have_cjk

    hits = sum(1 for u in new if found(u)) + QUESTION_WORD_WEIGHT * sum(1 for u in old if found(u))
    return hits / (len(new) + QUESTION_WORD_WEIGHT * len(old))

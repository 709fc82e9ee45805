"""Recognising refusals and "I don't know" answers, in English and Chinese.

Declining to answer is the honest outcome when the knowledge does not cover a question, so
the grounding check treats such sentences as safe instead of unsupported (configurable with
``refusals_safe``). Only short sentences that are mostly the refusal count: "I don't know
his age, but he was born in 1990" still has a claim to check, and is not a refusal.
"""

from __future__ import annotations

import re

from guard.text import cjk
from guard.text.tokens import EN_AUXILIARIES, EN_PAST_OR_PRESENT, capitalised_terms

_EN = [
    r"\bi (?:do not|don't|dont) (?:know|have (?:enough |that |this |the )?(?:information|data|details))\b",
    r"\bi(?:'m| am) (?:not sure|unsure|unable to (?:answer|find|determine|say|confirm|verify))\b",
    r"\bi (?:cannot|can't|can not|could not|couldn't) (?:answer|find|determine|say|confirm|verify|help with)\b",
    r"\b(?:there is|there's) (?:no|not enough) (?:information|data|mention|evidence)\b",
    r"\b(?:the )?(?:provided |given |available |retrieved )?(?:context|documents?|sources?|knowledge(?: base)?|information|"
    r"passages?|texts?|articles?|excerpts?|materials?|search results|references?) "
    r"(?:does not|doesn't|do not|don't|did not|didn't) (?:say|mention|contain|specify|provide|include|state|give|discuss|cover)\b",
    r"\b(?:none of the|neither) (?:passages?|documents?|sources?|texts?|articles?|excerpts?) (?:says?|mentions?|contains?|specif(?:y|ies)|provides?|includes?|states?)\b",
    r"\b(?:is|are|was|were) not (?:specified|mentioned|stated|given|provided|discussed) in the (?:provided |given )?(?:context|documents?|sources?|texts?|passages?|articles?|information)\b",
    r"\bno (?:reliable |available )?(?:answer|information|data)\b",
    r"\bi have no (?:information|idea|data|knowledge)\b",
]
_ZH = [
    r"我(?:不|并不)(?:知道|清楚|确定|了解)",
    r"(?:无法|不能|没法|没有办法)(?:回答|确定|判断|得知|提供|确认|找到)",
    r"(?:没有找到|没找到|没有|缺乏|缺少|未找到|找不到)(?:相关|足够的?|有关)?(?:信息|资料|数据|记录|依据)",
    r"(?:资料|文档|材料|上下文|知识库|信息)(?:中)?(?:没有|未)(?:提到|提及|说明|记载|包含)",
    r"(?:不得而知|暂无(?:相关)?(?:信息|数据)|无从得知)",
]
_REFUSAL_RE = re.compile("|".join(_EN + _ZH), re.IGNORECASE)
_MAX_REFUSAL_CHARS = 160
# Every pattern above contains one of these: a cheap test that spares most sentences the regex.
_TRIGGERS = ("no", "n't", "dont", "unsure", "unable", "neither", "不", "无", "没", "缺", "未")
# Words that go on to concede something ("I don't know much about them other than they play
# basketball"): a refusal or hedge followed by them asserts what they concede. Also used by
# talk.py (stripped as talk) and claims.py (a clause joint).
CONCESSIONS = r"other than|except that|apart from the fact that"
_CLAUSE_BREAK_RE = re.compile(
    rf"(?:,\s*|\s)(?:but|however|although)\b(?=\s*\w)|\b(?:{CONCESSIONS})\s|[，,]\s*(?:但|不过|但是|然而)"
)


# Where a hedge or refusal phrase ends ("I'm not *sure*", "我不太*确定*"), and what may follow it.
_HEDGE_WORD = re.compile(r"\b(?:sure|certain|unsure|expert|wrong|mistaken|know|remember|recall|think|believe|guess)\b|确定|清楚|知道|记得|了解",
                         re.IGNORECASE)
# What follows a hedge word without stating anything: "not sure *what* it is", "don't know *much*", "不清楚*谁*"
_INDIRECT_EN = re.compile(r"^(?:what|who|whom|whose|which|when|where|why|how|whether|if|about|of|on|much|many|enough)\b", re.IGNORECASE)
_INDIRECT_ZH = re.compile(r"谁|什么|哪|怎么|如何|多少|几|是否|有没有")
_EN_FINITE = re.compile(rf"\b(?:{EN_AUXILIARIES})\b|\b{EN_PAST_OR_PRESENT}\b", re.IGNORECASE)
ZH_DOES = r"(?:因为|由于|所以|由|发布|推出|开发|研发|导演|创立|成立|收购|位于|获得|属于)"


def asserts_after_hedge(text: str) -> bool:
    """Whether ``text`` goes on, after its hedge or refusal phrase, to state a fact of its own:
    "I'm not sure, Llama was made by Google", "I'm not certain Llama was made by Google",
    "我不太确定，Llama 是谷歌发布的". "I'm not sure what Llama is" and "我不清楚它是谁发布的" do not."""
    m = _HEDGE_WORD.search(text)
    if not m:
        return False
    rest = text[m.end():]
    cut = re.search(r"[,，;；]\s*", rest)
    rest = (rest[cut.end():] if cut else rest).strip(" .!?。！？")
    if not rest:
        return False
    if cjk.has_cjk(rest):
        return not _INDIRECT_ZH.search(rest) and bool(re.search(ZH_DOES, rest) or re.search(r"\d", rest))
    if _INDIRECT_EN.match(rest):
        return False
    if re.search(r"(?<![A-Za-z.])\d", rest):
        return True
    return bool([n for n in capitalised_terms(rest) if n != "I"]) and bool(_EN_FINITE.search(rest))


def is_refusal(sentence: str) -> bool:
    """A sentence that declines to answer and asserts nothing else."""
    text = sentence.strip()
    if not text or len(text) > _MAX_REFUSAL_CHARS:
        return False
    lower = text.lower()
    if not any(t in lower for t in _TRIGGERS):
        return False
    if _CLAUSE_BREAK_RE.search(text) or asserts_after_hedge(text):
        return False
    return bool(_REFUSAL_RE.search(text))

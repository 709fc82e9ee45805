"""Talk: the pieces of an answer that state no fact (rules over one clause, English and Chinese).

Greetings, thanks, apologies and sympathy, agreement, pleasantries, attributions, hedges,
questions back to the user and first-person opinions, each as a whole clause (``classify``) or as
a leading phrase (``PREFIXES``: "Well,", "I think", "Did you know that"). A clause must match from
its start to its end, so "That is right next to the station" and "Thank You is a song by Dido"
stay claims; a figure keeps an apology, hedge or opinion a claim, and so does a fact it goes on
to state ("I'm not sure, Llama was made by Google", "I like it because it was directed by X",
"我很喜欢Qwen，它是谷歌发布的模型"): talk must not carry an unchecked claim. ``claims.py`` cuts answers into
clauses and uses these rules.
"""

from __future__ import annotations

import re
from typing import Literal

from guard.checks.grounding.refusal import CONCESSIONS, ZH_DOES, asserts_after_hedge, is_refusal
from guard.text import cjk
from guard.text.tokens import EN_AUXILIARIES, EN_PAST, capitalised_terms

Kind = Literal["claim", "chitchat", "hedge", "question", "opinion", "refusal"]

def _rx(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


_END = r"[\s.!?。！？~～…]*$"
# The English words that frame an opinion ("In my opinion, ..."), here and in claims.py.
OPINION_FRAME_EN = r"personally|in my (?:humble )?opinion|imo"
# A finite English verb, and the words that open a clause stating something with one.
_VERB = rf"(?:{EN_AUXILIARIES}|{EN_PAST})"
_CLAUSE_WORDS = r"because|since|as|which|who|whose|that|how|when|where|after|before|while|and|but"
# An opinion that goes on to state something ("I like the movie because it was directed by X",
# "I enjoy Pulp Fiction, which was written by Y") is a claim: a clause word, then a verb.
_NO_EMBEDDED = rf"(?!.*\b(?:{_CLAUSE_WORDS})\s+(?:[\w'-]+\s+){{0,4}}{_VERB}\b)"
# The same for Chinese: a second clause after a comma, or a word that states who did what.
ZH_STATES = rf"(?:[，,；;]\s*\S|{ZH_DOES})"
_ZH_NO_EMBEDDED = rf"(?!.*{ZH_STATES})"
# A lead-in to a list names what follows ("Here are the key points:"), then at most a few words
# without a figure, a verb, a comma or a colon inside: "Here's the thing, Llama was made by
# Google" and "Here is a summary of why Llama was made by Google" are claims.
_LEAD_NOUN = (r"(?:a |an |the |some |my )?(?:quick |brief |short |detailed |concise )?(?:summary|overview|answer|list|breakdown|"
              r"comparison|explanation|rundown|key points|main points|points|details|steps|highlights|differences|facts|results|"
              r"what i found|what (?:the|your) \w+ says?)\b")
_LEAD_TAIL = rf"(?!.*\d)(?!.*\b{_VERB}\b)[^.!?:：,，]{{0,60}}[:：]?"
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
        r"^you(?:'re| are|r)? (?:very |most )?welcome" + _END,  # "You welcome", "Your welcome": chat typos
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
        r"^you(?:'re| are)\s+(?:absolutely |quite |totally |so )?(?:right|correct)"
        r"(?:\s+(?:on|about)\s+(?:both|all|that|this|it|them|those|these)(?:\s+of\s+(?:them|those|these)(?:\s+\w+)?)?)?" + _END,
        r"^(?:good|great|excellent|interesting|fair|nice) (?:point|question|choice|pick|idea)" + _END,
        r"^(?:i )?(?:didn't|did not|never) know (?:that|this|it)(?: (?:either|before|until now))?" + _END,
        r"^(?:now )?i (?:know|see) (?:why|that now)" + _END,
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
        # wishes and guesses about the user's own taste: "Hope you enjoy!", "You'll love it"
        r"^hope (?:you|you'll|you will) (?:enjoy|like|love)\b(?!.*\d).{0,30}$",
        r"^(?:i'm sure |i bet )?you(?:'ll| will| would| might| may)\s+(?:really |definitely |probably |surely )?(?:like|love|enjoy)"
        r"\s+(?:it|that|this|them|those|these|that one|this one)(?:\s+(?:too|as well|a lot|very much))?" + _END,
        r"^(?:希望(?:这|以上|我的)?(?:回答|内容|信息)?(?:能)?(?:对你|对您)?(?:有所|有)帮助|如(?:果)?(?:你|您)?(?:还)?有(?:其他|任何)?(?:问题|疑问)|欢迎(?:随时|继续)?(?:提问|咨询)|祝你|祝您|再见|保重).{0,30}$",
    )),
    # a lead-in to a list or summary that names no figure: "Here are the key points:", "以下是要点："
    ("framing", "chitchat", _rx(
        rf"^(?:here(?:'s| is| are)|below (?:is|are)|the following (?:is|are))\s+{_LEAD_NOUN}{_LEAD_TAIL}" + _END,
        rf"^let me (?:explain|clarify|summari[sz]e|break (?:it|this|that) down|walk you through (?:it|this|that))\b{_LEAD_TAIL}" + _END,
        r"^(?:the )?(?:key |main )?(?:differences|points|steps|reasons|details|features|options) (?:are )?(?:as follows|listed below|below)[:：]?" + _END,
        rf"^(?:以下是|下面是|主要(?:内容|要点|区别|特点)如下|具体如下|如下)(?!.*(?:是|{ZH_DOES}))[^0-9。！？:：，,]{{0,20}}[:：]?" + _END,
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
        r"feel|hope|wish|want|would love|'d love|can't wait|cannot wait)\b(?!.*\d)" + _NO_EMBEDDED + r".*$",
        r"^i(?:'m| am) (?:also )?(?:a )?(?:huge |big |really big )?(?:[\w'-]+ ){0,3}fan\b(?!.*\d)" + _NO_EMBEDDED + r".*$",
        # the speaker's own experience of a work: "I have not seen it but have heard about it"
        r"^i(?: have|'ve| had)?\s+(?:not |never |already |also |just )?(?:seen|saw|read|watched|heard (?:of|about)|listened to|played)"
        r"\s+(?:it|that|this|them|those|these|that one|this one|one)\b(?!.*\d).{0,50}$",
        r"^i(?:'m| am) (?:so |really |very )?(?:glad|happy|excited|thrilled|jealous|impressed|sad|curious|interested)\b(?!.*\d)"
        + _NO_EMBEDDED + r".*$",
        rf"^(?:{OPINION_FRAME_EN}|my (?:personal )?favou?rite)\b(?!.*\d)" + _NO_EMBEDDED + r".*$",
        r"^i (?:think|find|found) (?:it|that|this|they|them)(?:'s| is| was| are| were| would be| sounds| seems)?\s*(?:so |really |very |pretty |quite )?"
        r"(?:great|good|nice|cool|awesome|amazing|interesting|fascinating|beautiful|wonderful|fun|funny|sad|scary|boring|a (?:good|great) idea)" + _END,
        # a judgement of a thing with nothing else said of it: "It is a great read.", "The series is really good."
        r"^(?:that|this|it|they|these|those|the (?:[a-z]+ ){0,2}[a-z]+)(?:'s| is| was| are| were| sounds| seems| looks)\s+(?:like\s+)?"
        r"(?:a |an )?(?:so |really |very |pretty |quite |super )?"
        r"(?:great|good|nice|cool|awesome|amazing|interesting|fascinating|wonderful|fun|funny|sad|terrible|too bad|a shame|"
        r"good to know|unfortunate|impressive|lovely|exciting|incredible)"
        r"(?:\s+(?:read|one|ones|movie|film|book|show|series|song|album|game|story|pick|choice|watch))?" + _END,
        r"^(?:how|what a) (?:interesting|cool|sad|nice|fun|great|lovely|wonderful)\b.{0,20}$",
        r"^(?:wow|oh wow|awesome|cool|nice|great|amazing|interesting|lol|haha)" + _END,
        r"^我(?:也|真的|非常|很|特别|挺|一直|就){0,2}(?:喜欢|爱|讨厌|希望|期待|羡慕|佩服|想念|好奇)" + _ZH_NO_EMBEDDED + r"[^0-9]*$",
        r"^我(?:也|真的)?(?:很|非常|特别|挺)?(?:高兴|开心|激动|难过|感兴趣)" + _ZH_NO_EMBEDDED + r"[^0-9]*$",
        r"^(?:我个人(?:认为|觉得)|在我看来|我觉得(?:这|那|它)?(?:很|真|挺|非常)?(?:好|棒|不错|有意思|有趣|酷))[，,]?" + _ZH_NO_EMBEDDED + r"[^0-9]*$",
        r"^(?:太(?:棒|好|酷|厉害|有意思)了|真(?:棒|好|不错|有意思|有趣|厉害)|听起来(?:很|真|挺)?(?:不错|很棒|有意思|有趣)|挺(?:好|不错|有意思)的?|好(?:酷|棒|有趣)啊?|哇|哈哈+)" + r"[^0-9]{0,6}$",
    )),
]
# "Did you know he won?" asks nothing (the rest is the claim); "Do you know of this one?" asks.
_NOT_ASKING_ABOUT = r"(?!(?:of|about|if|whether|what|who|where|when|why|how|which|any)\b)"
# Prefixes stripped off a clause before it is graded: ("code", kind, pattern). What follows is the
# claim ("Well, I know it's the largest state" grades "it's the largest state").
PREFIXES: list[tuple[str, Kind, re.Pattern[str]]] = [
    ("agreement", "chitchat", _rx(
        r"^(?:yes|yeah|yep|sure|ok|okay|well|oh|ah|hmm|so|actually|indeed|right|exactly|absolutely|of course|"
        r"true|correct|great|cool|wow|haha|honestly|interesting|no|nope)\s*[,!.]\s+",
        r"^(?:well|oh|ah|hmm|yes|yeah)\s+(?=i\b)",
        r"^(?:好的|是的|对|没错|当然|嗯|哦|确实|其实|说实话|谢谢(?:你|您)?(?:的)?(?:提问)?)[，,！!。]\s*",
        r"^(?:good|great|excellent|interesting|fair) (?:question|point|choice)\s*[,!.]\s+",
        r"^(?:好问题|问得好|太棒了|太好了|哈哈+)[，,！!。]\s*",
    )),
    # "Hi there, ...", "Happy to help, ...", "Sorry, ...", "不好意思，...": the rest is graded on its own
    ("greeting", "chitchat", _rx(
        r"^(?:hi|hello|hey)(?: there)?\s*[,!.]\s+",
        r"^(?:你好|您好|大家好|嗨)[，,！!。]\s*",
    )),
    ("pleasantry", "chitchat", _rx(r"^(?:happy|glad) to help\s*[,!.]\s+")),
    ("apology", "chitchat", _rx(
        r"^(?:sorry|my apologies|apologies|i'?m sorry)\s*[,!.]\s+",
        r"^(?:不好意思|抱歉|对不起)[，,！!。]\s*",
    )),
    # "My pleasure, let me know if ...", "Thanks, hope you enjoy it!": the rest is graded on its own
    ("thanks", "chitchat", _rx(
        r"^(?:thanks?|thank you(?: (?:so|very) much)?|many thanks|my pleasure|no problem|no worries|anytime|"
        r"you(?:'re| are|r)? (?:very |most )?welcome)\s*[,!.]\s+",
        r"^(?:不客气|不用谢|别客气|不用客气)[，,！!。]\s*",
    )),
    ("attribution", "chitchat", _rx(
        r"^(?:well,?\s+|oh,?\s+)?(?:i (?:know|heard|read|learned|recall|remember|have (?:heard|read))|they say|it is said)(?:\s+that)?[,\s]\s*",
        r"^(?:and\s+)?(?:also\s+)?(?:i\s+)?(?:remember|recall|know|heard|read|learned)\s+that\s+",
        rf"^(?:{CONCESSIONS})\s+",
        r"^(?:我(?:听说|知道|记得)|听说|据了解|据悉|据报道|据介绍|据称|据说|众所周知)[，,]?\s*",
    )),
    # where the facts come from, and transitions: "According to the context,", "Based on passage 2,",
    # "In summary,", "根据提供的资料，", "综上所述，". The rest of the clause is the claim.
    ("framing", "chitchat", _rx(
        r"^(?:based on|according to|from|per|as (?:stated|mentioned|described|noted|shown) in|in)\s+(?:the\s+)?"
        r"(?:provided\s+|given\s+|above\s+|available\s+|retrieved\s+|supplied\s+|cited\s+|search\s+)?"
        r"(?:context|passages?|documents?|docs?|sources?|texts?|articles?|information|excerpts?|materials?|results|"
        r"knowledge(?: base)?|references?|data|documentation|manual|guide|faq|table)(?:\s*\[?\d{1,3}\]?(?:\s*(?:and|,)\s*\[?\d{1,3}\]?)*)?"
        r"(?:\s+(?:provided|given|above|available))?\s*[,:]\s*",
        r"^(?:according to|based on|per)\s+\[\d{1,3}\]\s*[,:]?\s*",
        r"^(?:in summary|to summarize|in short|in conclusion|overall|to sum up|in brief|additionally|furthermore|moreover|also|"
        r"in other words|for example|for instance|to answer your question|that said)\s*,\s*",
        r"^\**(?:note|answer|short answer|summary|tl;?dr)\s*[:：]\**\s*",
        r"^(?:根据|依据|按照|从|据)(?:所?提供的|给出的|给定的|上述|以上|现有|检索到的)?(?:的)?"
        r"(?:资料|文档|材料|上下文|信息|内容|文章|段落|参考资料|检索结果|知识库|来源)\s*\d{0,3}(?:中|来看|显示|可知|所述)?[，,：:]\s*",
        r"^(?:综上所述|总之|总的来说|总而言之|简而言之|简单来说|此外|另外|同时|首先|其次|最后|例如|比如|换句话说|也就是说|需要注意的是)[，,：:]\s*",
        r"^\**(?:注意|答案|回答|总结|注)\s*[:：]\**\s*",
    )),
    ("hedge", "hedge", _rx(
        r"^(?:i (?:think|believe|guess|suppose|feel like|reckon|assume)|i'?m (?:pretty |fairly |quite )?(?:sure|certain|confident)|"
        r"if i (?:remember|recall) (?:correctly|right)|as far as i (?:know|can tell|remember)|to (?:the best of )?my knowledge|"
        r"from what i (?:know|remember|recall|understand|read)|"
        r"maybe|perhaps|probably|possibly|apparently|presumably|supposedly)(?:\s+that)?[,\s]\s*",
        r"^(?:我(?:觉得|认为|猜|想|相信)|据我所知|如果我没记错(?:的话)?|也许|可能|大概|或许|好像|似乎)[，,]?\s*",
    )),
    ("question", "question", _rx(
        rf"^(?:did|do) you know(?: that)?[,\s]\s*{_NOT_ASKING_ABOUT}",
        r"^你(?:知道|可知道|听说过)(?:吗)?[，,]?\s*",
    )),
]
ASKS_BACK = re.compile(rf"^(?:did|do) you know(?: that)?[,\s]\s*{_NOT_ASKING_ABOUT}\S"
                       r"|^你(?:知道|可知道|听说过)(?:吗)?[，,]\s*\S", re.IGNORECASE)
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
BARE_YES = re.compile(r"^(?:yes|yeah|yep|yup|correct|that(?:'s| is) (?:right|correct|true)|true|right|exactly|indeed|absolutely|"
                       r"是的|是|对|对的|没错|正确|确实如此|确实)\W*$", re.IGNORECASE)


# A question that states a fact on the way ("Do you like it because of its author Stephen King?",
# "Can I recommend the sequel directed by Ruben Fleischer?") is graded: the fact is the model's.
_PRESUPPOSES = re.compile(
    r"\b(?:directed|written|produced|composed|created|founded|invented|published|released|sung|performed|owned|"
    r"developed|designed|built|made|starring|starred|acquired)\s+(?:by|in|on)\b|\b(?:its|his|her|their)\s+"
    r"(?:author|director|writer|creator|founder|composer|singer|star|owner|developer)\b|\b(?:called|named)\s+[\"“A-Z]",
)


# "你知道Llama是谷歌发布的吗？" is "Did you know Llama was released by Google?": it asks nothing
# ("你知道Llama是谁发布的吗？" asks who; "你听说过这部电影吗？" states nothing).
_ZH_DID_YOU_KNOW = re.compile(
    rf"^你(?:知道|可知道|听说过)(?!.*(?:什么|哪|谁|怎么|怎样|如何|多少|几|为什么|为何|是否|有没有)).*(?:是|{ZH_DOES}).*[吗么]"
)


def _names_doing(question: str) -> bool:
    """ "Do you know why Google made Llama?": a name doing something inside a question is the
    model's statement ("Do you know how it was trained?" asks)."""
    if cjk.has_cjk(question):
        return bool(_ZH_DID_YOU_KNOW.match(question))
    return _a_name_does(question)


def _a_name_does(text: str) -> bool:
    """A name with a verb right after it (one word may come between): "the model Google made"."""
    return any(re.search(rf"\b{re.escape(n)}\s+(?:\w+\s+)?{_VERB}\b", text)
               for n in capitalised_terms(text))


def _presupposes(question: str) -> bool:
    """A relation word next to a name, or a figure: the question asserts something."""
    if cjk.has_cjk(question):
        return False
    return bool(_PRESUPPOSES.search(question)) and bool(re.search(r"\d", question) or capitalised_terms(question))


_FRAME = re.compile(rf"^(?:{OPINION_FRAME_EN})\b[,\s]*", re.IGNORECASE)
_MADE_BY = re.compile(r"\b[a-z]{3,}ed\s+(?:by|in|on)\b", re.IGNORECASE)


def _framed_fact(body: str) -> bool:
    """ "In my opinion, Llama was made by Google": a fact in an opinion's frame (whatever
    after the frame does more than judge, ``only_judges``) is a claim."""
    m = _FRAME.match(body)
    return bool(m) and not only_judges(body[m.end():])


def only_judges(text: str) -> bool:
    """After "In my opinion,": a judgement ("it is the best model"), not a fact wrapped in one
    ("Llama was made by Google", "它是谷歌发布的"): no figure, no name, no word of who did what."""
    if re.search(r"\d", text):
        return False
    if cjk.has_cjk(text):
        return not re.search(ZH_STATES, text)
    return not capitalised_terms(text) and not _MADE_BY.search(text)


def is_polar_question(question: str) -> bool:
    """A yes/no question: its bare "Yes" asserts the question's statement."""
    last = question.strip().splitlines()[-1] if question.strip() else ""
    return bool(last) and bool(_POLAR_EN.search(last) or _POLAR_ZH.search(last))


# Talk that goes on to state something: the formula's free tail ("Feel free to use Qwen, which
# Google released last year.", "Hope this helps: Llama was made by Google.", "希望对你有帮助，
# Llama是谷歌发布的。") hid a claim from the check. A statement is a clause word with a verb
# after the start ("That is right." is talk; "when you are ready" is the user's side), a verb
# with its agent or date ("made by Google"), a clause after a colon, or a name doing something
# ("the model Google made"); in Chinese, a second clause that says who did what or what a
# named thing is ("Llama是谷歌的模型"; "在我看来，这是最好的模型" only judges).
_STATES_EN = re.compile(
    rf"\s(?:{_CLAUSE_WORDS}|why)\s+"
    rf"(?!(?:you|you're|i|i'm|we|we're)\b)(?:[\w'-]+\s+){{0,4}}{_VERB}\b"
    rf"|\b{EN_PAST}\s+(?:by|in|on)\s+[A-Z0-9]|[:;–—]\s*\S.*\b{_VERB}\b",
    re.IGNORECASE,
)


def states_more(body: str) -> bool:
    """Whether talk ``body`` also states a fact (see above): then it is graded as a claim."""
    if cjk.has_cjk(body):
        return bool(re.search(rf"[，,；;：:].*(?:{ZH_DOES}|[A-Za-z0-9][\w.-]*\s*(?:是|为))", body))
    return bool(_STATES_EN.search(body)) or _a_name_does(body)


def whole_kind(text: str) -> tuple[str, Kind] | None:
    body = text.strip().strip("\"'“”‘’()（）")
    if not body:
        return None
    for why, kind, rx in _WHOLE:
        if rx.match(body):
            if (kind == "opinion" and _framed_fact(body)) or (kind == "hedge" and asserts_after_hedge(body)):
                return None
            if kind != "hedge" and states_more(body):
                return None
            return why, kind
    if _QUESTION_END.search(body) and (_ASKS_ZH if cjk.has_cjk(body) else _ASKS_EN).search(body) \
            and not _presupposes(body) and not _names_doing(body):
        return "question", "question"
    if is_refusal(body):
        return "hedge", "hedge"
    return None


def classify(text: str) -> tuple[Kind, str]:
    """The kind of one clause and its reason code ("" for a claim)."""
    found = whole_kind(text)
    return (found[1], found[0]) if found else ("claim", "")

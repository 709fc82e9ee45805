"""An answer measured against its question: what it only echoes, and what it adds.

An answer to a question repeats the question's words and adds what it answers. The question is
not evidence (the passages were retrieved *for* it, so its words are always there), so the
echoed words count little towards coverage (``fresh_coverage``), and what the answer adds must
itself be in the evidence (``unstated_addition``), a denial of what the question takes for
granted included (``denied_premise``).
"""

from __future__ import annotations

import re

from guard.checks.grounding.contradiction import same_object
from guard.checks.grounding.evidence import EvidenceText
from guard.checks.grounding.lexicon import key
from guard.checks.grounding.polarity import polarity
from guard.checks.grounding.talk import is_polar_question
from guard.checks.grounding.units import Claim
from guard.text import cjk, tokens
from guard.text.sentences import split_sentences

# How much a claim's words that also occur in the question count towards its coverage (1 = like
# its own words). The question is not evidence: "Gerina Dunwich was born earlier", answering "Who
# was born earlier, Gerina Dunwich or Erich Maria Remarque?", found every word of it in passages
# retrieved *for the question*. Measured on the development sets, 0.3 (against 1) raised AUROC on
# Chinese news whose question is the headline (0.845 -> 0.850) and cost English QA 0.001.
QUESTION_WORD_WEIGHT = 0.3


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


# An answer that restates a question (at least two of its words) and adds at least three
# English words or stated figures, fewer than half of them in the evidence, is held like one
# whose additions are all missing (``unstated_addition``).
THIN_MIN_ECHOED = 2
THIN_MIN_ADDED = 3
THIN_FOUND_BELOW = 0.5
# how a question (its last sentence) asks, when it does not end with a question mark
_ASKING = re.compile(
    r"^\W*(?:what|which|who|whom|whose|when|where|why|how|is|are|was|were|do|does|did|can|could|will|"
    r"would|has|have|had|should|tell|explain|describe|list|name|give|show)\b",
    re.IGNORECASE,
)


def asks(question: str) -> bool:
    """Whether the question's last sentence asks something, so an answer's added words are its
    answer; a chat turn that only remarks ("I love his films.") is answered with talk and facts
    of the replier's own."""
    sentences = split_sentences(question.strip())
    last = sentences[-1].text.strip() if sentences else ""
    return last.endswith(("?", "？")) or bool(_ASKING.match(last))


def unstated_addition(claim: Claim, ev: EvidenceText, given: frozenset[str], asked: bool = False, figures: int = 0) -> list[str]:
    """The words a claim adds to the question that the evidence lacks, when it lacks all of
    them, or (``asked``: the question asks something) most of them (``_mostly_missing``); else [].
    ``figures``: how many figures the claim states that the evidence has (they count as found).

    An answer to a question repeats its words and adds what it answers; when the added words
    are absent from the evidence, the answer is the question's own words around something
    unsupported: "Kendal Mint Cake is chocolate-flavored." (evidence: "flavoured with
    peppermint"), "Nintendo released International Superstar Soccer 2." (evidence: Konami),
    "TTFT includes the network handshake, disk loading and tokenizer warm-up." (evidence: "It
    includes queueing time and the prefill phase"; only "tokenizer" matches, by its stem).
    Coverage counts the echoed words and lets such a claim pass. Measured on English QA (the
    default policy's hold edge), all missing held 11% of the hallucinations and most missing 3%
    more; neither held a grounded answer. Chinese bigrams only count when all are missing: a
    paraphrase shares few bigrams with its source.
    """
    if not given:
        return []
    new_stems = {u for u in claim.stems if u not in given}
    new_cjk = [u for u in claim.cjk2 if u not in given]
    if not new_stems and not new_cjk:
        return []
    missing = {u for u in new_stems if u not in ev.stems}
    if len(missing) < len(new_stems) or any(u in ev.cjk2 for u in new_cjk):
        echoed = len({u for u in claim.stems if u in given})
        if not (asked and _mostly_missing(echoed, len(new_stems) + figures, len(missing))):
            return []
        new_cjk = []  # some of them are in the evidence: the English words are what it lacks
    words = [w for w in tokens.content_words(claim.text) if tokens.stem(w) in missing]
    # the Chinese stretches neither the evidence nor the question has, as a reviewer reads them
    runs = (cjk.novel_runs(claim.text, ev.cjk2 | given) or new_cjk) if new_cjk else []
    return list(dict.fromkeys(words + runs))


def _mostly_missing(echoed: int, added: int, missing: int) -> bool:
    """An answer that restates the question and adds three words or figures or more, fewer than
    half of them in the evidence. Holding at half found caught 8 points of English QA's
    hallucinations instead of 3, but also true paraphrases such as "It supports a context window
    of 128K tokens." (evidence: "context length"), one new word in two."""
    found = added - missing
    return echoed >= THIN_MIN_ECHOED and added >= THIN_MIN_ADDED and found < THIN_FOUND_BELOW * added


# an evidence question answered "No." (an FAQ) denies, though it has no negation word
_ANSWERED_NO = re.compile(r"\?\s*No\b")


def denied_premise(claim: str, question: str, evidence: str) -> list[str]:
    """What an answer denies of a wh-question's premise ("not renovated"), when the evidence
    denies none of it; else [].

    "Sky Rocket was renovated into which roller coaster?" takes the renovation for granted, and
    "Sky Rocket was not renovated." has every word in the evidence, so coverage passed it at
    0.96; but a denial is supported only by evidence that denies. Evidence with any negation,
    or an FAQ's "...? No.", may deny in its own words ("trained without a supervised
    fine-tuning stage" for "did not use supervised fine-tuning"), so this speaks only when the
    evidence denies nothing at all. A yes/no question takes nothing for granted ("Does
    DeepSeek-V3 support 1M tokens?" "No, it does not."), and a denial the evidence contradicts
    is a contradiction (``contradiction.py``). Measured on English QA, it held 1% more of the
    hallucinations and no grounded answer.
    """
    if not question.strip() or is_polar_question(question):
        return []
    mine = polarity(claim)
    # what is denied of something the evidence does not name is not this ("Qwen2.5 was not
    # released by Google" for "When was Qwen2.5 released by Google?")
    denied = {k for k in mine.negated & polarity(question).plain if same_object(k, claim, evidence)}
    if not denied or polarity(evidence).negated or _ANSWERED_NO.search(evidence):
        return []
    words = [w for w in tokens.words(claim) if key(w) in denied]
    return [f"{mine.cues.get(key(w), 'not')} {w}" for w in dict.fromkeys(words)]

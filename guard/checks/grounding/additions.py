"""An answer measured against its question: what it only echoes, and what it adds.

An answer to a question repeats the question's words and adds what it answers. The question is
not evidence (the passages were retrieved *for* it, so its words are always there), so the
echoed words count little towards coverage (``fresh_coverage``), and what the answer adds must
itself be in the evidence (``unstated_addition``).
"""

from __future__ import annotations

from guard.checks.grounding.evidence import EvidenceText
from guard.checks.grounding.units import Claim
from guard.text import cjk, tokens

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


def unstated_addition(claim: Claim, ev: EvidenceText, given: frozenset[str]) -> list[str]:
    """The words a claim adds to the question, when the evidence states none of them; else [].

    An answer to a question repeats its words and adds what it answers; when every added
    word is absent from the evidence, the answer is the question's own words around something
    unsupported: "Kendal Mint Cake is chocolate-flavored." (evidence: "flavoured with
    peppermint"), "Nintendo released International Superstar Soccer 2." (evidence: Konami).
    Coverage alone counts the echoed words and lets such a claim pass; measured on English QA,
    this held 11% of the hallucinations and none of the grounded answers.
    """
    if not given:
        return []
    new_stems = {u for u in claim.stems if u not in given}
    new_cjk = [u for u in claim.cjk2 if u not in given]
    if not new_stems and not new_cjk:
        return []
    if any(u in ev.stems for u in new_stems) or any(u in ev.cjk2 for u in new_cjk):
        return []
    words = [w for w in tokens.content_words(claim.text) if tokens.stem(w) in new_stems]
    # the Chinese stretches neither the evidence nor the question has, as a reviewer reads them
    runs = (cjk.novel_runs(claim.text, ev.cjk2 | given) or new_cjk) if new_cjk else []
    return list(dict.fromkeys(words + runs))

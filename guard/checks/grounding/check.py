"""The grounding check: is each sentence of the answer backed by the knowledge index?

Evidence is found by keywords first (BM25 over the sentence's words and Chinese bigrams, not
its numbers; no model call), because support is scored lexically and the passages that matter
are the ones sharing the sentence's words. In the default ``auto`` retrieval only a sentence
whose keyword candidates share less than a quarter of its words (a paraphrase, another
vocabulary) is embedded and searched semantically as well, in one batch per answer, so a
typical answer costs no model call and a few milliseconds. Optional verifiers (an NLI cross-encoder, an LLM
judge) refine the lexical support when the policy switches them on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal, Protocol


from guard.checks.base import CheckInput, CheckOutcome, Evidence, SentenceScore
from guard.checks.grounding.combiner import Combiner
from guard.checks.grounding.crossencoder import hypothesis, premise
from guard.checks.grounding.evidence import EvidenceCache, EvidenceText
from guard.checks.grounding.choice import check_order
from guard.checks.grounding.additions import asks, denied_premise, fresh_coverage, question_units, unstated_addition
from guard.checks.grounding.claims import ClaimSpan, split_answer
from guard.checks.grounding.features import SupportFeatures, measure, hard_cap, reason_codes, reasons, rough_overlap, score
from guard.checks.grounding.reasons import code, render
from guard.checks.grounding.units import Claim
from guard.knowledge.types import Hit, Retriever
from guard.text.normalize import Aliases, default_aliases
from guard.text.sentences import split_sentences

UNSUPPORTED_BELOW = 0.5  # a sentence with less support than this is listed as unsupported
# Retrieve this many times top_k and keep the top_k that share most words with the sentence:
# the question in the query pulls in passages on its topic, and the rerank keeps the ones
# that state what this sentence says.
CANDIDATE_FACTOR = 4
_MAX_SPAN_CHARS = 400
# In ``auto`` retrieval, a sentence whose best keyword candidate holds less than this share of
# its words (keywords found nothing on its topic) is also searched by embedding. Measured on the
# development sets, 0.25 embeds 4-23% of sentences where 0.5 embedded 15-74%, with the same AUROC.
SEMANTIC_FALLBACK_BELOW = 0.25
Retrieval = Literal["auto", "lexical", "hybrid", "semantic"]


class Verifier(Protocol):
    """A stronger judge of support: probability that each claim follows from its evidence.

    ``None`` for a pair means "no opinion" (e.g. the judge's reply could not be read).
    """

    name: str

    def verify(self, pairs: Sequence[tuple[str, str]]) -> list[float | None]: ...


def combine(lexical: float, verdicts: Sequence[float | None], weight: float | None = None) -> float:
    """The lexical support with every verifier that gave an opinion: their plain average, or,
    with ``weight``, ``(1 - weight) * lexical + weight * mean(verdicts)``."""
    given = [v for v in verdicts if v is not None]
    if not given:
        return lexical
    if weight is None:
        return (lexical + sum(given)) / (1 + len(given))
    return (1 - weight) * lexical + weight * sum(given) / len(given)


def aggregate(supports: Sequence[float]) -> float:
    """One confidence for the answer: the support of its weakest check-worthy claim.

    An answer is as trustworthy as its worst claim, and nothing else in it can vouch for that
    claim: with the former "half weakest, half mean", a wrong figure (0.35) followed by one
    well-supported filler line (0.95) scored 0.5 and was merely annotated. No smoothing: talk
    (greetings, hedges, questions) is never graded, so it cannot lower the minimum either.
    An answer with no graded claim has confidence 1.0.
    """
    if not supports:
        return 1.0
    return min(supports)


def _as_claim(piece: ClaimSpan) -> ClaimSpan:
    return ClaimSpan(piece.text, piece.start, piece.end)


def evidence_span(claim: Claim, passage: str) -> str:
    """The sentence of ``passage`` sharing most words with ``claim``, for citation.

    Short passages are cited whole. Sentences are compared by substring search (as in the
    rerank), which costs microseconds where a fuzzy alignment costs a millisecond.
    """
    if len(passage) <= _MAX_SPAN_CHARS // 2:
        return passage
    sentences = split_sentences(passage)
    if not sentences:
        return passage[:_MAX_SPAN_CHARS]
    best = max(sentences, key=lambda s: rough_overlap(claim, s.text.lower()))
    return best.text[:_MAX_SPAN_CHARS]


def cover(claim: Claim, row: list[Hit], k: int) -> list[Hit]:
    """The ``k`` candidates that together state most of the claim, greedily: the passage sharing
    most of its words first, then each time the one adding most words and figures not yet
    found (ties and near-ties go to overall overlap).

    Ranked by overlap alone, a claim joining two facts ("Phil Haste, 60, was fined £50") got
    eight passages naming Phil Haste and none with the £50 fine, and the figure was reported
    missing. Measured on the development sets: Chinese news 0.876 -> 0.887 AUROC, the others
    unchanged.
    """
    words = claim.stems + claim.cjk2
    units = set(words) | {q.text.lower() for q in claim.quantities}
    found = [{u for u in units if u in lower} for lower in (h.passage.text.lower() for h in row)]
    # the candidate's share of the claim's words (``rough_overlap``), nudged by its retrieval score
    keys = [(sum(1 for u in words if u in f) / len(words) if words else 1.0) + 0.1 * h.score for f, h in zip(found, row)]
    order = sorted(range(len(row)), key=lambda i: keys[i], reverse=True)
    if len(row) <= k or not units:
        return [row[i] for i in order[:k]]
    picked, covered = [order[0]], set(found[order[0]])
    rest = order[1:]
    while len(picked) < k and rest:
        best = max(rest, key=lambda i: len(found[i] - covered) / len(units) + 0.5 * keys[i])
        picked.append(best)
        rest.remove(best)
        covered |= found[best]
    return [row[i] for i in picked]


def _best_overlap(claim: Claim, row: list[Hit]) -> float:
    return max((rough_overlap(claim, h.passage.text.lower()) for h in row), default=0.0)


def _similarity(row: list[Hit]) -> float | None:
    """The best cosine among the evidence, when the sentence was embedded at all."""
    known = [h.similarity for h in row if h.similarity is not None]
    return max(known) if known else None


class GroundingCheck:
    """Grades every sentence of the answer against evidence retrieved for it."""

    name = "grounding"

    def __init__(
        self,
        retriever: Retriever | None = None,
        *,
        top_k: int = 4,
        retrieval: Retrieval = "auto",
        refusals_safe: bool = True,
        chitchat_safe: bool = True,
        separate_clauses: bool = False,
        min_sentence_chars: int = 8,
        verifiers: Sequence[Verifier] = (),
        unsupported_below: float = UNSUPPORTED_BELOW,
        cache: EvidenceCache | None = None,
        combiner: Combiner | None = None,
        verifier_weight: tuple[float, float] | None = None,
    ) -> None:
        self.retriever = retriever
        self.top_k = top_k
        self.retrieval = retrieval
        self.refusals_safe = refusals_safe
        self.chitchat_safe = chitchat_safe
        self.separate_clauses = separate_clauses
        self.min_sentence_chars = min_sentence_chars
        self.verifiers = list(verifiers)
        self.unsupported_below = unsupported_below
        self.cache = cache or EvidenceCache()
        self._alias_cache: tuple[tuple, Aliases] | None = None
        # Features -> support: the hand-set model (features.score) unless the policy names a
        # weights file (guard calibrate); a verifier whose name the weights list is one of its
        # features, the others are averaged in (combine). Caps on hard evidence hold either way.
        self.combiner = combiner
        # (with a question, without one); None = plain average (combine)
        self.verifier_weight = verifier_weight

    def run(self, inp: CheckInput) -> CheckOutcome:
        retriever = inp.retriever or self.retriever
        if retriever is None:
            raise RuntimeError("grounding is enabled but no knowledge index is loaded")
        pieces = self._pieces(inp.answer, inp.question)
        claims = [p for p in pieces if p.checked]
        graded, features = self._grade_claims(inp.question, claims, retriever)
        queue = iter(graded)
        sentences = [next(queue) if p.checked else self._talk(p) for p in pieces]
        details = {
            "index_version": retriever.version,
            "refusal": bool(pieces) and all(p.kind == "refusal" for p in pieces),
            "no_claim": bool(pieces) and not graded,
            "verifiers": [v.name for v in self.verifiers],
            "features": features,
            "graded": [i for i, p in enumerate(pieces) if p.checked],  # the sentences "features" describe
        }
        return CheckOutcome(
            self.name,
            passed=not any(s.unsupported for s in sentences),
            confidence=aggregate([s.support for s in graded]),
            sentences=sentences,
            details=details,
        )

    def _pieces(self, answer: str, question: str) -> list[ClaimSpan]:
        """The answer's claims and talk (``claims.split_answer``), after the policy's switches:
        refusals are graded when ``refusals_safe`` is off, and an answer with nothing
        check-worthy is graded piece by piece when ``chitchat_safe`` is off."""
        pieces = split_answer(answer, question, self.min_sentence_chars, separate=self.separate_clauses)
        if not self.refusals_safe:
            pieces = [_as_claim(p) if p.kind == "refusal" else p for p in pieces]
        if not self.chitchat_safe and not any(p.checked for p in pieces):
            pieces = [_as_claim(p) for p in pieces]
        return pieces

    def _grade_claims(
        self, question: str, claims: list[ClaimSpan], retriever: Retriever
    ) -> tuple[list[SentenceScore], list[SupportFeatures]]:
        """Grade the claims, in one batch. A clause cut from a sentence with other claims
        (``separate_clauses``) is also graded as that sentence, and its support is the mean of
        the two: a short clause alone is a noisy measurement (on the development sets grading
        clauses alone cost 0.002-0.01 AUROC), while a clause the sentence cannot vouch for
        still pulls its sentence down."""
        wholes = list(dict.fromkeys(p.sentence for p in claims if p.sentence))
        graded, features = self._grade(question, claims + [ClaimSpan(w, 0, 0) for w in wholes], retriever)
        if not wholes:
            return graded, features
        by_whole = dict(zip(wholes, graded[len(claims) :]))
        graded, features = graded[: len(claims)], features[: len(claims)]
        for p, g in zip(claims, graded):
            if p.sentence:
                g.support = (g.support + by_whole[p.sentence].support) / 2
                g.unsupported = g.support < self.unsupported_below
        return graded, features

    def _talk(self, piece: ClaimSpan) -> SentenceScore:
        """A piece that is not graded: full support, its kind and why, never unsupported."""
        why = code(piece.why or piece.kind)
        return SentenceScore(
            piece.text, piece.start, piece.end, support=1.0, reasons=[render(why)], codes=[why], kind=piece.kind
        )

    def _rerank(self, claim: Claim, row: list[Hit]) -> list[Hit]:
        return cover(claim, row, self.top_k)

    def _retrieve(self, queries: list[str], claims: list[Claim], retriever: Retriever) -> list[list[Hit]]:
        """Candidates per sentence, reranked by shared words; see the module docstring."""
        k = self.top_k * CANDIDATE_FACTOR
        first = "lexical" if self.retrieval == "auto" else self.retrieval
        found = retriever.search_many(queries, k, first)
        hits = [self._rerank(c, row) for c, row in zip(claims, found)]
        if self.retrieval != "auto":
            return hits
        weak = [i for i, (c, row) in enumerate(zip(claims, hits)) if _best_overlap(c, row) < SEMANTIC_FALLBACK_BELOW]
        if weak:
            more = retriever.search_many([queries[i] for i in weak], k, "semantic")
            for i, extra in zip(weak, more):
                seen = {h.passage.id for h in extra}
                hits[i] = self._rerank(claims[i], extra + [h for h in found[i] if h.passage.id not in seen])
        return hits

    def _grade(
        self, question: str, spans: list[ClaimSpan], retriever: Retriever
    ) -> tuple[list[SentenceScore], list[dict]]:
        if not spans:
            return [], []
        # a clause is searched with its whole sentence: "and their son was born the next year"
        # needs the sentence's subject to find its passage
        queries = [f"{question} {s.sentence or s.graded_text}".strip() for s in spans]
        aliases = self._aliases(retriever)
        claims = [Claim.of(s.graded_text, aliases) for s in spans]
        hits = self._retrieve(queries, claims, retriever)
        parts = [[self.cache.get(h.passage.id, h.passage.text) for h in row] for row in hits]
        evidence = [EvidenceText.merge(p) for p in parts]
        features = [
            measure(c, ev, _similarity(row), p, [str(h.passage.metadata.get("heading", "")) for h in row], aliases)
            for c, ev, row, p in zip(claims, evidence, hits, parts)
        ]
        given = question_units(question)  # words from the question are not support (additions.py)
        asked = asks(question)
        for s, c, ev, f in zip(spans, claims, evidence, features):
            f.coverage = fresh_coverage(c, ev, given, f.coverage)
            if not s.checked_as:  # a bare "Yes" is graded as the question it answers
                stated = len(c.quantities) - len(f.missing_numbers) - len(f.missing_years) - len(f.misbound_numbers)
                f.unstated = unstated_addition(c, ev, given, asked, max(0, stated))
                if not f.unstated and f.conflict is None and asked:
                    f.unstated = denied_premise(c.text, question, ev.text)
            order = check_order(question, c.text, ev.text) if question and f.conflict is None else None
            if order is not None:  # "Which came first, A or B?" (choice.py)
                f.conflict = order.conflict()
                if order.agrees:
                    f.unstated = []  # "came out after": its words are paraphrase, the dates agree
        cited = [self._evidence(c, row) for c, row in zip(claims, hits)]
        learned = self.combiner.features if self.combiner is not None else {}
        verdicts = self._verdicts([
            (hypothesis(c.text, question) if getattr(v, "reads_question", False) else c.text,
             premise([e.span for e in ev]) if v.name in learned or getattr(v, "reads_spans", False) else full.text)
            for c, full, ev in zip(claims, evidence, cited)
        ] for v in self.verifiers)
        inputs = [f.as_dict() for f in features]
        weight = None if self.verifier_weight is None else self.verifier_weight[0 if question.strip() else 1]
        sentences: list[SentenceScore] = []
        for i, (span, f, row) in enumerate(zip(spans, features, hits)):
            mine = [v[i] for v in verdicts]
            averaged = []
            for verifier, v in zip(self.verifiers, mine):
                # recorded either way: guard calibrate fits a weight for it from these features
                inputs[i][verifier.name] = None if v is None else round(v, 4)
                if verifier.name not in learned:
                    averaged.append(v)
            # the most hard evidence allows (score() applies it too): a verifier's opinion cannot
            # lift a claim past it, so a figure the evidence never states stays capped however
            # fluent the claim reads
            cap = hard_cap(f)
            base = score(f) if self.combiner is None else min(self.combiner.support(inputs[i]), cap)
            support = min(combine(base, averaged, weight), cap)
            why = reasons(f) + [
                f"{verifier.name}: not supported ({v:.2f})"
                for verifier, v in zip(self.verifiers, mine)
                if v is not None and v < self.unsupported_below
            ]
            sentences.append(
                SentenceScore(
                    span.text,
                    span.start,
                    span.end,
                    support=support,
                    evidence=cited[i],
                    unsupported=support < self.unsupported_below,
                    reasons=why,
                    codes=reason_codes(f),
                )
            )
        return sentences, inputs

    def _aliases(self, retriever: Retriever) -> Aliases:
        """The built-in alias table plus the knowledge base's own (``aliases.yaml``), compiled
        once per distinct table."""
        groups = getattr(retriever, "aliases", None) or []
        if not groups:
            return default_aliases()
        key = tuple(tuple(g) for g in groups)
        if self._alias_cache is None or self._alias_cache[0] != key:
            self._alias_cache = (key, default_aliases().extended(groups))
        return self._alias_cache[1]

    def _verdicts(self, per_verifier: Iterable[list[tuple[str, str]]]) -> list[list[float | None]]:
        verdicts: list[list[float | None]] = []
        for verifier, pairs in zip(self.verifiers, per_verifier):
            values = list(verifier.verify(pairs)) if pairs else []
            if len(values) != len(pairs):
                raise RuntimeError(f"verifier {verifier.name} returned {len(values)} results for {len(pairs)}")
            verdicts.append(values)
        return verdicts

    def _evidence(self, claim: Claim, row: list[Hit]) -> list[Evidence]:
        """Citations in rerank order (most shared words first), each cut to its best span."""
        return [
            Evidence(h.passage.id, h.passage.source, evidence_span(claim, h.passage.text), round(h.score, 4))
            for h in row
        ]

"""The grounding check: is each sentence of the answer backed by the knowledge index?

Per answer this makes one batched retrieval call (all sentences' queries embedded together);
everything after that is lexical work on cached passage views, so a five-sentence answer
costs one embedding batch plus a few milliseconds. Optional verifiers (an NLI cross-encoder,
an LLM judge) refine the lexical support when the policy switches them on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import structlog
from rapidfuzz import fuzz

from guard.checks.base import CheckInput, CheckOutcome, Evidence, SentenceScore
from guard.checks.evidence import EvidenceCache, EvidenceText
from guard.checks.refusal import is_refusal
from guard.checks.support import measure, overlap, reasons, score
from guard.knowledge.types import Hit, Retriever
from guard.text.sentences import Span, split_claims, split_sentences

log = structlog.get_logger()

UNSUPPORTED_BELOW = 0.5  # a sentence with less support than this is listed as unsupported
# Retrieve this many times top_k and keep the top_k that share most words with the sentence:
# embeddings find the topic, words find the passage that states the fact (and the English
# embedding model barely ranks Chinese passages at all).
CANDIDATE_FACTOR = 4
_MAX_SPAN_CHARS = 400


class Verifier(Protocol):
    """A stronger judge of support: probability that each claim follows from its evidence.

    ``None`` for a pair means "no opinion" (e.g. the judge's reply could not be read).
    """

    name: str

    def verify(self, pairs: Sequence[tuple[str, str]]) -> list[float | None]: ...


def combine(lexical: float, verdicts: Sequence[float | None]) -> float:
    """Average of the lexical support and every verifier that gave an opinion."""
    values = [lexical] + [v for v in verdicts if v is not None]
    return sum(values) / len(values)


def aggregate(supports: Sequence[float]) -> float:
    """One confidence for the answer: between its weakest sentence and the mean.

    An answer is as trustworthy as its worst claim, but one borderline sentence among many
    good ones should not sink it as far as a single bad one does.
    """
    if not supports:
        return 1.0
    return 0.5 * min(supports) + 0.5 * (sum(supports) / len(supports))


def evidence_span(claim: str, passage: str) -> str:
    """The sentence(s) of ``passage`` that best match ``claim``, for citation."""
    if len(passage) <= _MAX_SPAN_CHARS // 2:
        return passage
    align = fuzz.partial_ratio_alignment(claim.lower(), passage.lower())
    if align is None:
        return passage[:_MAX_SPAN_CHARS]
    middle = (align.dest_start + align.dest_end) // 2
    picked = [s for s in split_sentences(passage) if s.end > align.dest_start and s.start < align.dest_end]
    if not picked:
        picked = [s for s in split_sentences(passage) if s.start <= middle <= s.end]
    if not picked:
        return passage[:_MAX_SPAN_CHARS]
    return passage[picked[0].start : picked[-1].end][:_MAX_SPAN_CHARS]


class GroundingCheck:
    """Grades every sentence of the answer against evidence retrieved for it."""

    name = "grounding"

    def __init__(
        self,
        retriever: Retriever | None = None,
        *,
        top_k: int = 4,
        refusals_safe: bool = True,
        min_sentence_chars: int = 8,
        verifiers: Sequence[Verifier] = (),
        unsupported_below: float = UNSUPPORTED_BELOW,
        cache: EvidenceCache | None = None,
    ) -> None:
        self.retriever = retriever
        self.top_k = top_k
        self.refusals_safe = refusals_safe
        self.min_sentence_chars = min_sentence_chars
        self.verifiers = list(verifiers)
        self.unsupported_below = unsupported_below
        self.cache = cache or EvidenceCache()

    def run(self, inp: CheckInput) -> CheckOutcome:
        retriever = inp.retriever or self.retriever
        if retriever is None:
            raise RuntimeError("grounding is enabled but no knowledge index is loaded")
        claims = split_claims(inp.answer, self.min_sentence_chars)
        safe = [self.refusals_safe and is_refusal(c.text) for c in claims]
        to_check = [c for c, s in zip(claims, safe) if not s]
        queries = [f"{inp.question} {c.text}".strip() for c in to_check]
        found = retriever.search_many(queries, self.top_k * CANDIDATE_FACTOR) if queries else []
        hits = [self._rerank(c.text, row) for c, row in zip(to_check, found)]
        graded = iter(self._grade(to_check, hits))
        sentences = [self._refusal(c) if s else next(graded) for c, s in zip(claims, safe)]
        confidence = aggregate([s.support for s in sentences])
        details = {
            "index_version": retriever.version,
            "refusal": bool(claims) and all(safe),
            "verifiers": [v.name for v in self.verifiers],
        }
        return CheckOutcome(
            self.name,
            passed=not any(s.unsupported for s in sentences),
            confidence=confidence,
            sentences=sentences,
            details=details,
        )

    def _rerank(self, claim: str, row: list[Hit]) -> list[Hit]:
        def key(hit: Hit) -> float:
            return overlap(claim, self.cache.get(hit.passage.id, hit.passage.text)) + 0.1 * hit.score

        return sorted(row, key=key, reverse=True)[: self.top_k]

    def _refusal(self, claim: Span) -> SentenceScore:
        return SentenceScore(claim.text, claim.start, claim.end, support=1.0, reasons=["refusal"])

    def _grade(self, claims: list[Span], hits: list[list[Hit]]) -> list[SentenceScore]:
        views = [[self.cache.get(h.passage.id, h.passage.text) for h in row] for row in hits]
        merged = [EvidenceText.merge(v) if v else EvidenceText.of("") for v in views]
        features = [
            measure(c.text, ev, max((h.score for h in row), default=0.0))
            for c, ev, row in zip(claims, merged, hits)
        ]
        lexical = [score(f) for f in features]
        verdicts = self._verdicts([(c.text, ev.text) for c, ev in zip(claims, merged)])
        out: list[SentenceScore] = []
        for i, (claim, f, row) in enumerate(zip(claims, features, hits)):
            support = combine(lexical[i], [v[i] for v in verdicts])
            why = reasons(f)
            for verifier, v in zip(self.verifiers, verdicts):
                if v[i] is not None and v[i] < self.unsupported_below:
                    why.append(f"{verifier.name}: not supported ({v[i]:.2f})")
            out.append(
                SentenceScore(
                    claim.text,
                    claim.start,
                    claim.end,
                    support=support,
                    evidence=self._evidence(claim.text, row),
                    unsupported=support < self.unsupported_below,
                    reasons=why,
                )
            )
        return out

    def _verdicts(self, pairs: list[tuple[str, str]]) -> list[list[float | None]]:
        verdicts: list[list[float | None]] = []
        for verifier in self.verifiers:
            values = list(verifier.verify(pairs)) if pairs else []
            if len(values) != len(pairs):
                raise RuntimeError(f"verifier {verifier.name} returned {len(values)} results for {len(pairs)}")
            verdicts.append(values)
        return verdicts

    def _evidence(self, claim: str, row: list[Hit]) -> list[Evidence]:
        ranked = sorted(row, key=lambda h: fuzz.partial_ratio(claim.lower(), h.passage.text.lower()), reverse=True)
        return [
            Evidence(h.passage.id, h.passage.source, evidence_span(claim, h.passage.text), round(h.score, 4))
            for h in ranked
        ]

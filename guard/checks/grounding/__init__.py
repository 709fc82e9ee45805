"""The grounding check and its parts, one concept per module.

``check`` is the thin loop (claims in, graded sentences out); ``features`` measures how far
evidence supports a claim; ``evidence`` prepares passages once; ``refusal`` recognises answers
that state nothing; ``nli`` and ``judge`` are optional verifiers. Each part is a pure function
over plain data, with the retriever and models passed in.
"""

from guard.checks.grounding.check import GroundingCheck, Verifier, aggregate, combine, evidence_span

__all__ = ["GroundingCheck", "Verifier", "aggregate", "combine", "evidence_span"]

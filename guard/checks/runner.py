"""Build the checks a policy asks for and run them, in order, into one report.

Order matters: personal data is masked first, so every later check (and the client) sees
the masked answer and sentence offsets point into the text that is delivered. A check that
raises does not stop the others; the report carries the error and ``guard.decision`` applies
the policy's ``on_error``.

Reasoning the client receives is checked after the answer (``reasoning.check``): personal data
masked, deny rules (not require rules) and the length limit, and grounding with ``all``. Its
violations count like the answer's, prefixed ``reasoning:``, so a denied phrase in the thinking
blocks the response the same way.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import structlog

from guard.checks.base import Check, CheckInput, CheckOutcome, CheckReport
from guard.checks.grounding import GroundingCheck, Verifier
from guard.checks.grounding.combiner import Combiner, load_combiner
from guard.checks.grounding.crossencoder import load_verifier, resolve
from guard.checks.grounding.judge import Ask, JudgeVerifier
from guard.checks.grounding.nli import NliVerifier
from guard.checks.patterns import PatternCheck
from guard.checks.pii import PiiCheck
from guard.checks.structure import JsonSchemaCheck, LengthCheck
from guard.knowledge.types import Retriever
from guard.policy.schema import Policy

log = structlog.get_logger()

# One NLI model per name per process: loading it is the expensive part.
_NLI: dict[str, NliVerifier] = {}


def nli_verifier(model: str) -> NliVerifier:
    if model not in _NLI:
        _NLI[model] = NliVerifier(model)
    return _NLI[model]


def grounding_combiner(weights: str | None, verifier: str | None) -> Combiner | None:
    """The policy's weights file; else, with a verifier, the weights fitted with it (its folder's
    ``weights.json``); else None: the hand-set model (``features.score``), which the package's
    fitted ``weights.json`` did not beat on the development sets (docs/calibration.md)."""
    if weights:
        return load_combiner(str(Path(weights).expanduser()))
    if verifier and (resolve(verifier) / "weights.json").exists():
        return load_combiner(str(resolve(verifier) / "weights.json"))
    return None


def build_checks(
    policy: Policy,
    retriever: Retriever | None,
    embedder: object | None = None,
    ask: Ask | None = None,
) -> list[Check]:
    """The checks ``policy.checks`` switches on, in the order they must run.

    ``embedder`` is accepted for checks that embed text themselves; the built-in ones get
    all embeddings through ``retriever.search_many`` (one batch per answer). ``ask`` is
    required when the policy names a judge model.
    """
    c = policy.checks
    checks: list[Check] = []
    if c.pii and c.pii.enabled:
        checks.append(PiiCheck(list(c.pii.kinds), c.pii.action))
    if c.patterns:
        p = c.patterns
        checks.append(PatternCheck(list(p.deny), list(p.require), list(p.deny_keywords), p.fuzzy_threshold))
    if c.json_schema:
        checks.append(JsonSchemaCheck())
    if c.max_chars:
        checks.append(LengthCheck(c.max_chars))
    g = c.grounding
    if g and g.enabled:
        verifiers: list[Verifier] = []
        if g.verifier:
            verifiers.append(load_verifier(g.verifier))
        if g.nli_model:
            verifiers.append(nli_verifier(g.nli_model))
        if g.judge_model:
            if ask is None:
                raise ValueError(f"policy {policy.name!r} names judge_model {g.judge_model!r} but no ask function was given")
            verifiers.append(JudgeVerifier(ask))
        checks.append(
            GroundingCheck(
                retriever,
                top_k=g.top_k,
                retrieval=g.retrieval,
                refusals_safe=g.refusals_safe,
                chitchat_safe=g.chitchat_safe,
                separate_clauses=g.separate_clauses,
                min_sentence_chars=g.min_sentence_chars,
                verifiers=verifiers,
                combiner=grounding_combiner(g.weights, g.verifier),
                verifier_weight=None if g.verifier_weight is None
                else (g.verifier_weight.with_question, g.verifier_weight.without_question),
            )
        )
    return checks


def run_checks(checks: Sequence[Check], inp: CheckInput) -> CheckReport:
    """Run every check; rewrites (masking) are passed on to the checks after them."""
    started = time.perf_counter()
    answer = inp.answer
    outcomes: list[CheckOutcome] = []
    errors: list[str] = []
    timings: list[tuple[str, int, int]] = []
    for check in checks:
        if inp.deadline is not None and time.monotonic() > inp.deadline:
            errors.append(f"{check.name}: not run, the checks' deadline passed")
            break  # the caller has stopped waiting: free the worker for answers still in time
        began = time.time_ns()
        try:
            outcome = check.run(replace(inp, answer=answer))
        except Exception as e:  # a broken check must not take the request down
            log.exception("check.failed", check=check.name)
            errors.append(f"{check.name}: {type(e).__name__}: {e}")
            continue
        finally:
            timings.append((check.name, began, time.time_ns()))
        outcomes.append(outcome)
        if outcome.answer is not None:
            answer = outcome.answer
    reasoning, reasoning_outcomes = _check_reasoning(checks, inp, errors)
    graded = [o.confidence for o in [*outcomes, *reasoning_outcomes] if o.confidence is not None]
    version = next((o.details.get("index_version") for o in outcomes if o.details.get("index_version")), None)
    if version is None and inp.retriever is not None:
        version = getattr(inp.retriever, "version", None)
    return CheckReport(
        confidence=min(graded) if graded else 1.0,
        answer=answer,
        outcomes=outcomes,
        index_version=version,
        latency_ms=(time.perf_counter() - started) * 1000,
        error="; ".join(errors) or None,
        timings=timings,
        reasoning=reasoning,
        reasoning_outcomes=reasoning_outcomes,
    )


# Which of a policy's checks run on the reasoning, per ``reasoning.check``.
REASONING_CHECKS: dict[str, frozenset[str]] = {
    "none": frozenset(),
    "patterns": frozenset({"pii", "patterns", "length"}),
    "all": frozenset({"pii", "patterns", "length", "grounding"}),
}


def _check_reasoning(checks: Sequence[Check], inp: CheckInput, errors: list[str]) -> tuple[str | None, list[CheckOutcome]]:
    """The reasoning as it may be delivered, and what its checks found."""
    names = REASONING_CHECKS.get(inp.check_reasoning, REASONING_CHECKS["all"])
    if not inp.reasoning or not names:
        return inp.reasoning, []
    text = inp.reasoning
    outcomes: list[CheckOutcome] = []
    for check in checks:
        if check.name not in names:
            continue
        if isinstance(check, PatternCheck):
            check = check.deny_only()
        try:
            outcome = check.run(replace(inp, answer=text, reasoning=None, response_format=None, prior=""))
        except Exception as e:  # noqa: BLE001 - as for the answer's checks
            log.exception("check.failed", check=check.name, part="reasoning")
            errors.append(f"reasoning.{check.name}: {type(e).__name__}: {e}")
            continue
        outcome.name = f"reasoning.{outcome.name}"
        outcome.violations = [f"reasoning: {v}" for v in outcome.violations]
        outcome.sentences = []  # their offsets point into the reasoning, not the answer
        outcomes.append(outcome)
        if outcome.answer is not None:
            text = outcome.answer
    return text, outcomes

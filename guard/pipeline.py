"""The only module that sequences a request's stages, top to bottom:

model → policy → input template → sampling → backend → reasoning split → checks → decision →
response. Each stage is a call into a module that knows nothing of the others. Streaming calls
share the first half (``prepare``) and hand the second half to ``guard.streaming``.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import structlog

from guard.calls import Call, Caller, Verdict, most_severe  # noqa: F401 - Caller and Verdict re-exported
from guard.checks.base import CheckInput, CheckReport
from guard.checks.citations import label_citations
from guard.errors import InvalidRequest, PolicyViolation
from guard.evidence import gather, retriever_for
from guard.policy.params import forbidden_param
from guard.policy.sampling import apply_sampling
from guard.policy.schema import Policy
from guard.policy.select import select_policy
from guard.policy.template import prepare_chat, prepare_prompt
from guard.responses import CHAT, choice_text, deliver_reasoning, separate_reasoning, set_choice_text
from guard.settings import ModelConfig

if TYPE_CHECKING:
    from guard.runtime import Runtime

log = structlog.get_logger()


def spec_fields(endpoint: str, body: dict[str, Any]) -> None:
    """Fields OpenAI's spec requires that backends often leave out: ``logprobs`` on each choice
    and ``refusal`` on each chat message (null when the model did not refuse)."""
    for choice in body.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        choice.setdefault("logprobs", None)
        if endpoint == CHAT and isinstance(choice.get("message"), dict):
            choice["message"].setdefault("refusal", None)
            choice["message"].setdefault("role", "assistant")
        elif endpoint != CHAT:
            choice.setdefault("text", "")
        choice.setdefault("finish_reason", "stop")


class Pipeline:
    def __init__(self, runtime: "Runtime") -> None:
        self.rt = runtime
        self._policies: dict[tuple[Any, ...], Policy] = {}

    def _policy(self, name: str, caller: Caller, model: ModelConfig) -> Policy:
        """``select_policy``, remembered: the policy set never changes while guard runs, and
        matching globs on every request shows in the proxy's overhead. Bounded, since model
        names come from clients."""
        # A model served by a `*` entry is matched as "*", never by the name the client made up:
        # otherwise `model: "passthrough-x"` would pick the passthrough policy (docs/security.md).
        matched_as = name if model.name == name else model.name
        key = (matched_as, caller.tenant, model.policy, caller.policies)
        policy = self._policies.get(key)
        if policy is None:
            policy = select_policy(
                self.rt.policies,
                model=matched_as,
                tenant=caller.tenant,
                pinned=model.policy,
                allowed=list(caller.policies) or None,
                default=self.rt.settings.default_policy,
            )
            if len(self._policies) >= 4096:
                self._policies.clear()
            self._policies[key] = policy
            log.info("policy_selected", model=name, matched_as=matched_as, tenant=caller.tenant, pinned=model.policy, policy=policy.name)
        return policy

    # ------------------------------------------------------------------ input

    def prepare(self, caller: Caller, endpoint: str, body: dict[str, Any], request_id: str) -> Call:
        name = body.get("model")
        if not isinstance(name, str) or not name:
            raise InvalidRequest("model is required", param="model", code="missing_model")
        model = self.rt.router.model(name)
        policy = self._policy(name, caller, model)
        param = forbidden_param(policy.input.forbid_params, body)
        if param is not None:
            raise PolicyViolation(f"the parameter {param!r} is not allowed by this policy", param=param, code="param_forbidden")
        documents = gather(body, policy, self.rt.settings.limits, model.backend.pass_documents) if endpoint == CHAT else []
        prepared = prepare_chat(policy.input, body) if endpoint == CHAT else prepare_prompt(policy.input, body)
        changes = apply_sampling(policy.sampling, body)
        if body.get("stream") and policy.checks_enabled and body.get("n", 1) not in (1, None) and policy.streaming.mode != "buffer":
            raise InvalidRequest(f"streaming with n > 1 is not supported in {policy.streaming.mode} mode (buffer mode takes it)", param="n")
        call = Call(request_id, caller, endpoint, body, model, policy, prepared.question, changes, prepared.wrapped)
        call.documents = documents
        return call

    # ------------------------------------------------------------------ non-stream

    async def reused(self, call: Call) -> Verdict | None:
        """A reviewer-approved answer to a close enough earlier question, if the policy allows."""
        if self.rt.review is None or not call.policy.reuse_approved.enabled:
            return None
        if call.documents:  # an answer grounded in this request's own documents is not reusable
            return None
        match = await self.rt.review.reuse(call)
        if match is None:
            return None
        item_id, answer, similarity = match
        report = CheckReport(confidence=1.0, answer=answer)
        return Verdict("reused", 1.0, report, answer, "stop", review_id=item_id, reasons=[f"approved answer reused (similarity {similarity:.3f})"])

    async def complete(self, call: Call) -> tuple[dict[str, Any], dict[str, str]]:
        reused = await self.reused(call)
        if reused is not None:
            return self._reused_body(call, reused)
        with call.trace.stage("guard.backend", **{"gen_ai.system": call.model.backend.kind, "guard.upstream_model": call.model.backend.model}):
            body, served_by = await self.rt.router.complete(call.model, call.endpoint, call.body, {"x-request-id": call.request_id})
        body["model"] = call.public_model
        call.response_id = body.get("id") if isinstance(body.get("id"), str) else None
        keep = call.policy.reasoning.client == "keep"
        reasonings = separate_reasoning(call.endpoint, body, keep, call.model.think_opened_in_prompt)
        headers = call.headers()
        guard = call.guard_field()
        if served_by != call.model.name:
            guard["served_by"] = served_by
        if call.policy.checks_enabled:
            choices = body.get("choices") or []
            # Every choice is checked (and held, if it must be) at once: a hold that waits
            # for a reviewer must not make the next choice wait behind it.
            verdicts = list(await asyncio.gather(*(
                self.judge(call, choice_text(call.endpoint, choice), reasoning) for choice, reasoning in zip(choices, reasonings)
            )))
            for choice, verdict in zip(choices, verdicts):
                set_choice_text(call.endpoint, choice, verdict.text)
                deliver_reasoning(call.endpoint, choice, verdict.reasoning if keep else None)
                if verdict.finish_reason:
                    choice["finish_reason"] = verdict.finish_reason
            if verdicts:
                worst = most_severe(verdicts)
                guard.update(worst.as_dict(annotate=worst.action in ("annotate", "hold")))
                if len(verdicts) > 1:
                    guard["choices"] = [{"index": c.get("index", i), **v.as_dict(annotate=False)} for i, (c, v) in enumerate(zip(choices, verdicts))]
                headers["x-guard-decision"] = worst.action
                headers["x-guard-confidence"] = f"{worst.confidence:.3f}"
                if self.rt.review is not None:
                    await self.rt.review.after(call, worst, body)
        spec_fields(call.endpoint, body)
        body["guard"] = guard
        self.log(call, status=200, decision=guard.get("decision"), served_by=served_by, usage=body.get("usage"))
        return body, headers

    def _reused_body(self, call: Call, verdict: Verdict) -> tuple[dict[str, Any], dict[str, str]]:
        from guard.responses import new_id, replacement_choice

        body = {
            "id": new_id(call.endpoint),
            "object": "chat.completion" if call.endpoint == CHAT else "text_completion",
            "created": int(time.time()),
            "model": call.public_model,
            "choices": [replacement_choice(call.endpoint, 0, verdict.text, "stop", stream=False)],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "guard": {**call.guard_field(), **verdict.as_dict(annotate=False)},
        }
        headers = {**call.headers(), "x-guard-decision": "reused", "x-guard-confidence": "1.000"}
        self.log(call, status=200, decision="reused")
        return body, headers

    # ------------------------------------------------------------------ checks

    async def check(self, call: Call, answer: str, reasoning: str | None, prior: str = "") -> CheckReport:
        retriever = None
        if call.policy.checks.grounding:
            # indexing a request's documents (on a cache miss) is CPU work: off the event loop
            retriever = await asyncio.to_thread(retriever_for, self.rt, call) if call.documents else retriever_for(self.rt, call)
        response_format = call.body.get("response_format")
        inp = CheckInput(
            question=call.question,
            answer=answer,
            reasoning=reasoning,
            retriever=retriever,
            response_format=response_format if isinstance(response_format, dict) else None,
            check_reasoning=call.policy.reasoning.check if call.policy.reasoning.client == "keep" else "none",
            prior=prior,
        )
        report = await self.rt.checker.run(call.policy, inp)
        for name, began, ended in report.timings:
            call.trace.record(f"guard.check.{name}", began, ended)
        if call.documents and retriever is not None:
            label_citations(report, retriever)
        self.rt.metrics.check(call.policy.name, report.latency_ms / 1000)
        return report

    async def judge(self, call: Call, answer: str, reasoning: str | None, prior: str = "") -> Verdict:
        """Check one answer (or, streaming by sentence, the next piece of one after the
        ``prior`` text already released) and turn the decision into the text the client receives."""
        from guard import actions
        from guard.decision import decide

        report = await self.check(call, answer, reasoning, prior)
        with call.trace.stage("guard.decision") as span:
            decision = decide(report, call.policy)
            verdict = await actions.apply(call, decision, report, answer, reasoning, self.rt.review)
            if span is not None:
                span.set_attributes({"guard.decision": verdict.action, "guard.confidence": round(verdict.confidence, 4)})
        return verdict

    # ------------------------------------------------------------------ log

    def log(self, call: Call, *, status: int, **fields: Any) -> None:
        log.info(
            "request",
            request_id=call.request_id,
            tenant=call.caller.tenant,
            model=call.public_model,
            endpoint=call.endpoint,
            policy=call.policy.name,
            stream=call.stream,
            changes=[c.as_dict() for c in call.changes] or None,
            status=status,
            ms=round((time.perf_counter() - call.started) * 1000, 2),
            **{k: v for k, v in fields.items() if v is not None},
        )
        self.rt.metrics.call_done(call, status, fields.get("decision"), fields.get("usage"))
        if call.trace.recording:
            end_trace(call, status, fields)


def end_trace(call: Call, status: int, fields: dict[str, Any]) -> None:
    """The request span's closing attributes (GenAI conventions plus guard's verdict)."""
    usage = fields.get("usage") if isinstance(fields.get("usage"), dict) else {}
    call.trace.set(
        gen_ai__response__model=call.model.backend.model,
        gen_ai__usage__input_tokens=usage.get("prompt_tokens"),
        gen_ai__usage__output_tokens=usage.get("completion_tokens"),
        guard__decision=fields.get("decision"),
        guard__served_by=fields.get("served_by"),
    )
    call.trace.end(status=status)

"""Prometheus metrics for one running proxy, in its own registry.

Each app builds its own ``Metrics`` (no global registry), so tests and several apps in one
process never share counters. The names follow the serving engines' conventions (vLLM:
``time_to_first_token_seconds``, ``time_per_output_token_seconds``) so guard's dashboards can sit
next to the backend's: the difference is guard's own overhead plus the checks.

Definitions, all measured from the moment guard parsed the request:

- time to first token: the first content (or reasoning) token arrives from the backend;
- time per output token: (last token - first token) / (tokens - 1), streams only;
- output tokens per second: tokens / (last token - request start), i.e. as the client sees it;
- request duration: until the last byte (stream) or the response (non-stream) is ready.

Tokens are the backend's ``usage.completion_tokens`` when it reports them, else the number of
stream events that carried text (one token per event for vLLM, llama.cpp, SGLang, Ollama).
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from guard.backend.breaker import BreakerStatus
    from guard.calls import Call

CONTENT_TYPE = CONTENT_TYPE_LATEST

_LATENCY = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
_TPOT = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5)
_TPS = (1, 2.5, 5, 10, 20, 40, 60, 80, 100, 150, 200, 300, 500, 1000, 2500)
_CHECK = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
_BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}


class Metrics:
    def __init__(self) -> None:
        self._children: dict[tuple[Any, tuple[str, ...]], Any] = {}
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "guard_requests", "Requests served, by outcome.", ["model", "policy", "decision", "status", "stream"], registry=r
        )
        self.duration = Histogram(
            "guard_request_duration_seconds", "End-to-end request latency.", ["model", "stream"], buckets=_LATENCY, registry=r
        )
        self.ttft = Histogram("guard_time_to_first_token_seconds", "Time to the first token.", ["model"], buckets=_LATENCY, registry=r)
        self.tpot = Histogram(
            "guard_time_per_output_token_seconds", "Time per output token after the first (streams).", ["model"], buckets=_TPOT, registry=r
        )
        self.tps = Histogram(
            "guard_output_tokens_per_second", "Output tokens per second of request time.", ["model"], buckets=_TPS, registry=r
        )
        self.check_duration = Histogram(
            "guard_check_duration_seconds", "Time to run a policy's output checks on one answer.", ["policy"], buckets=_CHECK, registry=r
        )
        # Gauges set at scrape time: with several workers the newest reading of a live one counts.
        self.queue_depth = Gauge(
            "guard_review_queue_depth", "Review items pending or claimed.", registry=r, multiprocess_mode="livemostrecent"
        )
        self.queue_oldest = Gauge(
            "guard_review_oldest_pending_age_seconds", "Age of the oldest pending review item (0 when none).", registry=r,
            multiprocess_mode="livemostrecent",
        )
        self.limits_store_up = Gauge(
            "guard_limits_store_up", "1 while the shared limits store (Redis) answers, 0 while limits fall back.", registry=r,
            multiprocess_mode="livemin",
        )
        self.limits_store_up.set(1)
        self.review_past_deadline = Gauge(
            "guard_review_past_deadline", "Review items that went past their deadline today (UTC): expired or still open.", registry=r, multiprocess_mode="livemostrecent"
        )
        self.review_time_to_decision = Gauge(
            "guard_review_time_to_decision_seconds", "Created to decided, today's decisions (UTC), by quantile.",
            ["quantile"], registry=r, multiprocess_mode="livemostrecent",
        )
        self.review_decisions = Gauge(
            "guard_review_decisions", "Today's decisions (UTC) per policy and outcome (approved, edited, rejected).",
            ["policy", "status"], registry=r, multiprocess_mode="livemostrecent",
        )
        self.reviewer_per_hour = Gauge(
            "guard_review_reviewer_decisions_per_hour", "Today's decisions per hour worked, per reviewer.",
            ["reviewer"], registry=r, multiprocess_mode="livemostrecent",
        )
        self.reviewer_last_hour = Gauge(
            "guard_review_reviewer_decisions_last_hour", "Decisions in the last hour, per reviewer.", ["reviewer"], registry=r, multiprocess_mode="livemostrecent"
        )
        self.breaker_state = Gauge(
            "guard_backend_circuit_state", "Circuit breaker per backend: 0 closed, 1 half-open, 2 open.", ["backend"], registry=r,
            multiprocess_mode="livemax",
        )

    # ------------------------------------------------------------------ per request

    def child(self, metric: Any, *values: str) -> Any:
        """``metric.labels(*values)``, remembered: ``labels`` validates and locks on every call,
        a few microseconds on each request and stream."""
        key = (metric, values)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*values)
        return found

    def request(self, model: str, policy: str, decision: str | None, status: int, stream: bool, seconds: float) -> None:
        s = "true" if stream else "false"
        self.child(self.requests, model, policy, decision or "none", str(status), s).inc()
        self.child(self.duration, model, s).observe(seconds)

    def call_done(self, call: "Call", status: int, decision: str | None, usage: Any = None) -> None:
        """A request that went through the pipeline; non-stream token rates come from ``usage``."""
        seconds = time.perf_counter() - call.started
        self.request(call.model.name, call.policy.name, decision, status, call.stream, seconds)
        tokens = completion_tokens(usage)
        if not call.stream and tokens and seconds > 0:
            self.child(self.tps, call.model.name).observe(tokens / seconds)

    def call_failed(self, call: "Call | None", status: int, started: float) -> None:
        """A request that ended in an error response (before any stream started)."""
        model, policy, stream = (call.model.name, call.policy.name, call.stream) if call else ("", "", False)
        self.request(model, policy, "error", status, stream, time.perf_counter() - started)

    def check(self, policy: str, seconds: float) -> None:
        self.check_duration.labels(policy).observe(seconds)

    def stream_meter(self, call: "Call") -> "StreamMeter":
        return StreamMeter(self, call.model.name, call.started)

    # ------------------------------------------------------------------ scrape time

    def set_queue(self, depth: int, oldest_age_s: float | None) -> None:
        self.queue_depth.set(depth)
        self.queue_oldest.set(oldest_age_s or 0.0)

    def set_review(self, stats: Any) -> None:
        """The reviewers' numbers, from ``ReviewStore.stats`` (the statistics page shows the same)."""
        self.review_past_deadline.set(stats.past_deadline)
        for quantile, value in (("0.5", stats.time_to_decision_p50_s), ("0.95", stats.time_to_decision_p95_s)):
            self.review_time_to_decision.labels(quantile).set(value or 0.0)
        for gauge in (self.review_decisions, self.reviewer_per_hour, self.reviewer_last_hour):
            gauge.clear()  # a reviewer or policy with nothing today is not left at yesterday's value
        for p in stats.per_policy:
            for status in ("approved", "edited", "rejected"):
                self.review_decisions.labels(p.policy, status).set(getattr(p, status))
        for r in stats.per_reviewer:
            self.reviewer_per_hour.labels(r.reviewer).set(r.per_hour)
            self.reviewer_last_hour.labels(r.reviewer).set(r.last_hour)

    def set_breakers(self, statuses: dict[str, "BreakerStatus"]) -> None:
        for name, status in statuses.items():
            self.breaker_state.labels(name).set(_BREAKER_STATES[status.state])

    def render(self) -> bytes:
        """This registry, or with ``guard serve --workers N`` every worker's, summed by the
        multiprocess collector (``PROMETHEUS_MULTIPROC_DIR``, set by the supervisor)."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            combined = CollectorRegistry()
            multiprocess.MultiProcessCollector(combined)
            return generate_latest(combined)
        return generate_latest(self.registry)


class StreamMeter:
    """Timestamps of one stream's tokens; a few dict lookups per event, one histogram per stream."""

    __slots__ = ("metrics", "model", "started", "first_at", "last_at", "events", "usage_tokens")

    def __init__(self, metrics: Metrics, model: str, started: float) -> None:
        self.metrics = metrics
        self.model = model
        self.started = started
        self.first_at: float | None = None
        self.last_at = 0.0
        self.events = 0
        self.usage_tokens: int | None = None

    def event(self, event: dict[str, Any]) -> None:
        usage = event.get("usage")
        if usage:
            self.usage_tokens = completion_tokens(usage)
        for choice in event.get("choices") or ():
            if _has_text(choice):
                now = time.perf_counter()
                if self.first_at is None:
                    self.first_at = now
                    self.metrics.child(self.metrics.ttft, self.model).observe(now - self.started)
                self.last_at = now
                self.events += 1
                return

    def finish(self) -> None:
        if self.first_at is None:
            return
        tokens = self.usage_tokens or self.events
        if tokens > 1 and self.last_at > self.first_at:
            self.metrics.child(self.metrics.tpot, self.model).observe((self.last_at - self.first_at) / (tokens - 1))
        if self.last_at > self.started:
            self.metrics.child(self.metrics.tps, self.model).observe(tokens / (self.last_at - self.started))


def _has_text(choice: dict[str, Any]) -> bool:
    delta = choice.get("delta")
    if isinstance(delta, dict):
        return bool(delta.get("content") or delta.get("reasoning_content") or delta.get("reasoning"))
    return bool(choice.get("text"))  # legacy completions


def completion_tokens(usage: Any) -> int | None:
    if isinstance(usage, dict):
        n = usage.get("completion_tokens")
        if isinstance(n, int) and n >= 0:
            return n
    return None

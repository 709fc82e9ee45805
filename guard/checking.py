"""Running a policy's output checks from the async pipeline: off the event loop, with a deadline.

Checks are CPU-bound (embedding, fuzzy matching), so they run in worker threads: a bounded pool
of their own (``CheckPool``), never asyncio's default one, which the review store and others
would otherwise queue behind. The policy's ``decision.timeout_ms`` bounds the wait; a timeout,
a full pool or an exception becomes ``report.error`` and ``decision.on_error`` (open or closed)
decides what the caller gets, so a broken checker never lets an unchecked answer through unless
the operator asked for that. A check still queued at its deadline never starts, and a running
one stops before its next check (``CheckInput.deadline``); a single check already running
cannot be interrupted (Python threads cannot be killed), so it still holds its worker until it
returns, and the pool's bound keeps such work from piling up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import structlog

from guard.checks.base import CheckInput, CheckReport
from guard.policy.schema import Policy

log = structlog.get_logger()


class ChecksSaturated(Exception):
    """Every check worker is busy and the queue is full: the answer is not checked in time."""


class CheckPool:
    """The checks' own threads, with a bound on work that is running or waiting.

    The count drops when a worker really finishes, not when its caller stops waiting, so checks
    that outlived their deadline still count and a flood of slow answers cannot queue without end.
    """

    def __init__(self, workers: int = 4, queue: int = 64) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="guard-check")
        self.limit = workers + queue
        self._pending = 0  # changed on the event loop only

    @property
    def pending(self) -> int:
        return self._pending

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._pending >= self.limit:
            raise ChecksSaturated(f"{self._pending} checks are running or waiting; the limit is {self.limit}")
        loop = asyncio.get_running_loop()
        work = self._executor.submit(fn, *args)
        self._pending += 1

        def done(_: Future) -> None:
            loop.call_soon_threadsafe(self._done)

        work.add_done_callback(done)
        # cancelling the wait (the deadline) cancels work that has not started yet
        return await asyncio.wrap_future(work)

    def _done(self) -> None:
        self._pending -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class Checker:
    """Builds each policy's list of checks once and runs it per answer."""

    def __init__(
        self,
        retriever_factory: Callable[[], Any],
        embedder_factory: Callable[[], Any],
        ask: Callable[[str, str], str] | None = None,
        pool: CheckPool | None = None,
    ) -> None:
        self._retriever_factory = retriever_factory
        self._embedder_factory = embedder_factory
        self._ask = ask
        self._built: dict[str, list[Any]] = {}
        self.pool = pool or CheckPool()

    def retriever(self) -> Any:
        return self._retriever_factory()

    def checks_for(self, policy: Policy) -> list[Any]:
        checks = self._built.get(policy.name)
        if checks is None:
            from guard.checks.runner import build_checks

            ask = None
            if policy.checks.grounding and policy.checks.grounding.judge_model and self._ask:
                judge = policy.checks.grounding.judge_model
                ask = lambda prompt: self._ask(judge, prompt)  # noqa: E731
            needs_index = bool(policy.checks.grounding and policy.checks.grounding.enabled)
            retriever = self.retriever() if needs_index else None
            checks = build_checks(policy, retriever, self._embedder_factory() if needs_index else None, ask=ask)
            self._built[policy.name] = checks
        return checks

    def run_sync(self, policy: Policy, inp: CheckInput) -> CheckReport:
        from guard.checks.runner import run_checks

        return run_checks(self.checks_for(policy), inp)

    async def run(self, policy: Policy, inp: CheckInput) -> CheckReport:
        started = time.perf_counter()
        timeout = policy.decision.timeout_ms / 1000
        inp = replace(inp, deadline=time.monotonic() + timeout)
        try:
            report = await asyncio.wait_for(self.pool.run(self.run_sync, policy, inp), timeout)
        except asyncio.TimeoutError:
            report = _failed(inp, f"checks did not finish within {policy.decision.timeout_ms} ms")
        except ChecksSaturated as e:
            log.warning("checks_saturated", policy=policy.name, pending=self.pool.pending)
            report = _failed(inp, f"checks not run: {e}")
        except Exception as e:  # noqa: BLE001 - a failing check must become a decision, not a 500
            log.exception("check_failed", policy=policy.name)
            report = _failed(inp, f"checks failed: {type(e).__name__}: {e}")
        report.latency_ms = (time.perf_counter() - started) * 1000
        return report

    def warm(self, policies: dict[str, Policy]) -> None:
        """Build checks (and so load models and the index) before the first request needs them."""
        for p in policies.values():
            if p.checks_enabled:
                self.checks_for(p)
                # one real run: the first inference of a model is many times slower than the rest
                if p.checks.grounding and p.checks.grounding.judge_model:
                    continue  # the judge is a model call; not at start-up
                retriever = self.retriever() if p.checks.grounding else None
                self.run_sync(p, CheckInput(question="warm-up", answer="This is a warm-up sentence.", retriever=retriever))


def _failed(inp: CheckInput, message: str) -> CheckReport:
    return CheckReport(confidence=0.0, answer=inp.answer, error=message)

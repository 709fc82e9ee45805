"""Everything one running proxy holds: settings, policies, backends, checker, review queue.

Built by ``create_app`` at start-up from a ``Settings`` object (never at import time), so a
test builds as many independent proxies as it likes. Heavy things (the embedding model, the
index) load on first use or in ``warm()``, not in the constructor.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import structlog

from guard.backend.base import Upstream
from guard.backend.router import Router
from guard.checking import Checker, CheckPool
from guard.errors import ConfigError
from guard.metrics import Metrics
from guard.telemetry import Telemetry
from guard.policy.loader import load_policies
from guard.policy.schema import Policy
from guard.settings import Settings

log = structlog.get_logger()


def load_policy_set(settings: Settings) -> dict[str, Policy]:
    """The policies folder, or a permissive built-in default when none is configured."""
    if settings.policies_dir is None:
        return {settings.default_policy: Policy(name=settings.default_policy)}
    return load_policies(Path(settings.policies_dir))


class Runtime:
    def __init__(self, settings: Settings, *, upstreams: dict[str, Upstream] | None = None, policies: dict[str, Policy] | None = None) -> None:
        self.settings = settings
        self.policies = policies if policies is not None else load_policy_set(settings)
        self.router = Router(settings, upstreams)
        self._embedder: Any = None
        self._index: Any = None
        self._indexes: dict[Path, Any] = {}  # tenant-scoped indexes (knowledge.indexes), by directory
        from guard.corrections import CorrectionSet
        from guard.knowledge.documents import DocumentIndexes

        self.documents = DocumentIndexes(self.embedder)  # per-request evidence, by content hash
        self.corrections = CorrectionSet(self.embedder)  # reviewed corrections (guard.corrections)
        self.correction_sync: Any = None  # the replay loop, when a review store is configured
        limits = settings.limits
        self.checker = Checker(self.index, self.embedder, self.ask, CheckPool(limits.check_workers, limits.check_queue))
        self.loop: asyncio.AbstractEventLoop | None = None
        self.review: Any = None  # the review service, when a store is configured (guard.holding)
        self.metrics = Metrics()  # this proxy's own Prometheus registry
        self.telemetry = Telemetry(settings.telemetry)  # OpenTelemetry traces; a no-op without an endpoint
        self._check_review_configured()
        self._check_indexes()

    def _check_indexes(self) -> None:
        missing = [f"{key}: {d}" for key, d in self.settings.knowledge.indexes.items() if not Path(d).exists()]
        if missing:
            raise ConfigError([f"knowledge.indexes names index directories that do not exist: {missing} (run guard index build)"])

    def _check_review_configured(self) -> None:
        """A policy that holds answers needs a queue; say so at start-up, not on the first hold."""
        if self.settings.review.store_url:
            return
        needs = [
            p.name
            for p in self.policies.values()
            if any(b.action == "hold" for b in p.decision.bands) or p.decision.on_violation == "hold" or p.audit.sample_rate > 0
        ]
        if needs:
            raise ConfigError([f"policies {needs} send answers to review, but review.store_url is not set in guard.yaml (for example sqlite:///var/guard.sqlite3)"])

    # The embedding model and the index are shared by every policy and loaded once.
    def embedder(self) -> Any:
        if self._embedder is None:
            from guard.knowledge.embedder import shared_embedder

            k = self.settings.knowledge
            self._embedder = shared_embedder(k.embedder, backend=k.embedder_backend)
        return self._embedder

    def index(self) -> Any:
        if self._index is None:
            from guard.knowledge.index import KnowledgeIndex

            index_dir = self.settings.knowledge.index_dir
            if index_dir is None or not Path(index_dir).exists():
                log.warning("no_knowledge_index", index_dir=str(index_dir), hint="run: guard index build knowledge/")
                self._index = KnowledgeIndex.from_passages([], self.embedder())
            else:
                self._index = KnowledgeIndex.load(Path(index_dir), self.embedder())
        return self._index

    def index_for(self, tenant: str, policy: str) -> Any:
        """The index ``tenant``'s answers under ``policy`` are checked against: its own from
        ``knowledge.indexes``, else the shared default."""
        k = self.settings.knowledge
        directory = k.index_dir_for(tenant, policy)
        if directory is None or directory == k.index_dir:
            return self.index()
        index = self._indexes.get(directory)
        if index is None:
            from guard.knowledge.index import KnowledgeIndex

            index = self._indexes[directory] = KnowledgeIndex.load(Path(directory), self.embedder())
        return index

    def loaded_indexes(self) -> list[Any]:
        """Every index loaded so far (for reloads after a rebuild)."""
        return ([self._index] if self._index is not None else []) + list(self._indexes.values())

    def ask(self, model: str, prompt: str, timeout_s: float = 30.0) -> str:
        """The LLM judge's question, through this proxy's own backend layer (from a check thread).

        Checks run in worker threads; the backend's HTTP session lives on the event loop, so the
        call is handed to the loop and this thread waits for the answer.
        """
        if self.loop is None:
            raise RuntimeError("the runtime is not started")
        body = {"model": model, "messages": [{"role": "user", "content": prompt}], "temperature": 0, "max_tokens": 512}
        coro = self.router.complete(self.router.model(model), "chat/completions", body, {})
        data, _ = asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)
        choices = data.get("choices") or [{}]
        return (choices[0].get("message") or {}).get("content") or ""

    def start(self) -> None:
        self.loop = asyncio.get_running_loop()

    def needs_embedder(self) -> bool:
        """Whether a policy may embed text: grounding that can search by embedding, or reuse of
        approved answers (matched by embedding similarity)."""
        for p in self.policies.values():
            g = p.checks.grounding
            if (g and g.enabled and g.retrieval != "lexical") or p.reuse_approved.enabled:
                return True
        return False

    def load_embedder(self) -> None:
        """Load the embedding model now, so a model that cannot load (an ONNX export that cannot
        be written, a missing path) stops start-up with a clear message instead of failing every
        check that needs it afterwards."""
        if not self.needs_embedder():
            return
        k = self.settings.knowledge
        try:
            self.embedder().encode(["warm-up"])
        except Exception as e:  # noqa: BLE001 - whatever stops the model loading is a config problem
            raise ConfigError(
                [f"knowledge.embedder {k.embedder!r} (backend {k.embedder_backend}) cannot be loaded: {e}"]
            ) from e

    def warm(self) -> None:
        self.checker.warm(self.policies)
        for key in self.settings.knowledge.indexes:  # tenant-scoped indexes, before requests need them
            tenant, _, policy = key.partition("policy:") if key.startswith("policy:") else (key, "", "")
            self.index_for(tenant, policy)

    async def close(self) -> None:
        self.telemetry.shutdown()
        await self.router.close()
        if self.review is not None:
            await self.review.close()
        self.checker.pool.close()

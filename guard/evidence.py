"""What one request's answer is checked against: its documents, its tenant's knowledge, or both.

Two steps of the pipeline. ``gather`` runs when the request comes in: it reads ``documents``
(and, when the policy says so, the template's context and the tool results), enforces the
limits (413) and ``require_documents`` (400), and strips ``documents`` from the body unless the
model's backend takes them (``pass_documents``). ``retriever_for`` runs when the answer is
checked: the request's documents as a cached per-request index, merged with the tenant's index
and the corrections that tenant may see, according to ``checks.grounding.sources``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from guard.corrections import is_correction, visible_to
from guard.errors import InvalidRequest
from guard.knowledge.combined import FilteredRetriever, combine
from guard.knowledge.documents import Document, check_document_limits, parse_documents
from guard.policy.schema import Policy
from guard.policy.template import render, request_variables, text_of
from guard.settings import LimitsConfig

if TYPE_CHECKING:
    from guard.calls import Call
    from guard.runtime import Runtime

REQUEST_SOURCES = ("documents", "context", "tools")


def _sources(policy: Policy) -> list[str] | None:
    g = policy.checks.grounding
    return list(g.sources) if g and g.sources else None


def template_context(policy: Policy, body: dict[str, Any]) -> str:
    """The policy template's ``context`` as rendered for this request (before the template
    stage consumes the variables); without a template context, a ``context`` variable."""
    variables = request_variables(body)
    template = policy.input.template.context
    text = render(template, variables) if template else variables.get("context", "")
    return text.strip()


def tagged_context(body: dict[str, Any], tags: list[str]) -> list[Document]:
    """Text inside ``<tag>...</tag>`` in system and developer messages: the passages a RAG app
    put into its prompt. User messages are never read: an end user could write a "context"
    that makes a false answer pass."""
    if not tags:
        return []
    import re

    pattern = re.compile(r"<(" + "|".join(re.escape(t) for t in tags) + r")>(.*?)</\1>", re.S | re.I)
    out = []
    for i, m in enumerate(body.get("messages") or []):
        if isinstance(m, dict) and m.get("role") in ("system", "developer"):
            for n, found in enumerate(pattern.finditer(text_of(m.get("content")))):
                if found.group(2).strip():
                    out.append(Document(found.group(2).strip(), kind="context", source=f"messages[{i}]<{found.group(1)}>#{n}"))
    return out


def tool_results(body: dict[str, Any]) -> list[Document]:
    """``role: tool`` messages, each as evidence. Assistant turns are never evidence: the model
    cannot ground its answer in what it said before."""
    out = []
    for i, m in enumerate(body.get("messages") or []):
        if isinstance(m, dict) and m.get("role") in ("tool", "function"):
            text = text_of(m.get("content"))
            if text.strip():
                name = m.get("name") if isinstance(m.get("name"), str) else None
                out.append(Document(text, kind="tool", title=name, source=f"messages[{i}]",
                                    id=m.get("tool_call_id") if isinstance(m.get("tool_call_id"), str) else None))
    return out


def gather(body: dict[str, Any], policy: Policy, limits: LimitsConfig, pass_documents: bool) -> list[Document]:
    """The request's evidence; raises 413 over the limits, 400 when documents are required."""
    docs = parse_documents(body.get("documents"))
    sources = _sources(policy)
    extra: list[Document] = []
    if sources and "context" in sources:
        context = template_context(policy, body)
        if context:
            extra.append(Document(context, kind="context", source="context"))
        extra += tagged_context(body, list(policy.checks.grounding.context_tags) if policy.checks.grounding else [])
    if sources and "tools" in sources:
        extra += tool_results(body)
    check_document_limits(docs + extra, limits.max_documents, limits.max_document_chars)
    g = policy.checks.grounding
    if g and g.enabled and g.require_documents and not any(d.text.strip() for d in docs):
        raise InvalidRequest("this policy checks answers against the request's documents; send them in documents",
                             param="documents", code="documents_required")
    if not pass_documents:
        body.pop("documents", None)
    if sources is not None and "documents" not in sources:
        docs = []
    return [d for d in docs + extra if d.text.strip()]


def _knowledge(rt: "Runtime", tenant: str, policy: str) -> list[Any]:
    """The tenant's index (without corrections it may not see) and its visible corrections.

    With a review store, the store is the record of corrections: copies folded into the index
    files by a build are left out and the synced set is used, so a retraction counts at once."""
    index = rt.index_for(tenant, policy)
    parts: list[Any] = []
    if _holds_corrections(index):
        store_backed = rt.review is not None
        keep = (lambda p: not is_correction(p)) if store_backed else (lambda p: visible_to(p, tenant))
        parts.append(FilteredRetriever(index, keep, label="knowledge"))
    else:
        parts.append(index)
    own = rt.corrections.for_tenant(tenant)
    if own is not None:
        parts.append(own)
    return parts


_FOLDED: dict[tuple[int, str], bool] = {}


def _holds_corrections(index: Any) -> bool:
    """Whether an index's files hold folded corrections; looked at once per index version."""
    key = (id(index), getattr(index, "version", ""))
    found = _FOLDED.get(key)
    if found is None:
        found = any(is_correction(p) for p in getattr(index, "passages", []))
        if len(_FOLDED) > 64:
            _FOLDED.clear()
        _FOLDED[key] = found
    return found


def retriever_for(rt: "Runtime", call: "Call") -> Any:
    """The retriever for ``call``'s answer: see the module docstring."""
    sources = _sources(call.policy)
    docs = call.documents
    parts: list[Any] = []
    if docs:
        parts.append(rt.documents.get(docs))
    configured = rt.settings.knowledge.configured or len(rt.corrections) > 0
    wants_knowledge = ("knowledge" in sources) if sources is not None else (configured or not docs)
    if wants_knowledge:
        parts += _knowledge(rt, call.caller.tenant, call.policy.name)
    if not parts:  # sources name only request evidence, and the request brought none
        from guard.knowledge.index import KnowledgeIndex

        empty = KnowledgeIndex.from_passages([], rt.embedder(), lazy=True)
        empty.version = "documents-none"
        return empty
    return combine(parts)

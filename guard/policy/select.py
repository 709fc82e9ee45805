"""Choosing the policy for a request, by model name and the caller's tenant.

The name matched is the operator's: a model's configured name (for a ``*`` model entry, ``*``
itself), so a client cannot choose a policy by inventing a model name. ``*`` in a policy's
``match`` is the weakest match; an exact name beats a glob; a pinned ``models[].policy`` beats
both; the API key's ``policies`` list restricts the candidates.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from guard.errors import PolicyViolation
from guard.policy.schema import Policy


def _specificity(patterns: list[str], value: str) -> int | None:
    """2 for an exact name, 1 for a glob, 0 for ``*``; None when nothing matches."""
    best: int | None = None
    for p in patterns:
        if p == "*":
            score = 0
        elif p == value:
            return 2
        elif value != "*" and fnmatchcase(value, p):  # a `*` model entry matches only `*`
            score = 1
        else:
            continue
        best = score if best is None else max(best, score)
    return best


def select_policy(
    policies: dict[str, Policy],
    *,
    model: str,
    tenant: str,
    pinned: str | None = None,
    allowed: list[str] | None = None,
    default: str = "default",
) -> Policy:
    """The pinned policy if the model config names one, else the most specific match.

    ``allowed`` (from the API key) restricts which policies a tenant may run under; a
    tenant never silently falls back to a policy outside that list.
    """
    candidates = {n: p for n, p in policies.items() if not allowed or n in allowed}
    if pinned:
        if pinned in candidates:
            return candidates[pinned]
        raise PolicyViolation(f"this API key may not use model {model!r}", param="model", code="policy_not_allowed")
    scored = []
    for name, p in candidates.items():
        m = _specificity(p.match.models, model)
        t = _specificity(p.match.tenants, tenant)
        if m is not None and t is not None:
            scored.append((m + t, name == default, name, p))
    if scored:
        scored.sort(key=lambda s: (s[0], s[1], s[2]), reverse=True)
        return scored[0][3]
    if default in candidates:
        return candidates[default]
    raise PolicyViolation(f"no policy applies to model {model!r} for this API key", param="model", code="no_policy")

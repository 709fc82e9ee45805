"""Apply a policy's sampling rules to a request body. Pure: body in, body and changes out.

Each rule has a mode: ``clamp`` moves an out-of-range value to the nearest bound (and fills the
default when absent), ``reject`` refuses an out-of-range value, ``force`` always sends the default.
Every change is recorded so the client can see exactly what the proxy did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from guard.errors import InvalidRequest, PolicyViolation
from guard.policy.schema import NumberRule, Sampling, StopRule

_INTEGER_PARAMS = {"max_tokens", "n", "seed"}


@dataclass(frozen=True, slots=True)
class Change:
    param: str
    before: Any
    after: Any
    reason: str  # "clamped", "forced", "default"

    def as_dict(self) -> dict[str, Any]:
        return {"param": self.param, "from": self.before, "to": self.after, "reason": self.reason}


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequest(f"{name} must be a number", param=name, code="invalid_type")
    return value


def _cast(name: str, value: float) -> float | int:
    return int(value) if name in _INTEGER_PARAMS else value


def _apply_number(name: str, rule: NumberRule, body: dict[str, Any]) -> Change | None:
    present = name in body and body[name] is not None
    if rule.mode == "force":
        forced = _cast(name, rule.default)  # type: ignore[arg-type]
        if present and body[name] == forced:
            return None
        before = body.get(name)
        body[name] = forced
        return Change(name, before, forced, "forced")
    if not present:
        default = rule.default
        if default is None and name == "max_tokens":
            default = rule.max  # an absent max_tokens means "as long as the backend likes"
        if default is None:
            return None
        body[name] = _cast(name, default)
        return Change(name, None, body[name], "default")
    value = _number(name, body[name])
    low, high = rule.min, rule.max
    out_of_range = (low is not None and value < low) or (high is not None and value > high)
    if not out_of_range:
        return None
    if rule.mode == "reject":
        bounds = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise PolicyViolation(
            f"{name}={value} is outside the range the policy allows {bounds}",
            param=name,
            code="sampling_out_of_range",
        )
    clamped = _cast(name, min(max(value, low if low is not None else value), high if high is not None else value))
    body[name] = clamped
    return Change(name, value, clamped, "clamped")


def _apply_stop(rule: StopRule, body: dict[str, Any]) -> Change | None:
    stop = body.get("stop")
    if rule.mode == "force":
        if stop == rule.default:
            return None
        body["stop"] = rule.default
        return Change("stop", stop, rule.default, "forced")
    if stop is None:
        if rule.default is None:
            return None
        body["stop"] = list(rule.default)
        return Change("stop", None, body["stop"], "default")
    stops = [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise InvalidRequest("stop must be a string or a list of strings", param="stop", code="invalid_type")
    if rule.max is None or len(stops) <= rule.max:
        return None
    if rule.mode == "reject":
        raise PolicyViolation(
            f"{len(stops)} stop sequences; the policy allows at most {rule.max}",
            param="stop",
            code="sampling_out_of_range",
        )
    body["stop"] = stops[: rule.max]
    return Change("stop", stops, body["stop"], "clamped")


def apply_sampling(sampling: Sampling, body: dict[str, Any]) -> list[Change]:
    """Mutate ``body`` in place to satisfy the policy; return what changed."""
    changes: list[Change] = []
    for name in ("temperature", "top_p", "frequency_penalty", "presence_penalty", "max_tokens", "n", "seed"):
        rule: NumberRule | None = getattr(sampling, name)
        if rule is None:
            continue
        if name == "max_tokens" and "max_completion_tokens" in body and "max_tokens" not in body:
            # newer OpenAI clients send max_completion_tokens; treat it as max_tokens
            body["max_tokens"] = body.pop("max_completion_tokens")
        change = _apply_number(name, rule, body)
        if change:
            changes.append(change)
    if sampling.stop is not None:
        change = _apply_stop(sampling.stop, body)
        if change:
            changes.append(change)
    return changes

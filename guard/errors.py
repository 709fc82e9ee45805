"""One exception hierarchy for the whole package.

Every error a client can see is a ``GuardError``; ``guard.api.errors`` turns it into the
OpenAI error shape ``{"error": {"message", "type", "param", "code"}}`` in one place, so no
other module needs to know about HTTP. ``type`` is always one of the types OpenAI's API sends
(``invalid_request_error``, ``authentication_error``, ``permission_error``, ``rate_limit_error``,
``server_error``, ``service_unavailable_error``), so code written against OpenAI's errors
branches the same way; guard's own detail (``policy_violation``, ``backend_timeout``...) is in
``code``. Third-party exceptions (aiohttp, litellm, pydantic)
are translated into these where they are caught: at the backend seam and the API edge.
"""

from __future__ import annotations


class GuardError(Exception):
    status: int = 500
    type: str = "server_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.headers = headers or {}

    def to_dict(self) -> dict:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequest(GuardError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class AuthenticationFailed(GuardError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PolicyViolation(GuardError):
    """The request is well formed but the policy does not allow it."""

    status = 403
    type = "permission_error"
    code = "policy_violation"


class NotFound(GuardError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class ModelNotFound(NotFound):
    code = "model_not_found"


class BodyTooLarge(GuardError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class RateLimited(GuardError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class BackendError(GuardError):
    """The backend answered with an error, garbage, or dropped the connection."""

    status = 502
    type = "server_error"
    code = "backend_error"


class BackendTimeout(GuardError):
    status = 504
    type = "server_error"
    code = "backend_timeout"


class Unavailable(GuardError):
    """guard itself cannot serve right now (shutting down, circuit open, check failed closed)."""

    status = 503
    type = "service_unavailable_error"
    code = "unavailable"


class ConfigError(Exception):
    """A configuration or policy file is invalid. Raised at start-up, never per request."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems

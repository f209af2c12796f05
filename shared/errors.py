"""The one error model of Contrail's services: a stable code, an HTTP status, details.

A use case, an adapter or a domain check raises a ``ServiceError`` subclass;
``shared.service`` turns every one of them into the same HTTP answer,

    {"error": {"code": "not_found", "message": "no execution p/d/x", "details": [...]}}

with the subclass's ``status``. Routes neither catch nor translate them. Each
subclass says its own ``status`` and ``code`` (inherited when it only narrows
a meaning), so a new one never falls back to a silent 400. Nothing here
imports a web framework: the domain may raise these too.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ServiceError(Exception):
    """A request a service refuses: nothing was changed.

    ``code`` is machine-readable (snake_case; clients match on it), ``message``
    is for people, ``details`` lists the faults one by one (each a dict that
    names what is at fault: ``field``, ``input``, ``node``...).
    """

    status: ClassVar[int] = 500
    code: ClassVar[str] = "error"
    headers: ClassVar[dict[str, str] | None] = None
    """Headers the answer carries (``WWW-Authenticate`` on a 401)."""

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: list[dict[str, Any]] = list(details or [])

    def body(self) -> dict[str, Any]:
        """The error as every service answers it."""
        return error_body(self.code, self.message, self.details)


class InvalidRequest(ServiceError):
    """A field fails validation (``details[].field`` names it)."""

    status = 400
    code = "invalid_request"


class NotFound(ServiceError):
    """No such entity, project or execution."""

    status = 404
    code = "not_found"


class Conflict(ServiceError):
    """The name is taken by something different."""

    status = 409
    code = "conflict"


class TooLarge(ServiceError):
    """A body, spec, bundle or inputs over a limit."""

    status = 413
    code = "too_large"


def error_body(
    code: str, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """``{"error": {"code", "message", "details"?}}`` (``details`` only when there are some)."""
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return {"error": body}

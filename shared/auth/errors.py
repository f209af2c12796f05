"""The two answers of access control, in the one error model (``shared.errors``)."""

from __future__ import annotations

from typing import ClassVar

from shared.errors import ServiceError


class Unauthenticated(ServiceError):
    """No credential, or one that is malformed, unknown, expired or revoked (401)."""

    status = 401
    code = "unauthenticated"
    headers: ClassVar[dict[str, str] | None] = {"WWW-Authenticate": "Bearer"}


class AuthUnavailable(ServiceError):
    """What checks credentials (the registry, the OIDC issuer's keys) did not answer (503)."""

    status = 503
    code = "unavailable"


class Forbidden(ServiceError):
    """The principal is known but holds no grant for what it asked (403)."""

    status = 403
    code = "forbidden"

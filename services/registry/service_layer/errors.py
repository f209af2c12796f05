"""What a registry use case refuses, each with its status, a stable code and details to act on.

They are ``ServiceError``s: the service's one exception handler answers them
(``shared.service.errors``); no route catches them.
"""

from __future__ import annotations

from shared.errors import ServiceError


class RegistryError(ServiceError):
    """A request the registry refuses; nothing was stored."""

    status = 400
    code = "invalid_request"


class InvalidRequest(RegistryError):
    """A field fails validation (``details[].field`` names it)."""

    status = 400
    code = "invalid_request"


class InvalidIdentifier(RegistryError):
    """A project, domain, name or version that is not valid."""

    status = 400
    code = "invalid_identifier"


class CompileRejected(RegistryError):
    """The workflow or launch plan does not compile.

    ``details`` are ``{code, node, input, message}``.
    """

    status = 400
    code = "compile_error"


class NotFound(RegistryError):
    """No such entity or project."""

    status = 404
    code = "not_found"


class Conflict(RegistryError):
    """The identifier is taken by a different spec: ``details`` say what differs."""

    status = 409
    code = "conflict"


class TooLarge(RegistryError):
    """A body, spec or bundle over its limit."""

    status = 413
    code = "too_large"


class UnsupportedMediaType(RegistryError):
    """A body that is neither JSON nor YAML by its ``Content-Type``."""

    status = 415
    code = "unsupported_media_type"

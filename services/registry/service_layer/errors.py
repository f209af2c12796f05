"""What a registry use case refuses, each with a stable code and details a client can act on."""

from __future__ import annotations

from typing import Any, ClassVar


class RegistryError(Exception):
    """A request the registry refuses; nothing was stored."""

    code: ClassVar[str] = "error"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class InvalidRequest(RegistryError):
    """A field fails validation (``details[].field`` names it)."""

    code = "invalid_request"


class InvalidIdentifier(RegistryError):
    """A project, domain, name or version that is not valid."""

    code = "invalid_identifier"


class CompileRejected(RegistryError):
    """The workflow or launch plan does not compile.

    ``details`` are ``{code, node, input, message}``.
    """

    code = "compile_error"


class NotFound(RegistryError):
    code = "not_found"


class Conflict(RegistryError):
    """The identifier is taken by a different spec: ``details`` say what differs."""

    code = "conflict"


class TooLarge(RegistryError):
    code = "too_large"

"""What a launcher use case refuses, each with its status, a stable code and details to act on.

They are ``ServiceError``s: the service's one exception handler answers them
(``shared.service.errors``); no route catches them.
"""

from __future__ import annotations

from shared.errors import ServiceError
from shared.identifiers import bad_names


class LaunchError(ServiceError):
    """A launch (or relaunch, recover) the caller got wrong; nothing was created."""

    status = 400
    code = "invalid_request"


class InvalidInputs(LaunchError):
    """Inputs that do not fit the interface: ``details`` has one ``{input, code, message}``
    per problem (``unknown_input``, ``fixed_input``, ``missing_input``, ``type_mismatch``)."""

    status = 400
    code = "invalid_inputs"


class InputsTooLarge(LaunchError):
    """The inputs are larger than an execution accepts."""

    status = 413
    code = "inputs_too_large"


class TargetNotFound(LaunchError):
    """No such launch plan, workflow or task in the registry."""

    status = 404
    code = "not_found"


class NameTaken(LaunchError):
    """An execution of that name exists in the project and domain."""

    status = 409
    code = "conflict"


class ExecutionNotFound(LaunchError):
    """No such execution."""

    status = 404
    code = "not_found"


class AttemptNotFound(LaunchError):
    """No such attempt of a node of an execution."""

    status = 404
    code = "not_found"


def check_names(**names: str | None) -> None:
    """Raise ``LaunchError`` naming each of ``names`` that is not a valid name (None: unchecked)."""
    details = [
        {"field": field, "message": problem}
        for field, value in names.items()
        for problem in bad_names(**{field: value})
    ]
    if details:
        raise LaunchError("; ".join(detail["message"] for detail in details), details)

"""The base of every error the SDK raises, and the errors that span its modules.

``except contrail.ContrailError`` catches whatever the SDK raises about what
a user wrote, passed or asked a cluster for; each subclass has one meaning
and is exported from ``contrail``. The others live next to the code that
raises them (``DefinitionError`` in ``contrail.task``, ``ConfigError`` in
``contrail.config``...). An error that was a ``TypeError`` or ``ValueError``
before it was a ``ContrailError`` still is, so older ``except`` sites hold.

This module imports nothing of the SDK: every other module may import it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contrail.remote import ExecutionError
    from contrail.run import Run
    from shared.phases import ExecutionPhase


class ContrailError(Exception):
    """Base of the errors the SDK raises about what a user wrote, passed or asked for."""


class ExecutionFailed(ContrailError, RuntimeError):
    """A workflow failed for a reason of its own, here or on a cluster.

    Here: a conditional's ``else_().fail(message)`` was reached, or a map fell
    below its minimum success ratio (``run`` is None). On a cluster: the
    execution ``run`` ended FAILED, ABORTED or TIMED_OUT; ``phase`` is that
    phase and ``error`` the launcher's error (kind, code, message, traceback
    tail) when it gave one.
    """

    def __init__(self, message: str, *, run: Run | None = None) -> None:
        super().__init__(message)
        self.run = run
        self.phase: ExecutionPhase | None = run.phase if run is not None else None
        self.error: ExecutionError | None = run.execution.error if run is not None else None

    @classmethod
    def of_run(cls, run: Run) -> ExecutionFailed:
        """The failure of the remote execution ``run``, its error in the message."""
        detail = f": {run.execution.error}" if run.execution.error is not None else ""
        return cls(f"execution {run.name} ended {run.phase}{detail}", run=run)


class ArgumentError(ContrailError, ValueError):
    """A call got a value it cannot take: a ``File`` of an unknown scheme, a cron
    expression that never fires, two targets for one launch. The message names it."""


class WaitTimeout(ContrailError, TimeoutError):
    """A wait ran past its timeout; the message says what was still awaited."""


# --- the API's answers ------------------------------------------------------------


class RemoteError(ContrailError):
    """The API refused a request or could not be reached.

    ``code`` and ``details`` are those of the API's error body
    (``{"error": {"code", "message", "details"}}``); ``status`` is the HTTP
    status (0 when no answer came).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: str = "error",
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.details: list[dict[str, Any]] = list(details or [])


class Unauthenticated(RemoteError):
    """401: no credential, or one the cluster does not accept (unknown, expired, revoked).

    Sign in with ``contrail auth login``, or set ``CONTRAIL_TOKEN``.
    """


class Forbidden(RemoteError):
    """403: the credential is valid but its grants do not allow this.

    The message names the principal, the role needed and the project (and domain).
    """


class NotFound(RemoteError):
    """404: no such entity, project or execution."""


class Conflict(RemoteError):
    """409: the identifier exists with a different spec, or the execution name is taken.

    ``details`` (also ``differences``) lists ``{path, registered, submitted}``.
    """

    @property
    def differences(self) -> list[dict[str, Any]]:
        """What differs between the registered spec and the submitted one."""
        return self.details


class InvalidRequest(RemoteError):
    """400: the request is malformed, fails validation or does not compile.

    ``code`` is ``invalid_request`` (``details[].field``), ``compile_error``
    (``details[]`` of ``{code, node, input, message}``), ``invalid_identifier``
    or ``invalid_inputs`` (``details[]`` of ``{input, code, message}``, one per
    problem with the inputs of a launch).
    """


class TooLarge(InvalidRequest):
    """413: a spec, bundle or inputs over the cluster's size limit."""


class ServerUnavailable(RemoteError):
    """The endpoint did not answer, or answered that the service behind it is down."""


class ServerError(RemoteError):
    """The server failed (5xx) on a request it should have handled."""

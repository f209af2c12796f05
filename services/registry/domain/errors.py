"""What the compiler and the other registration checks report: one error per fault.

Every check collects *all* the faults it can find and names, for each, the node
and the input at fault, so that a user fixes a workflow in one round trip.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from shared.errors import ServiceError


class ErrorCode(StrEnum):
    """The stable codes of ``CompileError.code`` (snake_case; clients match on them)."""

    DUPLICATE_NODE_ID = "duplicate_node_id"
    CYCLE = "cycle"
    UNREACHABLE_NODE = "unreachable_node"
    UNKNOWN_NODE = "unknown_node"
    UNKNOWN_OUTPUT = "unknown_output"
    UNKNOWN_WORKFLOW_INPUT = "unknown_workflow_input"
    UNKNOWN_INPUT = "unknown_input"
    UNBOUND_INPUT = "unbound_input"
    TWICE_BOUND_INPUT = "twice_bound_input"
    TYPE_MISMATCH = "type_mismatch"
    UNKNOWN_REFERENCE = "unknown_reference"
    INVALID_NODE = "invalid_node"
    INVALID_BRANCH = "invalid_branch"
    INVALID_MAP = "invalid_map"
    INVALID_SCHEDULE = "invalid_schedule"
    INVALID_NOTIFICATION = "invalid_notification"
    DUPLICATE_KEY = "duplicate_key"


@dataclass(frozen=True)
class CompileError:
    """One fault of a spec.

    ``node`` is the id of the node at fault (``None`` for the workflow's own
    interface and outputs, or a launch plan); ``input`` the input (or workflow
    output) at fault, when there is one. ``message`` says it all in words.
    """

    code: str
    message: str
    node: str | None = None
    input: str | None = None

    def __post_init__(self) -> None:
        # An ErrorCode is a str already; keep the plain value so reprs and dumps stay simple.
        object.__setattr__(self, "code", str(self.code))

    def as_dict(self) -> dict[str, str | None]:
        """The error as the registry answers it: ``{"code", "node", "input", "message"}``."""
        return {
            "code": str(self.code),
            "node": self.node,
            "input": self.input,
            "message": self.message,
        }


class CompilationFailed(ServiceError):
    """A workflow does not compile; ``errors`` lists every fault found, in a stable order.

    Answered as a 400 ``compile_error`` whose ``details`` are the errors.
    """

    status = 400
    code = "compile_error"

    def __init__(self, errors: Iterable[CompileError]) -> None:
        self.errors: list[CompileError] = list(errors)
        count = len(self.errors)
        first = self.errors[0].message if self.errors else "no details"
        more = f" (and {count - 1} more)" if count > 1 else ""
        super().__init__(
            f"the workflow does not compile: {first}{more}",
            [error.as_dict() for error in self.errors],
        )

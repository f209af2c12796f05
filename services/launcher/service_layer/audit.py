"""The launcher's audit entries: launches, relaunches, recoveries and aborts.

Each is added to the outbox in the transaction that creates or aborts the
execution (``shared.audit``). A scheduled launch is Contrail's own doing and
is not audited; its launch plan's activation is.
"""

from __future__ import annotations

from typing import Any

from services.launcher.domain import ExecutionState
from shared.audit import audit_record
from shared.events.catalogue import AuditAction, TriggerKind
from shared.outbox import OutboxMessage

SERVICE = "launcher"

_LAUNCH_ACTIONS: dict[TriggerKind, AuditAction] = {
    TriggerKind.USER: AuditAction.LAUNCH,
    TriggerKind.RELAUNCH: AuditAction.RELAUNCH,
    TriggerKind.RECOVER: AuditAction.RECOVER,
}


def launched(state: ExecutionState) -> OutboxMessage | None:
    """The entry of a new execution; None for a scheduled one."""
    action = _LAUNCH_ACTIONS.get(state.trigger.kind)
    if action is None:
        return None
    details: dict[str, Any] = {"workflow": state.workflow.urn}
    if state.launch_plan is not None:
        details["launch_plan"] = state.launch_plan.urn
    if state.trigger.source is not None:
        details["source"] = state.trigger.source.urn
    return _record(action, state, details)


def aborted(state: ExecutionState, cause: str) -> OutboxMessage:
    return _record(AuditAction.ABORT, state, {"cause": cause})


def _record(action: AuditAction, state: ExecutionState, details: dict[str, Any]) -> OutboxMessage:
    execution = state.execution
    return audit_record(
        action,
        service=SERVICE,
        project=execution.project,
        domain=execution.domain,
        resource=execution.urn,
        details=details,
    )

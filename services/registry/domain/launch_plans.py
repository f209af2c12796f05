"""Checks of a launch plan against the interface of the workflow it launches."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from services.registry.domain.errors import CompileError, ErrorCode
from shared import cron
from shared.literals import DATETIME, can_assign, render, value_errors
from shared.specs import ChannelKind, LaunchPlanSpec, Notification, WorkflowSpec

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_SLACK_CHANNEL = re.compile(r"#?[A-Za-z0-9][A-Za-z0-9._-]{0,79}")


def check_launch_plan(spec: LaunchPlanSpec, workflow: WorkflowSpec) -> list[CompileError]:
    """Every fault of ``spec`` as a launch plan of ``workflow``; empty when it has none.

    Default and fixed inputs must name declared inputs (``unknown_input``), be
    literals of their types (``type_mismatch``) and not name an input both ways
    (``twice_bound_input``). A schedule's cron must parse, its
    ``kickoff_time_input`` must name a datetime input that is not fixed, and
    since nobody passes inputs to a scheduled launch, every required input
    without a default must get one here (``invalid_schedule``). Notifications
    need phases and recipients that fit their channel (``invalid_notification``).
    A required input left unset in an unscheduled plan is fine: it is given at
    launch. Never raises.
    """
    errors: list[CompileError] = []
    inputs = workflow.interface.inputs
    declared = ", ".join(inputs) or "none"
    for where, given in (("default", spec.default_inputs), ("fixed", spec.fixed_inputs)):
        for name, value in given.items():
            param = inputs.get(name)
            if param is None:
                errors.append(
                    CompileError(
                        ErrorCode.UNKNOWN_INPUT,
                        f"{where} input '{name}' is not an input of workflow {workflow.name} "
                        f"(its inputs: {declared})",
                        input=name,
                    )
                )
                continue
            problems = value_errors(param.type, value)
            if problems:
                errors.append(
                    CompileError(
                        ErrorCode.TYPE_MISMATCH,
                        f"{where} input '{name}' is not a {render(param.type)}: "
                        + "; ".join(problems[:3]),
                        input=name,
                    )
                )
    for name in spec.default_inputs.keys() & spec.fixed_inputs.keys():
        errors.append(
            CompileError(
                ErrorCode.TWICE_BOUND_INPUT,
                f"input '{name}' is both a default and a fixed input; give it one way",
                input=name,
            )
        )
    if spec.schedule is not None:
        errors += _schedule_errors(spec, workflow)
    for i, notification in enumerate(spec.notifications):
        errors += _notification_errors(i, notification)
    return errors


def _schedule_errors(spec: LaunchPlanSpec, workflow: WorkflowSpec) -> list[CompileError]:
    assert spec.schedule is not None
    errors: list[CompileError] = []
    try:
        cron.parse(spec.schedule.cron)
    except ValueError as exc:
        errors.append(CompileError(ErrorCode.INVALID_SCHEDULE, f"schedule: {exc}"))
    kickoff = spec.schedule.kickoff_time_input
    inputs = workflow.interface.inputs
    if kickoff is not None:
        param = inputs.get(kickoff)
        if param is None:
            errors.append(
                CompileError(
                    ErrorCode.INVALID_SCHEDULE,
                    f"schedule: kickoff_time_input '{kickoff}' is not an input of workflow "
                    f"{workflow.name}",
                    input=kickoff,
                )
            )
        elif not can_assign(DATETIME, param.type):
            errors.append(
                CompileError(
                    ErrorCode.INVALID_SCHEDULE,
                    f"schedule: kickoff_time_input '{kickoff}' is a {render(param.type)}, "
                    "not a datetime",
                    input=kickoff,
                )
            )
        elif kickoff in spec.fixed_inputs:
            errors.append(
                CompileError(
                    ErrorCode.INVALID_SCHEDULE,
                    f"schedule: kickoff_time_input '{kickoff}' is also a fixed input",
                    input=kickoff,
                )
            )
    given = spec.default_inputs.keys() | spec.fixed_inputs.keys() | {kickoff}
    for name, param in inputs.items():
        if name not in given and param.required and param.default is None:
            errors.append(
                CompileError(
                    ErrorCode.INVALID_SCHEDULE,
                    f"schedule: required input '{name}' ({render(param.type)}) has no value; "
                    "a scheduled launch passes no inputs, so give it a default or fixed input",
                    input=name,
                )
            )
    return errors


def _notification_errors(index: int, notification: Notification) -> list[CompileError]:
    where = f"notification {index} ({notification.channel.value})"
    errors: list[CompileError] = []
    if not notification.phases:
        errors.append(
            CompileError(ErrorCode.INVALID_NOTIFICATION, f"{where} names no phase to notify on")
        )
    if not notification.recipients:
        errors.append(CompileError(ErrorCode.INVALID_NOTIFICATION, f"{where} has no recipients"))
    for recipient in notification.recipients:
        problem = _recipient_problem(notification.channel, recipient)
        if problem is not None:
            errors.append(
                CompileError(
                    ErrorCode.INVALID_NOTIFICATION, f"{where}: recipient {recipient!r} {problem}"
                )
            )
    return errors


def _recipient_problem(channel: ChannelKind, recipient: str) -> str | None:
    match channel:
        case ChannelKind.EMAIL:
            return None if _EMAIL.fullmatch(recipient) else "is not an email address"
        case ChannelKind.WEBHOOK:
            ok = _is_url(recipient, ("http", "https"))
            return None if ok else "is not an http(s) URL"
        case ChannelKind.SLACK:
            # A webhook URL, or a channel that the notifier's Slack app posts to.
            ok = _is_url(recipient, ("https",)) or bool(_SLACK_CHANNEL.fullmatch(recipient))
            return None if ok else "is neither an https webhook URL nor a channel like #alerts"
        case ChannelKind.TEAMS:
            return None if _is_url(recipient, ("https",)) else "is not an https webhook URL"
        case ChannelKind.PAGERDUTY:
            ok = bool(recipient) and not any(c.isspace() for c in recipient)
            return None if ok else "is not a PagerDuty routing key"
    return None


def _is_url(text: str, schemes: tuple[str, ...]) -> bool:
    if any(c.isspace() for c in text):
        return False
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme in schemes and bool(parts.hostname)

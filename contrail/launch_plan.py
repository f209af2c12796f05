"""Launch plans: a workflow with default and fixed inputs, a schedule and notifications.

Every workflow has a default launch plan, named like the workflow, with no
inputs of its own (the workflow's defaults apply). Others are made with
``LaunchPlan.get_or_create(wf, "name", ...)``; they are checked when made.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar, cast

from contrail.errors import ArgumentError
from contrail.notifications import NotificationChannel, NotificationError
from contrail.task import COMPILING, DefinitionError, InputError, bind_arguments
from contrail.workflow import Workflow
from shared.cron import expand as expand_cron
from shared.cron import parse as parse_cron
from shared.identifiers import ResourceType
from shared.literals import DATETIME, render
from shared.specs import ENTITY_NAME_PATTERN, EntityRef, LaunchPlanSpec, Notification, Schedule

R = TypeVar("R", covariant=True)


@dataclass(frozen=True)
class CronSchedule:
    """Launch on a five-field cron expression (UTC), such as ``"0 * * * *"`` (hourly).

    ``@hourly``, ``@daily``, ``@weekly``, ``@monthly`` and ``@yearly`` are
    accepted and written as their five fields. ``kickoff_time_input_arg`` names
    a ``datetime`` input of the workflow that receives the scheduled time.

    The expression is checked as the scheduler reads it (``shared.cron``):
    ASCII digits only, and at least one day that exists (not ``0 0 31 2 *``).

    Raises:
        ArgumentError: (a ValueError) the expression is not a valid five-field cron expression;
            the message names the schedule and the field at fault.
    """

    cron: str
    kickoff_time_input_arg: str | None = None

    def __post_init__(self) -> None:
        try:
            parse_cron(self.cron)
        except ValueError as error:
            raise ArgumentError(f"CronSchedule: {error}") from None
        object.__setattr__(self, "cron", expand_cron(self.cron))

    def to_spec(self) -> Schedule:
        """The spec the scheduler reads."""
        return Schedule(cron=self.cron, kickoff_time_input=self.kickoff_time_input_arg)


class LaunchPlan(Generic[R]):
    """A workflow with inputs, a schedule and notifications, registered under its own name.

    Make them with ``get_or_create``. Call one to run its workflow here with its
    default and fixed inputs (fixed inputs can't be overridden).
    """

    _CREATED: ClassVar[dict[str, LaunchPlan[Any]]] = {}

    def __init__(
        self,
        workflow: Workflow[..., R],
        name: str,
        default_inputs: Mapping[str, Any],
        fixed_inputs: Mapping[str, Any],
        schedule: CronSchedule | None,
        notifications: Sequence[Notification],
        labels: Mapping[str, str],
        max_parallelism: int | None,
    ) -> None:
        """Use ``get_or_create``: it checks the arguments."""
        self.workflow = workflow
        self.name = name
        self.default_inputs = dict(default_inputs)
        self.fixed_inputs = dict(fixed_inputs)
        self.schedule = schedule
        self.notifications = list(notifications)
        self.labels = dict(labels)
        self.max_parallelism = max_parallelism

    @classmethod
    def get_or_create(
        cls,
        workflow: Workflow[..., R],
        name: str | None = None,
        *,
        default_inputs: Mapping[str, object] | None = None,
        fixed_inputs: Mapping[str, object] | None = None,
        schedule: CronSchedule | None = None,
        notifications: Sequence[NotificationChannel] = (),
        labels: Mapping[str, str] | None = None,
        max_parallelism: int | None = None,
    ) -> LaunchPlan[R]:
        """The launch plan ``name`` of ``workflow``, made and checked now if it is new.

        Without a name it is the workflow's default launch plan (named like the
        workflow, with no options). Asking again for a name with the same options
        gives the same launch plan.

        Raises:
            DefinitionError: options without a name, a name already used with other
                options, an unknown input, a value that is not of its input's type, an
                input both default and fixed, a kickoff input that is not a datetime
                input, or a schedule that leaves a required input without a value.
        """
        if not isinstance(workflow, Workflow):
            raise DefinitionError(f"a launch plan launches a @workflow, got {workflow!r}")
        options = any(
            (default_inputs, fixed_inputs, schedule, notifications, labels, max_parallelism)
        )
        if name is None:
            if options:
                raise DefinitionError(
                    f"launch plan of {workflow.name}: a launch plan with inputs, a schedule, "
                    "notifications or labels needs a name"
                )
            name = workflow.name
        where = f"launch plan {name}"
        if not re.fullmatch(ENTITY_NAME_PATTERN, name):
            raise DefinitionError(
                f"{where}: a name is letters, digits, '_', '.' and '-', starting with a letter"
            )
        defaults = _literals(where, workflow, "default_inputs", default_inputs or {})
        fixed = _literals(where, workflow, "fixed_inputs", fixed_inputs or {})
        both = sorted(set(defaults) & set(fixed))
        if both:
            raise DefinitionError(f"{where}: {', '.join(both)} both default and fixed")
        if schedule is not None:
            _check_schedule(where, workflow, schedule, defaults, fixed)
        try:
            specs = [channel.to_spec() for channel in notifications]
        except NotificationError as error:
            raise DefinitionError(f"{where}: {error}") from None
        except AttributeError:
            raise DefinitionError(
                f"{where}: notifications are Email, Slack, MSTeams, PagerDuty or Webhook, got "
                f"{list(notifications)!r}"
            ) from None
        label_map = dict(labels or {})
        for key, value in label_map.items():
            if not isinstance(key, str) or not isinstance(value, str) or not key:
                raise DefinitionError(f"{where}: labels map strings to strings, got {key!r}")
        if max_parallelism is not None and (
            not isinstance(max_parallelism, int) or max_parallelism < 1
        ):
            raise DefinitionError(f"{where}: max_parallelism: expected an int >= 1")
        plan = cls(workflow, name, defaults, fixed, schedule, specs, label_map, max_parallelism)
        existing = cls._CREATED.get(name)
        if existing is not None:
            if existing._key() != plan._key():
                raise DefinitionError(
                    f"{where} already exists with other options; give this one another name"
                )
            if existing.workflow is workflow:
                return cast(LaunchPlan[R], existing)
        # New, or the same plan of a workflow whose module was imported again.
        cls._CREATED[name] = plan
        return plan

    def _key(self) -> tuple[object, ...]:
        return (
            self.workflow.name,
            self.default_inputs,
            self.fixed_inputs,
            self.schedule,
            self.notifications,
            self.labels,
            self.max_parallelism,
        )

    def spec(self) -> LaunchPlanSpec:
        """The ``LaunchPlanSpec`` that registration sends."""
        return LaunchPlanSpec(
            name=self.name,
            workflow=EntityRef(resource_type=ResourceType.WORKFLOW, name=self.workflow.name),
            default_inputs=self.default_inputs,
            fixed_inputs=self.fixed_inputs,
            schedule=self.schedule.to_spec() if self.schedule else None,
            notifications=self.notifications,
            labels=dict(sorted(self.labels.items())),
            max_parallelism=self.max_parallelism,
        )

    def __call__(self, **kwargs: object) -> R:
        """Run the workflow here with the launch plan's inputs, overridden by ``kwargs``.

        Raises:
            InputError: an input that is fixed, unknown, missing or of the wrong type.
            DefinitionError: called inside a workflow's definition.
        """
        if COMPILING:
            raise DefinitionError(
                f"launch plan {self.name}: a launch plan can't be a node of a workflow; call "
                f"its workflow ({self.workflow.name}) instead"
            )
        fixed = [name for name in kwargs if name in self.fixed_inputs]
        if fixed:
            raise InputError(f"{self.name}: {', '.join(fixed)} fixed by the launch plan")
        interface = self.workflow.interface
        values = bind_arguments(self.name, self.workflow.function, (), kwargs)
        literals = {**self.default_inputs, **interface.given_inputs_to_literals(self.name, values)}
        literals.update(self.fixed_inputs)
        outputs = self.workflow.execute_literals(literals)
        return cast(R, interface.literals_to_outputs(self.name, outputs))

    def __repr__(self) -> str:
        return f"LaunchPlan({self.name})"


def _literals(
    where: str, workflow: Workflow[..., Any], what: str, values: Mapping[str, object]
) -> dict[str, Any]:
    try:
        return workflow.interface.given_inputs_to_literals(f"{where}: {what}", values)
    except InputError as error:
        raise DefinitionError(str(error)) from None


def _check_schedule(
    where: str,
    workflow: Workflow[..., Any],
    schedule: CronSchedule,
    defaults: Mapping[str, Any],
    fixed: Mapping[str, Any],
) -> None:
    inputs = workflow.interface.inputs
    kickoff = schedule.kickoff_time_input_arg
    if kickoff is not None:
        if kickoff not in inputs:
            raise DefinitionError(
                f"{where}: kickoff_time_input_arg: {workflow.name} has no input {kickoff!r}"
            )
        if inputs[kickoff].type != DATETIME:
            raise DefinitionError(
                f"{where}: kickoff_time_input_arg: input '{kickoff}' is "
                f"{render(inputs[kickoff].type)}, not datetime"
            )
        if kickoff in fixed:
            raise DefinitionError(f"{where}: the kickoff input '{kickoff}' can't be fixed")
    unset = [
        name
        for name, slot in inputs.items()
        if not slot.has_default and name not in defaults and name not in fixed and name != kickoff
    ]
    if unset:
        raise DefinitionError(
            f"{where}: a scheduled launch has nobody to give inputs: give "
            f"{', '.join(unset)} a default or fixed value"
        )

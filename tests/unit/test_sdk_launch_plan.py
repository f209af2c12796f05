"""Launch plans, schedules and notifications: specs and checks at creation."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from contrail import (
    CronSchedule,
    DefinitionError,
    Email,
    InputError,
    LaunchPlan,
    MSTeams,
    PagerDuty,
    Slack,
    Webhook,
    task,
    workflow,
)
from contrail.notifications import NotificationError
from shared.cron import parse as parse_cron
from shared.identifiers import ResourceType
from shared.phases import ExecutionPhase
from shared.specs import ChannelKind, EntityRef, Notification, Schedule

M = __name__


@task
def greet(name: str, times: int, at: datetime) -> str:
    return f"{name} x{times} at {at:%H:%M}"


@workflow
def greeter(at: datetime, name: str = "you", times: int = 1) -> str:
    return greet(name=name, times=times, at=at)


def test_default_launch_plan_is_named_like_the_workflow() -> None:
    plan = LaunchPlan.get_or_create(greeter)
    assert plan.name == f"{M}.greeter"
    assert LaunchPlan.get_or_create(greeter) is plan
    spec = plan.spec()
    assert spec.workflow == EntityRef(resource_type=ResourceType.WORKFLOW, name=f"{M}.greeter")
    assert spec.default_inputs == {}
    assert spec.fixed_inputs == {}
    assert spec.schedule is None
    assert spec.notifications == []


def _nightly() -> LaunchPlan[str]:
    return LaunchPlan.get_or_create(
        greeter,
        "lp.nightly",
        default_inputs={"name": "team"},
        fixed_inputs={"times": 3},
        schedule=CronSchedule("@daily", kickoff_time_input_arg="at"),
        notifications=[
            Email(phases=["FAILED"], recipients=["a@example.com"]),
            Slack(phases=[ExecutionPhase.SUCCEEDED], webhook="https://hooks.slack.com/x"),
            MSTeams(phases=["failed"], webhook="https://teams.example.com/x"),
            PagerDuty(phases=["TIMED_OUT"], routing_key="key"),
            Webhook(phases=["ABORTED"], url="https://example.com/hook"),
        ],
        labels={"team": "data"},
    )


def test_launch_plan_spec() -> None:
    plan = _nightly()
    assert _nightly() is plan
    spec = plan.spec()
    assert spec.name == "lp.nightly"
    assert spec.default_inputs == {"name": "team"}
    assert spec.fixed_inputs == {"times": 3}
    assert spec.schedule == Schedule(cron="0 0 * * *", kickoff_time_input="at")
    assert spec.notifications[0] == Notification(
        phases=[ExecutionPhase.FAILED], channel=ChannelKind.EMAIL, recipients=["a@example.com"]
    )
    assert spec.notifications[2].phases == [ExecutionPhase.FAILED]
    assert [n.channel for n in spec.notifications] == list(ChannelKind)
    assert spec.labels == {"team": "data"}


def test_launch_plan_runs_locally_with_its_inputs() -> None:
    plan = _nightly()
    at = datetime(2024, 1, 1, 8, 0, tzinfo=UTC)
    assert plan(at=at) == "team x3 at 08:00"
    assert plan(at=at, name="me") == "me x3 at 08:00"
    with pytest.raises(InputError, match="fixed by the launch plan"):
        plan(at=at, times=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"default_inputs": {"nope": 1}}, "default_inputs: unknown input 'nope'"),
        ({"default_inputs": {"times": "many"}}, r"input 'times' \(int\)"),
        ({"fixed_inputs": {"name": 3}}, r"input 'name' \(str\)"),
        ({"default_inputs": {"times": 1}, "fixed_inputs": {"times": 2}}, "both default and fixed"),
        ({"schedule": CronSchedule("0 * * * *")}, "give at a default or fixed value"),
        ({"schedule": CronSchedule("0 * * * *", kickoff_time_input_arg="name")}, "not datetime"),
        ({"schedule": CronSchedule("0 * * * *", kickoff_time_input_arg="x")}, "no input 'x'"),
        ({"labels": {"a": 1}}, "labels"),
    ],
)
def test_launch_plan_checks(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        LaunchPlan.get_or_create(greeter, "lp.bad", **kwargs)  # type: ignore[arg-type]


def test_options_need_a_name_and_a_name_has_one_meaning() -> None:
    with pytest.raises(DefinitionError, match="needs a name"):
        LaunchPlan.get_or_create(greeter, default_inputs={"name": "x"})
    LaunchPlan.get_or_create(greeter, "lp.once", default_inputs={"name": "x"})
    with pytest.raises(DefinitionError, match="already exists with other options"):
        LaunchPlan.get_or_create(greeter, "lp.once", default_inputs={"name": "y"})
    with pytest.raises(DefinitionError, match="a name is letters"):
        LaunchPlan.get_or_create(greeter, "bad name")


@pytest.mark.parametrize(
    "cron", ["0 * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "*/0 * * * *"]
)
def test_bad_cron_expressions(cron: str) -> None:
    with pytest.raises(ValueError, match="CronSchedule"):
        CronSchedule(cron)


@pytest.mark.parametrize(
    ("cron", "problem"),
    [
        ("0 0 31 2 *", r"day-of-month \('31'\) names no day that exists in month \('2'\)"),
        ("0 0 30 2 *", "names no day that exists"),
        ("\u0663 * * * *", "field minute"),  # an Arabic-Indic digit three: not ASCII
        ("0 \u0663 * * *", "field hour"),
        ("@fortnightly", "unknown macro"),
    ],
)
def test_a_schedule_the_scheduler_would_refuse_fails_where_the_launch_plan_is_made(
    cron: str, problem: str
) -> None:
    """The SDK checks a cron with the scheduler's own parser, so registration can't refuse it."""
    with pytest.raises(ValueError, match=rf"CronSchedule: cron '{re.escape(cron)}'.*{problem}"):
        LaunchPlan.get_or_create(
            greeter,
            "lp.bad_schedule",
            schedule=CronSchedule(cron, kickoff_time_input_arg="at"),
        )
    with pytest.raises(ValueError, match=problem):  # and registration refuses it too
        parse_cron(cron)


@pytest.mark.parametrize(
    ("cron", "written"),
    [
        ("*/15 9-17 * * MON-FRI", "*/15 9-17 * * MON-FRI"),
        ("0  0 1,15 * *", "0 0 1,15 * *"),
        ("@hourly", "0 * * * *"),
    ],
)
def test_good_cron_expressions(cron: str, written: str) -> None:
    assert CronSchedule(cron).cron == written


def test_notification_checks() -> None:
    with pytest.raises(NotificationError, match="at least one phase"):
        Email(phases=[], recipients=["a@example.com"])
    with pytest.raises(NotificationError, match="unknown phase 'DONE'"):
        Email(phases=["DONE"], recipients=["a@example.com"])
    with pytest.raises(NotificationError, match="recipient"):
        Email(phases=["FAILED"], recipients=[])
    with pytest.raises(NotificationError, match=r"webhook=.* or channel"):
        Slack(phases=["FAILED"])
    with pytest.raises(NotificationError, match="http"):
        Webhook(phases=["FAILED"], url="ftp://x")
    with pytest.raises(NotificationError, match="not an email address"):
        Email(phases=["FAILED"], recipients=["oncall"])
    with pytest.raises(NotificationError, match="https"):
        Slack(phases=["FAILED"], webhook="http://hooks.slack.com/x")
    with pytest.raises(NotificationError, match="https"):
        MSTeams(phases=["FAILED"], webhook="teams")

"""The registry's other pure checks: cron, launch plans, spec differences, identifiers,
keys given twice, interfaces, and the errors themselves."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from services.registry.domain.diff import spec_differences
from services.registry.domain.errors import CompilationFailed, CompileError, ErrorCode
from services.registry.domain.interfaces import interface_errors
from services.registry.domain.launch_plans import check_launch_plan
from services.registry.domain.validation import (
    duplicate_key_errors,
    identifier_errors,
)
from shared import cron
from shared.documents import parse_json
from shared.specs import ChannelKind, LaunchPlanSpec, Notification, TypedInterface, WorkflowSpec


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def fires(expression: str, after: str, count: int = 1) -> list[str]:
    schedule = cron.parse(expression)
    moment = at(after)
    found: list[str] = []
    for _ in range(count):
        moment = schedule.next_after(moment)
        found.append(moment.strftime("%Y-%m-%d %H:%M %a"))
    return found


# --- cron: parsing --------------------------------------------------------------------


def test_cron_fields_take_values_lists_ranges_steps_and_names() -> None:
    schedule = cron.parse("*/15 9-17/4 1,15 jan-MAR mon-fri")

    assert schedule.minutes == {0, 15, 30, 45}
    assert schedule.hours == {9, 13, 17}
    assert schedule.days_of_month == {1, 15}
    assert schedule.months == {1, 2, 3}
    assert schedule.days_of_week == {1, 2, 3, 4, 5}
    assert (schedule.day_of_month_star, schedule.day_of_week_star) == (False, False)


def test_cron_start_with_a_step_runs_to_the_end_and_seven_is_sunday() -> None:
    schedule = cron.parse("5/20 0 * * 5-7")

    assert schedule.minutes == {5, 25, 45}
    assert schedule.days_of_week == {5, 6, 0}


@pytest.mark.parametrize(
    ("macro", "expression"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@ANNUALLY", "0 0 1 1 *"),
    ],
)
def test_cron_macros_stand_for_their_expressions(macro: str, expression: str) -> None:
    parsed, expected = cron.parse(macro), cron.parse(expression)

    assert (parsed.minutes, parsed.hours, parsed.days_of_month) == (
        expected.minutes,
        expected.hours,
        expected.days_of_month,
    )
    assert (parsed.months, parsed.days_of_week) == (expected.months, expected.days_of_week)


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        ("60 * * * *", "field minute ('60'): 60 is out of range 0-59"),
        ("* 24 * * *", "field hour"),
        ("* * 0 * *", "field day-of-month"),
        ("* * * 13 *", "field month"),
        ("* * * FOO *", "'FOO' is not a number 1-12 or a name"),
        ("* * * * 8", "field day-of-week"),
        ("* * * * MON-BAD", "field day-of-week"),
        ("*/0 * * * *", "step '0' is not a positive number"),
        ("*/x * * * *", "step 'x'"),
        ("10-5 * * * *", "range '10-5' runs backwards"),
        ("1,,2 * * * *", "empty item"),
        ("* * * *", "has 4 fields; expected 5"),
        ("* * * * * *", "has 6 fields"),
        ("@reboot", "unknown macro"),
        ("", "has 0 fields"),
        ("0 0 30 2 *", "field day-of-month ('30') names no day that exists in month ('2')"),
        ("0 0 31 4,6,9,11 *", "names no day that exists"),
    ],
)
def test_cron_errors_name_the_bad_field(expression: str, names: str) -> None:
    with pytest.raises(ValueError, match="cron") as raised:
        cron.parse(expression)

    assert names in str(raised.value)


def test_cron_accepts_feb_29_and_a_restricted_day_of_week_on_impossible_days() -> None:
    assert fires("0 0 29 2 *", "2026-01-01T00:00:00", 2) == [
        "2028-02-29 00:00 Tue",
        "2032-02-29 00:00 Sun",
    ]
    # Either rule: every Monday of February.
    assert fires("0 0 30 2 MON", "2026-01-01T00:00:00", 2) == [
        "2026-02-02 00:00 Mon",
        "2026-02-09 00:00 Mon",
    ]


# --- cron: next run ------------------------------------------------------------------


def test_next_run_is_strictly_after_the_given_time() -> None:
    assert fires("*/15 * * * *", "2026-01-01T00:00:00") == ["2026-01-01 00:15 Thu"]
    assert fires("*/15 * * * *", "2026-01-01T00:14:59.999") == ["2026-01-01 00:15 Thu"]
    assert fires("0 * * * *", "2026-01-01T23:30:00", 2) == [
        "2026-01-02 00:00 Fri",
        "2026-01-02 01:00 Fri",
    ]


def test_next_run_crosses_the_year() -> None:
    assert fires("@yearly", "2026-06-01T00:00:00") == ["2027-01-01 00:00 Fri"]
    assert fires("59 23 31 12 *", "2026-12-31T23:59:00") == ["2027-12-31 23:59 Fri"]


def test_next_run_skips_months_without_the_day() -> None:
    assert fires("0 12 31 * *", "2026-01-31T12:00:00", 3) == [
        "2026-03-31 12:00 Tue",
        "2026-05-31 12:00 Sun",
        "2026-07-31 12:00 Fri",
    ]


def test_next_run_on_feb_29_waits_for_a_leap_year() -> None:
    assert fires("0 0 29 2 *", "2026-03-01T00:00:00") == ["2028-02-29 00:00 Tue"]
    # 2100 is not a leap year.
    assert fires("0 0 29 2 *", "2096-03-01T00:00:00") == ["2104-02-29 00:00 Fri"]
    assert fires("0 0 28-29 2 *", "2100-02-28T00:00:00") == ["2101-02-28 00:00 Mon"]


def test_day_of_month_and_day_of_week_both_restricted_match_either() -> None:
    # The 13th, or any Friday (Vixie cron), not only Friday the 13th.
    assert fires("0 0 13 * FRI", "2026-03-01T00:00:00", 4) == [
        "2026-03-06 00:00 Fri",
        "2026-03-13 00:00 Fri",
        "2026-03-20 00:00 Fri",
        "2026-03-27 00:00 Fri",
    ]
    assert fires("0 0 13 * FRI", "2026-04-01T00:00:00", 2) == [
        "2026-04-03 00:00 Fri",
        "2026-04-10 00:00 Fri",
    ]
    assert fires("0 0 13 * FRI", "2026-04-10T00:00:00") == ["2026-04-13 00:00 Mon"]


def test_a_day_field_starting_with_a_star_makes_both_day_fields_match() -> None:
    # */2 starts with '*': odd days that are also Mondays.
    assert fires("0 0 */2 * MON", "2026-03-01T00:00:00", 3) == [
        "2026-03-09 00:00 Mon",
        "2026-03-23 00:00 Mon",
        "2026-04-13 00:00 Mon",
    ]
    assert fires("0 9 * * 0", "2026-03-01T09:00:00") == ["2026-03-08 09:00 Sun"]
    assert fires("0 9 * * 7", "2026-03-01T09:00:00") == ["2026-03-08 09:00 Sun"]


def test_next_run_is_in_utc_whatever_the_given_zone() -> None:
    schedule = cron.parse("0 12 * * *")
    paris = timezone(timedelta(hours=1))

    aware = schedule.next_after(datetime(2026, 1, 1, 12, 30, tzinfo=paris))
    naive = schedule.next_after(datetime(2026, 1, 1, 11, 30))

    assert aware == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert naive == aware
    assert aware.tzinfo == UTC
    assert schedule.matches(aware)
    assert not schedule.matches(aware + timedelta(minutes=1))


def test_every_minute_of_a_busy_schedule_matches_it() -> None:
    schedule = cron.parse("*/7 1-3,22 1-5 * SUN")
    moment = at("2026-01-01T00:00:00")
    for _ in range(200):
        following = schedule.next_after(moment)
        assert schedule.matches(following)
        assert following > moment
        # Nothing in between fires.
        probe = moment.replace(second=0) + timedelta(minutes=1)
        while probe < following and probe - moment < timedelta(days=2):
            assert not schedule.matches(probe)
            probe += timedelta(minutes=1)
        moment = following


# --- launch plans ------------------------------------------------------------------


WORKFLOW = WorkflowSpec.model_validate(
    {
        "name": "wf",
        "interface": {
            "inputs": {
                "name": {"type": {"kind": "str"}},
                "count": {"type": {"kind": "int"}, "default": 3},
                "when": {"type": {"kind": "datetime"}},
            }
        },
        "nodes": [],
    }
)


def plan(**fields: Any) -> LaunchPlanSpec:
    return LaunchPlanSpec.model_validate(
        {"name": "wf_lp", "workflow": {"resource_type": "workflow", "name": "wf"}, **fields}
    )


def summary(errors: list[CompileError]) -> list[tuple[str, str | None]]:
    return [(e.code, e.input) for e in errors]


def test_a_launch_plan_with_fitting_inputs_schedule_and_notifications_is_fine() -> None:
    spec = plan(
        default_inputs={"name": "union"},
        fixed_inputs={"count": 5},
        schedule={"cron": "0 9 * * MON-FRI", "kickoff_time_input": "when"},
        notifications=[
            {"phases": ["FAILED"], "channel": "email", "recipients": ["ops@example.com"]},
            {
                "phases": ["SUCCEEDED"],
                "channel": "slack",
                "recipients": ["https://hooks.slack.com/x"],
            },
            {"phases": ["FAILED"], "channel": "teams", "recipients": ["https://teams.example/h"]},
            {"phases": ["TIMED_OUT"], "channel": "pagerduty", "recipients": ["R0UT1NGKEY"]},
            {
                "phases": ["ABORTED"],
                "channel": "webhook",
                "recipients": ["http://hook.local:8080/"],
            },
        ],
    )

    assert check_launch_plan(spec, WORKFLOW) == []


def test_a_required_input_may_be_left_for_the_launch_when_unscheduled() -> None:
    assert check_launch_plan(plan(), WORKFLOW) == []


def test_launch_plan_inputs_must_be_declared_of_their_type_and_given_once() -> None:
    spec = plan(
        default_inputs={"name": 7, "nope": 1, "count": 1},
        fixed_inputs={"count": 2, "when": "yesterday"},
    )

    assert summary(check_launch_plan(spec, WORKFLOW)) == [
        ("type_mismatch", "name"),
        ("unknown_input", "nope"),
        ("type_mismatch", "when"),
        ("twice_bound_input", "count"),
    ]


def test_a_schedule_must_parse_and_its_kickoff_input_be_a_datetime() -> None:
    bad_cron = plan(default_inputs={"name": "a"}, schedule={"cron": "61 * * * *"})
    not_datetime = plan(schedule={"cron": "@daily", "kickoff_time_input": "name"})
    unknown = plan(
        default_inputs={"name": "a"}, schedule={"cron": "@daily", "kickoff_time_input": "t"}
    )

    errors = check_launch_plan(bad_cron, WORKFLOW)
    assert summary(errors) == [("invalid_schedule", None), ("invalid_schedule", "when")]
    assert "field minute" in errors[0].message
    assert "a scheduled launch passes no inputs" in errors[1].message
    assert summary(check_launch_plan(not_datetime, WORKFLOW)) == [
        ("invalid_schedule", "name"),
        ("invalid_schedule", "when"),
    ]
    assert ("invalid_schedule", "t") in summary(check_launch_plan(unknown, WORKFLOW))


@pytest.mark.parametrize(
    ("channel", "recipient"),
    [
        ("email", "not-an-email"),
        ("email", "two@at@example.com"),
        ("webhook", "ftp://example.com/x"),
        ("webhook", "https://"),
        ("slack", "http://hooks.slack.com/x"),
        ("slack", "#gen eral"),
        ("slack", "slack://token/#general"),
        ("teams", "#general"),
        ("teams", "https://exa mple.com"),
        ("pagerduty", " "),
        ("pagerduty", ""),
    ],
)
def test_notification_recipients_must_fit_their_channel(channel: str, recipient: str) -> None:
    spec = plan(
        notifications=[{"phases": ["FAILED"], "channel": channel, "recipients": [recipient]}]
    )

    errors = check_launch_plan(spec, WORKFLOW)

    assert summary(errors) == [("invalid_notification", None)]
    assert f"notification 0 ({channel})" in errors[0].message


@pytest.mark.parametrize("recipient", ["#alerts", "alerts", "https://hooks.slack.com/services/x"])
def test_slack_takes_a_webhook_or_a_channel(recipient: str) -> None:
    spec = plan(
        notifications=[{"phases": ["FAILED"], "channel": "slack", "recipients": [recipient]}]
    )

    assert check_launch_plan(spec, WORKFLOW) == []


def test_a_notification_without_phases_or_recipients_is_invalid() -> None:
    empty = Notification.model_construct(
        phases=[], channel=ChannelKind.EMAIL, recipients=[], template=None
    )
    spec = plan().model_copy(update={"notifications": [empty]})

    assert summary(check_launch_plan(spec, WORKFLOW)) == [("invalid_notification", None)] * 2


# --- spec differences --------------------------------------------------------------


def test_equal_specs_have_no_differences() -> None:
    spec = {"name": "t", "interface": {"inputs": {"a": {"type": {"kind": "int"}}}}}

    assert spec_differences(spec, json.loads(json.dumps(spec))) == []


def test_differences_name_the_path_of_each_changed_leaf() -> None:
    registered = {
        "interface": {"inputs": {"name": {"type": {"kind": "str"}}, "old": {"type": {}}}},
        "image": "a:1",
        "command": ["run", "x"],
        "labels": {"team.name": "a"},
    }
    submitted = {
        "interface": {"inputs": {"name": {"type": {"kind": "int"}}, "new": {"type": {}}}},
        "image": "a:2",
        "command": ["run"],
        "labels": {"team.name": "b"},
    }

    assert spec_differences(registered, submitted) == [
        {"path": "command[1]", "registered": "x", "submitted": None, "change": "removed"},
        {"path": "image", "registered": "a:1", "submitted": "a:2", "change": "changed"},
        {
            "path": "interface.inputs.name.type.kind",
            "registered": "str",
            "submitted": "int",
            "change": "changed",
        },
        {
            "path": "interface.inputs.new",
            "registered": None,
            "submitted": {"type": {}},
            "change": "added",
        },
        {
            "path": "interface.inputs.old",
            "registered": {"type": {}},
            "submitted": None,
            "change": "removed",
        },
        {"path": 'labels["team.name"]', "registered": "a", "submitted": "b", "change": "changed"},
    ]


def test_values_of_different_json_types_differ() -> None:
    differences = spec_differences({"a": 1, "b": 1, "c": [1]}, {"a": 1.0, "b": True, "c": {"0": 1}})

    assert [d["path"] for d in differences] == ["a", "b", "c"]


# --- identifiers and keys given twice ----------------------------------------------


def test_a_valid_identifier_has_no_errors() -> None:
    assert identifier_errors("flytesnacks", "development", "workflows.example.wf", "v1.2-a_b") == []


def test_each_invalid_part_of_an_identifier_is_named_with_its_rule() -> None:
    errors = identifier_errors("Flyte Snacks", "dev-", "9lives", "v1/2")

    assert [e.split(" ", 1)[0] for e in errors] == ["project", "domain", "name", "version"]
    assert "lower-case letters" in errors[0]
    assert "starting with a letter or '_'" in errors[2]


@pytest.mark.parametrize(
    ("project", "domain", "name", "version", "part"),
    [
        ("p\n", "d", "n", "v", "project"),
        ("p", "x" * 129, "n", "v", "domain"),
        ("p", "d", "n" * 256, "v", "name"),
        ("p", "d", "n", "", "version"),
        ("p", "d", "n", "-v", "version"),
    ],
)
def test_identifier_rules_hold_to_the_last_character(
    project: str, domain: str, name: str, version: str, part: str
) -> None:
    errors = identifier_errors(project, domain, name, version)

    assert [e.split(" ", 1)[0] for e in errors] == [part]


def loads(text: str) -> tuple[Any, list[CompileError]]:
    document = parse_json(text)
    return document.value, duplicate_key_errors(document.value, document.duplicates)


def test_inputs_bound_twice_are_named_by_node_and_input_in_branches_too() -> None:
    _, errors = loads(
        """{"identifier": {"name": "wf"}, "spec": {"nodes": [
             {"id": "n0", "inputs": {"a": 1, "a": 2}},
             {"id": "b", "branch": {"cases": [{"then": {"id": "t", "inputs": {"x": 1, "x": 1}}}],
                                    "otherwise": {"id": "e", "inputs": {"y": 1, "y": 1}}}}],
           "outputs": {"o": 1, "o": 2}}}"""
    )

    assert [(e.code, e.node, e.input) for e in errors] == [
        ("twice_bound_input", "n0", "a"),
        ("twice_bound_input", "t", "x"),
        ("twice_bound_input", "e", "y"),
        ("twice_bound_input", None, "o"),
    ]
    assert "spec.nodes[0].inputs.a" in errors[0].message


def test_other_keys_given_twice_are_duplicate_keys() -> None:
    _, errors = loads(
        """{"spec": {"name": "a", "name": "b",
                     "interface": {"inputs": {"x": {}, "x": {}}},
                     "default_inputs": {"k": 1, "k": 2}}}"""
    )

    assert [(e.code, e.input) for e in errors] == [
        ("duplicate_key", None),
        ("duplicate_key", "x"),
        ("twice_bound_input", "k"),
    ]
    assert errors[0].message == "key 'name' is given twice (spec.name)"


# --- interfaces and errors -----------------------------------------------------------


def test_interface_defaults_must_fit_their_types() -> None:
    interface = TypedInterface.model_validate(
        {
            "inputs": {
                "a": {"type": {"kind": "int"}, "default": "x"},
                "b": {"type": {"kind": "int"}, "required": False},
                "c": {
                    "type": {"kind": "union", "variants": [{"kind": "int"}, {"kind": "none"}]},
                    "required": False,
                },
                "d": {"type": {"kind": "float"}, "default": 1},
            }
        }
    )

    errors = interface_errors(interface, "task t")

    assert summary(errors) == [("type_mismatch", "a"), ("type_mismatch", "b")]
    assert "of task t" in errors[0].message


def test_compile_errors_carry_plain_codes_and_the_failure_summarizes_them() -> None:
    errors = [
        CompileError(ErrorCode.CYCLE, "nodes a -> a form a cycle", node="a"),
        CompileError("unbound_input", "x is unbound", node="b", input="x"),
    ]

    failed = CompilationFailed(errors)

    assert type(errors[0].code) is str
    assert errors[0] == CompileError("cycle", "nodes a -> a form a cycle", node="a")
    assert failed.errors == errors
    assert str(failed) == "the workflow does not compile: nodes a -> a form a cycle (and 1 more)"
    assert errors[1].as_dict() == {
        "code": "unbound_input",
        "node": "b",
        "input": "x",
        "message": "x is unbound",
    }

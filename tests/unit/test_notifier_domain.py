"""The notifier's domain: matching, its index, the conditions, templates, the lifecycle."""

from __future__ import annotations

import pytest

from services.notifier.domain.deliveries import DeliveryStatus, after_failure
from services.notifier.domain.rules import (
    Alert,
    Channel,
    EventKind,
    Rule,
    RuleIndex,
    Streak,
    Subject,
    condition,
    dedup_key,
    digest_window,
    filters_match,
    next_streak,
)
from services.notifier.domain.templates import DEFAULT_TEMPLATES, TemplateInvalid, render, validate
from shared.retry import Backoff
from shared.specs import ChannelKind

EMAIL = (Channel(ChannelKind.EMAIL, "a@b.io"),)


def subject(
    phase: str = "FAILED",
    *,
    project: str = "p",
    kind: EventKind = EventKind.EXECUTION,
    workflow: str = "wf.etl",
    launch_plan: str | None = "lp.daily",
    labels: dict[str, str] | None = None,
    name: str = "e1",
) -> Subject:
    return Subject(
        event_id=f"{name}-{phase}",
        kind=kind,
        project=project,
        domain="development",
        execution=name,
        phase=phase,
        workflow=workflow,
        launch_plan=launch_plan,
        labels=labels or {},
        node_id="n0" if kind is not EventKind.EXECUTION else None,
        attempt=1 if kind is EventKind.TASK_ATTEMPT else None,
    )


def rule(rule_id: str = "r", **kw: object) -> Rule:
    fields: dict[str, object] = {"channels": EMAIL, "phases": frozenset({"FAILED"}), **kw}
    return Rule(id=rule_id, **fields)  # type: ignore[arg-type]


def test_filters_match_on_globs_kinds_phases_and_labels() -> None:
    r = rule(project="data-*", workflow="wf.*", labels={"team": "x"})
    assert filters_match(r, subject(project="data-1", labels={"team": "x", "more": "y"}))
    assert not filters_match(r, subject(project="web", labels={"team": "x"}))
    assert not filters_match(r, subject(project="data-1", labels={"team": "y"}))
    assert not filters_match(r, subject(project="data-1", labels={"team": "x"}, phase="SUCCEEDED"))
    assert not filters_match(
        r, subject(project="data-1", labels={"team": "x"}, kind=EventKind.NODE)
    )
    assert not filters_match(rule(launch_plan="lp.*"), subject(launch_plan=None))


def test_the_index_looks_only_at_the_events_project_and_glob_projects() -> None:
    index = RuleIndex(rule(f"r{i}", project=f"p{i}") for i in range(10_000))
    index.put(rule("wild", project="p*"))
    index.put(rule("nodes", project="p7", kinds=frozenset({EventKind.NODE})))
    found = index.candidates(subject(project="p7"))
    assert sorted(r.id for r in found) == ["r7", "wild"]
    index.remove("r7")
    assert [r.id for r in index.matching(subject(project="p7"))] == ["wild"]
    index.put(rule("wild", project="p*", paused=True))
    assert index.matching(subject(project="p7")) == []
    assert len(index) == 10_001  # 10,000 - r7 + wild + nodes


def test_n_failures_in_a_row_alert_from_the_nth() -> None:
    r = rule(failures_in_a_row=3)
    streak = Streak()
    alerts = []
    for phase in ["FAILED", "FAILED", "FAILED", "FAILED", "SUCCEEDED", "FAILED"]:
        s = subject(phase)
        after = next_streak(streak, s)
        alerts.append(condition(r, s, streak, after) if phase == "FAILED" else None)
        streak = after
    assert alerts == [None, None, Alert.MATCH, Alert.MATCH, None, None]


def test_recovered_alerts_on_the_first_success_after_a_failure_only() -> None:
    r = rule(phases=frozenset({"FAILED", "SUCCEEDED"}), recovered=True)
    ok = subject("SUCCEEDED")
    assert condition(r, ok, Streak(0), Streak(0)) is None
    assert condition(r, ok, Streak(2), Streak(0)) is Alert.RECOVERED
    assert next_streak(Streak(2), subject("RUNNING")) == Streak(2)
    assert next_streak(Streak(2), subject("FAILED", kind=EventKind.NODE)) == Streak(2)


def test_dedup_keys_and_digest_windows() -> None:
    r = rule()
    assert dedup_key(r, subject()) == dedup_key(r, subject())
    assert dedup_key(r, subject()) != dedup_key(r, subject(name="e2"))
    assert dedup_key(r, subject(kind=EventKind.TASK_ATTEMPT)).endswith("#n0#1|FAILED")
    assert digest_window(1000.5, 900) == 900
    assert digest_window(1799.9, 900) == 900


def test_the_default_templates_name_everything_an_oncall_engineer_needs() -> None:
    for template in DEFAULT_TEMPLATES.values():
        validate(template)
    message = render(
        DEFAULT_TEMPLATES[ChannelKind.EMAIL],
        {
            "subject": {
                "project": "p",
                "domain": "d",
                "execution": "x1",
                "phase": "FAILED",
                "workflow": "wf",
                "workflow_version": "v1",
                "launch_plan": "lp",
                "launch_plan_version": "v2",
                "node_id": None,
                "attempt": None,
                "duration_seconds": 3.0,
                "error": {
                    "kind": "USER",
                    "code": "UserError",
                    "message": "ValueError: boom",
                    "traceback_tail": "line 9\nValueError: boom",
                },
            },
            "alert": "match",
            "link": "http://c/x1",
            "command": "contrail get execution x1 -p p -d d",
        },
    )
    assert message.title == "[contrail] FAILED: p/d/x1"
    for part in ("wf @ v1", "lp @ v2", "3.0 s", "ValueError: boom", "line 9", "http://c/x1"):
        assert part in message.body
    assert "contrail get execution x1 -p p -d d" in message.body


@pytest.mark.parametrize(
    ("template", "line"),
    [("ok\n{% if %}", 2), ("a\nb\n{{ subject.nope.deeper }}", 3), ("{{ ().__class__ }}", None)],
)
def test_a_template_that_does_not_render_names_its_line(template: str, line: int | None) -> None:
    with pytest.raises(TemplateInvalid) as caught:
        validate(template)
    if line is not None:
        assert caught.value.line == line


def test_failed_sends_back_off_then_die() -> None:
    backoff = Backoff(first=1, cap=8, jitter=0.5)
    assert after_failure(1, 3, backoff, 0.0).status is DeliveryStatus.FAILED
    assert after_failure(1, 3, backoff, 0.0).retry_in_seconds == 1
    assert after_failure(2, 3, backoff, 0.999).retry_in_seconds == pytest.approx(1.001, 0.01)
    assert after_failure(3, 3, backoff, 0.0) == after_failure(9, 3, backoff, 0.5)
    assert after_failure(3, 3, backoff, 0.0).status is DeliveryStatus.DEAD

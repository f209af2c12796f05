"""Notification rules and the matching of one event against them.

A rule says which events alert (project, domain, workflow and launch plan
globs, event kinds, phases, labels), under which condition (every match, N
failures in a row of the same launch plan, the first success after a
failure, or a digest per window), and to which channels. Launch plans carry
rules (their notifications); subscriptions are rules made through the API.

``RuleIndex`` finds the rules of one event without looking at every rule: it
buckets rules by (event kind, phase, project), a literal project in its own
bucket and a project glob in the kind and phase's wildcard bucket, so an
event looks at the rules of its own project plus those whose project is a
glob. Pure: no I/O, no clock.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from shared.phases import ExecutionPhase, NodePhase, TaskAttemptPhase
from shared.specs import ChannelKind


class EventKind(StrEnum):
    """What an execution event is about."""

    EXECUTION = "execution"
    NODE = "node"
    TASK_ATTEMPT = "task_attempt"


PHASES: dict[EventKind, frozenset[str]] = {
    EventKind.EXECUTION: frozenset(p.value for p in ExecutionPhase),
    EventKind.NODE: frozenset(p.value for p in NodePhase),
    EventKind.TASK_ATTEMPT: frozenset(p.value for p in TaskAttemptPhase),
}
ALL_PHASES: frozenset[str] = frozenset().union(*PHASES.values())

FAILURE_PHASES = frozenset({"FAILED", "TIMED_OUT"})
SUCCESS_PHASES = frozenset({"SUCCEEDED"})
TERMINAL_EXECUTION_PHASES = FAILURE_PHASES | SUCCESS_PHASES | {"ABORTED"}


@dataclass(frozen=True)
class Channel:
    """One destination: an email address, a Slack webhook or channel, a Teams
    webhook, a PagerDuty routing key, or a webhook URL."""

    kind: ChannelKind
    target: str


@dataclass(frozen=True)
class Rule:
    """Which events alert whom, and when.

    Globs use ``fnmatch`` syntax (``*``, ``?``, ``[abc]``); ``"*"`` matches
    everything. ``labels`` must all be present on the execution with these
    values. ``failures_in_a_row`` > 1 alerts on a failure only once the
    launch plan (or the workflow, without one) has failed that many times in
    a row; ``recovered`` alerts on the first success after a failure (and
    only then, for the success phases). ``digest_seconds`` gathers the
    matches of a window into one message per channel.
    """

    id: str
    channels: tuple[Channel, ...]
    phases: frozenset[str]
    kinds: frozenset[EventKind] = frozenset({EventKind.EXECUTION})
    project: str = "*"
    domain: str = "*"
    workflow: str = "*"
    launch_plan: str = "*"
    labels: Mapping[str, str] = field(default_factory=dict)
    template: str | None = None
    paused: bool = False
    failures_in_a_row: int = 1
    recovered: bool = False
    digest_seconds: int | None = None


@dataclass(frozen=True)
class ErrorFacts:
    kind: str
    code: str
    message: str
    traceback_tail: str | None = None


@dataclass(frozen=True)
class Subject:
    """What the notifier knows of one execution event (decoded from the catalogue)."""

    event_id: str
    kind: EventKind
    project: str
    domain: str
    execution: str
    phase: str
    workflow: str | None = None
    workflow_version: str | None = None
    launch_plan: str | None = None
    launch_plan_version: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    node_id: str | None = None
    attempt: int | None = None
    error: ErrorFacts | None = None
    duration_seconds: float | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    time: datetime | None = None

    @property
    def execution_key(self) -> str:
        return f"{self.project}/{self.domain}/{self.execution}"

    @property
    def about(self) -> str:
        """The execution, node or attempt this event is about (the dedup key's subject)."""
        if self.kind is EventKind.NODE:
            return f"{self.execution_key}#{self.node_id}"
        if self.kind is EventKind.TASK_ATTEMPT:
            return f"{self.execution_key}#{self.node_id}#{self.attempt}"
        return self.execution_key

    @property
    def streak_key(self) -> str:
        """Whose failures in a row this execution counts in: its launch plan, else its workflow."""
        if self.launch_plan:
            return f"lp:{self.project}/{self.domain}/{self.launch_plan}"
        return f"wf:{self.project}/{self.domain}/{self.workflow or ''}"


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def _glob(pattern: str, value: str | None) -> bool:
    if pattern == "*":
        return True
    if value is None:
        return False
    if not _is_glob(pattern):
        return pattern == value
    return fnmatch.fnmatchcase(value, pattern)


def before_installation(subject: Subject, installed_at: datetime) -> bool:
    """Whether the event happened before the notifier was installed: history, which a
    new consumer group reads from the topic's start. It is consumed and counts in the
    launch plan's failures in a row, but it alerts no rule. An event without a time, or
    of the installation's instant or later, alerts as usual, however late it is read."""
    return subject.time is not None and subject.time < installed_at


def filters_match(rule: Rule, subject: Subject) -> bool:
    """Whether ``subject`` passes ``rule``'s filters (not its condition, nor paused)."""
    return (
        subject.kind in rule.kinds
        and subject.phase in rule.phases
        and _glob(rule.project, subject.project)
        and _glob(rule.domain, subject.domain)
        and _glob(rule.workflow, subject.workflow)
        and _glob(rule.launch_plan, subject.launch_plan)
        and all(subject.labels.get(k) == v for k, v in rule.labels.items())
    )


_WILD = "*"


class RuleIndex:
    """The rules, bucketed by (kind, phase, project) so an event looks at few of them."""

    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self._buckets: dict[tuple[EventKind, str, str], dict[str, Rule]] = {}
        self._where: dict[str, list[tuple[EventKind, str, str]]] = {}
        for rule in rules:
            self.put(rule)

    def __len__(self) -> int:
        return len(self._where)

    def put(self, rule: Rule) -> None:
        """Add ``rule``, or replace the rule of the same id."""
        self.remove(rule.id)
        project = _WILD if _is_glob(rule.project) else rule.project
        keys = [(kind, phase, project) for kind in rule.kinds for phase in rule.phases]
        for key in keys:
            self._buckets.setdefault(key, {})[rule.id] = rule
        self._where[rule.id] = keys

    def remove(self, rule_id: str) -> None:
        for key in self._where.pop(rule_id, []):
            bucket = self._buckets.get(key)
            if bucket is not None:
                bucket.pop(rule_id, None)
                if not bucket:
                    del self._buckets[key]

    def candidates(self, subject: Subject) -> list[Rule]:
        """The rules that could match: those of its kind, phase and project, or any project."""
        found: list[Rule] = []
        for project in (subject.project, _WILD):
            bucket = self._buckets.get((subject.kind, subject.phase, project))
            if bucket:
                found.extend(bucket.values())
        return found

    def matching(self, subject: Subject) -> list[Rule]:
        """The unpaused rules whose filters ``subject`` passes (conditions not yet applied)."""
        return [r for r in self.candidates(subject) if not r.paused and filters_match(r, subject)]


# --- conditions ----------------------------------------------------------------


@dataclass(frozen=True)
class Streak:
    """Terminal executions of one launch plan (or workflow): failures in a row so far."""

    failures: int = 0


def next_streak(streak: Streak, subject: Subject) -> Streak:
    """The streak after ``subject`` (only terminal execution phases change it)."""
    if subject.kind is not EventKind.EXECUTION:
        return streak
    if subject.phase in FAILURE_PHASES:
        return Streak(streak.failures + 1)
    if subject.phase in SUCCESS_PHASES:
        return Streak(0)
    return streak


class Alert(StrEnum):
    """Why a rule alerts on an event."""

    MATCH = "match"
    RECOVERED = "recovered"


def condition(rule: Rule, subject: Subject, before: Streak, after: Streak) -> Alert | None:
    """Whether ``rule`` (whose filters ``subject`` passed) alerts, given the streak around it.

    - a success phase with ``recovered``: only the first success after a failure;
    - a failure phase with ``failures_in_a_row`` N: once N or more failed in a row;
    - anything else: every match.
    """
    if rule.recovered and subject.kind is EventKind.EXECUTION and subject.phase in SUCCESS_PHASES:
        return Alert.RECOVERED if before.failures > 0 else None
    if (
        rule.failures_in_a_row > 1
        and subject.kind is EventKind.EXECUTION
        and subject.phase in FAILURE_PHASES
    ):
        return Alert.MATCH if after.failures >= rule.failures_in_a_row else None
    return Alert.MATCH


def dedup_key(rule: Rule, subject: Subject) -> str:
    """The same rule, subject and phase alert once."""
    return f"{rule.id}|{subject.about}|{subject.phase}"


def digest_window(now_epoch: float, seconds: int) -> int:
    """The start (epoch seconds) of the digest window ``now_epoch`` falls in."""
    return int(now_epoch // seconds) * seconds

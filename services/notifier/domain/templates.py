# ruff: noqa: E501  (templates read best one line per message line)
"""Message templates: Jinja2 in a sandbox, a default per channel, checked when a rule is made.

A template gets ``subject`` (the event: execution, phase, workflow, launch
plan, node, attempt, duration, error), ``alert`` (``match`` or
``recovered``), ``link`` (the execution's console URL), ``command`` (the
``contrail get execution`` that shows it) and, for a digest, ``items`` (every
execution gathered). Its first line is the title (the email's subject); the
rest is the body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from shared.specs import ChannelKind

_ENV = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)

_TITLE = (
    "{% if alert == 'recovered' %}[contrail] recovered: {% else %}[contrail] {{ subject.phase }}: "
    "{% endif %}{{ subject.project }}/{{ subject.domain }}/{{ subject.execution }}"
    "{% if subject.node_id %} node {{ subject.node_id }}{% endif %}"
    "{% if subject.attempt is not none %} attempt {{ subject.attempt }}{% endif %}"
)
_BODY = """Execution {{ subject.execution }} ({{ subject.project }}/{{ subject.domain }}) is {{ subject.phase }}.
Workflow: {{ subject.workflow or '-' }}{% if subject.workflow_version %} @ {{ subject.workflow_version }}{% endif %}
Launch plan: {{ subject.launch_plan or '-' }}{% if subject.launch_plan_version %} @ {{ subject.launch_plan_version }}{% endif %}
Duration: {% if subject.duration_seconds is not none %}{{ '%.1f' % subject.duration_seconds }} s{% else %}-{% endif %}
{% if subject.error %}Error: {{ subject.error.kind }} {{ subject.error.code }}: {{ subject.error.message }}
{% if subject.error.traceback_tail %}Traceback (tail):
{{ subject.error.traceback_tail }}
{% endif %}{% endif %}Open: {{ link }}
Or run: {{ command }}"""
_DIGEST_TITLE = "[contrail] {{ items | length }} alert(s) of rule {{ rule_id }}"
_DIGEST_BODY = """{% for s in items %}- {{ s.project }}/{{ s.domain }}/{{ s.execution }} {{ s.phase }}{% if s.error %}: {{ s.error.message }}{% endif %}
{% endfor %}"""

DEFAULT_TEMPLATES: dict[ChannelKind, str] = {
    ChannelKind.EMAIL: _TITLE + "\n" + _BODY,
    ChannelKind.SLACK: _TITLE + "\n" + _BODY,
    ChannelKind.TEAMS: _TITLE + "\n" + _BODY,
    ChannelKind.PAGERDUTY: _TITLE + "\n" + _BODY,
    ChannelKind.WEBHOOK: _TITLE + "\n" + _BODY,
}
DIGEST_TEMPLATE = _DIGEST_TITLE + "\n" + _DIGEST_BODY


class TemplateInvalid(ValueError):
    """A template that does not parse or does not render; ``line`` says where."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message if line is None else f"line {line}: {message}")
        self.line = line


@dataclass(frozen=True)
class Message:
    title: str
    body: str


def render(template: str, context: dict[str, Any]) -> Message:
    """The title (first line) and body (the rest) of ``template`` over ``context``.

    Raises:
        TemplateInvalid: it does not parse, or names what the context lacks.
    """
    try:
        text = _ENV.from_string(template).render(**context)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateInvalid(exc.message or str(exc), exc.lineno) from None
    except jinja2.TemplateError as exc:
        raise TemplateInvalid(str(exc), _line_of(exc)) from None
    except Exception as exc:  # a filter raising on the sample: still the template's fault
        raise TemplateInvalid(f"{type(exc).__name__}: {exc}", _line_of(exc)) from None
    title, _, body = text.strip().partition("\n")
    return Message(title.strip()[:250] or "[contrail] alert", body.strip())


def _line_of(exc: BaseException) -> int | None:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


SAMPLE_SUBJECT: dict[str, Any] = {
    "event_id": "sample",
    "kind": "execution",
    "project": "flytesnacks",
    "domain": "development",
    "execution": "f1a2b3c4d5",
    "phase": "FAILED",
    "workflow": "wf",
    "workflow_version": "v1",
    "launch_plan": "lp",
    "launch_plan_version": "v1",
    "labels": {"team": "data"},
    "node_id": None,
    "attempt": None,
    "error": {
        "kind": "USER",
        "code": "UserError",
        "message": "ValueError: boom",
        "traceback_tail": "Traceback (most recent call last):\nValueError: boom",
    },
    "duration_seconds": 12.5,
    "started_at": None,
    "ended_at": None,
    "time": None,
}


def validate(template: str) -> None:
    """Render ``template`` over a sample alert and a sample digest.

    Raises:
        TemplateInvalid: with the line, when it does not parse or render.
    """
    context = {
        "subject": SAMPLE_SUBJECT,
        "alert": "match",
        "link": "http://console/executions/x",
        "command": "contrail get execution x -p p -d d",
        "items": [SAMPLE_SUBJECT],
        "rule_id": "sample",
    }
    render(template, context)

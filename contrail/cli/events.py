"""``contrail events tail``: print the events of ``contrail.executions`` as they come.

A plain Kafka consumer (no consumer group, so it never moves anyone's
offsets) that starts at the end of the topic, or at its beginning with
``--from-beginning``. One line per event::

    18:08:35.245  execution.phase_changed    flytesnacks/development/x  seq 0  -      QUEUED
    18:08:35.301  task_attempt.phase_changed flytesnacks/development/x  seq 3  n0#1   QUEUED

``-o json`` prints each CloudEvents envelope as it is, one per line. The
broker is ``CONTRAIL_KAFKA_BOOTSTRAP`` (default ``127.0.0.1:19092``).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.markup import escape

from contrail.cli.output import CLIError, console, errors, reported_errors
from shared.events.topics import EXECUTIONS

DEFAULT_BOOTSTRAP = "127.0.0.1:19092"
BOOTSTRAP_ENV = "CONTRAIL_KAFKA_BOOTSTRAP"

app = typer.Typer(help="Subscribe to the execution events on Kafka.", no_args_is_help=True)


class EventFormat(StrEnum):
    """How ``events tail`` prints an event."""

    LINE = "line"
    JSON = "json"


# --- filtering and printing (pure) ----------------------------------------------------------


@dataclass(frozen=True)
class EventFilter:
    """What ``events tail`` keeps; a None field keeps everything."""

    project: str | None = None
    domain: str | None = None
    workflow: str | None = None
    event_type: str | None = None
    execution: str | None = None

    def matches(self, envelope: Mapping[str, Any]) -> bool:
        """Whether the envelope's type and data pass every filter given."""
        data = envelope.get("data")
        data = data if isinstance(data, dict) else {}
        execution = _mapping(data.get("execution"))
        if self.project and execution.get("project") != self.project:
            return False
        if self.domain and execution.get("domain") != self.domain:
            return False
        if self.execution and self.execution not in (
            execution.get("name"),
            _execution_key(execution),
        ):
            return False
        if self.workflow:
            name = str(_mapping(data.get("workflow")).get("name") or "")
            if name != self.workflow and not name.endswith("." + self.workflow):
                return False
        if self.event_type:
            kind = str(envelope.get("type") or "")
            wanted = self.event_type
            exact = wanted in (kind, kind.removeprefix("contrail."))
            # or a family: execution, node, task_attempt
            if not exact and not kind.startswith(f"contrail.{wanted.removesuffix('.')}."):
                return False
        return True


TAILED_TYPES = (
    "contrail.execution.phase_changed",
    "contrail.node.phase_changed",
    "contrail.task_attempt.phase_changed",
)
"""The event types on contrail.executions, what ``events tail`` reads."""


def check_event_type(wanted: str | None) -> None:
    """``CLIError`` listing the known types and families unless ``wanted`` is one of them."""
    if wanted is None:
        return
    families = [kind.split(".")[1] for kind in TAILED_TYPES]
    known = [*TAILED_TYPES, *(kind.removeprefix("contrail.") for kind in TAILED_TYPES), *families]
    if wanted.removesuffix(".") not in known:
        raise CLIError(
            f"--type {wanted!r} is not an event type of {EXECUTIONS}: give a family "
            f"({', '.join(families)}) or a type ({', '.join(TAILED_TYPES)})"
        )


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _execution_key(execution: Mapping[str, Any]) -> str:
    parts = [execution.get(k) for k in ("project", "domain", "name")]
    return "/".join(str(p) for p in parts) if all(parts) else ""


def _clock(value: Any) -> str:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value or "-")
    return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def event_fields(envelope: Mapping[str, Any]) -> list[str]:
    """TIME, TYPE, EXECUTION, SEQ, NODE (``n0`` or ``n0#2`` for an attempt), PHASE, ERROR."""
    data = _mapping(envelope.get("data"))
    execution = _mapping(data.get("execution"))
    node = str(data.get("node_id") or "-")
    if "attempt" in data and node != "-":
        node = f"{node}#{data['attempt']}"
    error = _mapping(data.get("error"))
    error_text = ""
    if error:
        code = error.get("code") or ""
        message = " ".join(str(error.get("message") or "").split())
        error_text = f"{code}: {message}" if code else message
    seq = data.get("seq")
    phase = str(data.get("phase") or "-")
    if data.get("cache_hit"):
        phase += " (cache hit)"
    return [
        _clock(envelope.get("time")),
        str(envelope.get("type") or "-").removeprefix("contrail."),
        _execution_key(execution) or str(envelope.get("subject") or "-"),
        f"seq {seq}" if seq is not None else "-",
        node,
        phase,
        error_text,
    ]


def event_line(envelope: Mapping[str, Any]) -> str:
    """One event as one aligned line (see ``event_fields``)."""
    time_, kind, execution, seq, node, phase, error = event_fields(envelope)
    line = f"{time_}  {kind:<27} {execution}  {seq:<7} {node:<8} {phase}"
    return f"{line}  {error}" if error else line


# --- consuming ------------------------------------------------------------------------------


def bootstrap_servers() -> str:
    """``CONTRAIL_KAFKA_BOOTSTRAP``, or the local stack's broker."""
    return os.environ.get(BOOTSTRAP_ENV) or DEFAULT_BOOTSTRAP


async def _tail(
    bootstrap: str,
    keep: EventFilter,
    *,
    from_beginning: bool,
    limit: int | None,
    timeout: float | None,
    fmt: EventFormat,
) -> int:
    from aiokafka.errors import KafkaError

    from shared.events.tail import EventTail

    tail = EventTail(
        bootstrap, EXECUTIONS, from_beginning=from_beginning, client_id="contrail-events-tail"
    )
    try:
        await tail.start()
    except KafkaError as error:
        raise CLIError(
            f"cannot reach Kafka at {bootstrap} ({type(error).__name__}); "
            f"is the stack up? set {BOOTSTRAP_ENV} to another broker"
        ) from None
    printed = 0
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while limit is None or printed < limit:
            wait = 1.0
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                wait = min(wait, left)
            for event in await tail.read(wait):
                envelope = event.envelope
                if not keep.matches(envelope):
                    continue
                if fmt is EventFormat.JSON:
                    sys.stdout.write(json.dumps(envelope, ensure_ascii=False) + "\n")
                    sys.stdout.flush()
                else:
                    console.print(escape(event_line(envelope)), highlight=False)
                printed += 1
                if limit is not None and printed >= limit:
                    break
    finally:
        await tail.stop()
    return printed


@app.command("tail")
def tail(
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Only this project's events.")
    ] = None,
    domain: Annotated[
        str | None, typer.Option("--domain", "-d", help="Only this domain's events.")
    ] = None,
    workflow: Annotated[
        str | None, typer.Option("--workflow", help="Only events of this workflow.")
    ] = None,
    event_type: Annotated[
        str | None,
        typer.Option(
            "--type",
            help="Only this type (contrail.node.phase_changed) or family (execution, node, "
            "task_attempt).",
        ),
    ] = None,
    execution: Annotated[
        str | None, typer.Option("--execution", "-e", help="Only this execution's events.")
    ] = None,
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="Start at the oldest event kept.")
    ] = False,
    max_events: Annotated[
        int | None, typer.Option("--max", help="Stop after this many events.", min=1)
    ] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Stop after this many seconds.", min=0)
    ] = None,
    output: Annotated[
        EventFormat,
        typer.Option(
            "--output", "-o", help="line, or json (the raw envelopes).", case_sensitive=False
        ),
    ] = EventFormat.LINE,
    bootstrap: Annotated[
        str | None,
        typer.Option("--bootstrap", help=f"Kafka bootstrap servers (default: {BOOTSTRAP_ENV})."),
    ] = None,
) -> None:
    """Print the execution events on contrail.executions as they come (Ctrl-C stops)."""
    keep = EventFilter(project, domain, workflow, event_type, execution)
    servers = bootstrap or bootstrap_servers()
    with reported_errors():
        check_event_type(event_type)
        if output is EventFormat.LINE:
            errors.print(
                f"[dim]Tailing {EXECUTIONS} on {escape(servers)}"
                f"{' from the beginning' if from_beginning else ''} (Ctrl-C stops)[/]"
            )
        try:
            asyncio.run(
                _tail(
                    servers,
                    keep,
                    from_beginning=from_beginning,
                    limit=max_events,
                    timeout=timeout,
                    fmt=output,
                )
            )
        except KeyboardInterrupt:
            return

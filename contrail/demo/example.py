"""``contrail demo example``: register ``examples/`` and run ``wf`` on the local stack.

It registers the example project, launches ``workflows.example.wf``, follows
the execution to its end and prints its outputs and every event it published
on ``contrail.executions``, read back with a plain Kafka consumer, as a team
subscribing to the stream would see them.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from contrail.demo.credentials import ADMIN, read_token
from contrail.demo.errors import StackError
from contrail.demo.layout import Layout, find_repo_root
from shared.events.tail import EventTail
from shared.events.topics import EXECUTIONS
from shared.settings import StackSettings

EXAMPLE_WORKFLOW = "workflows.example.wf"


@dataclass
class _EventCollector:
    """Reads ``contrail.executions`` from its end in a thread, keeping every event by key.

    Events are kept from the moment the collector is ready, before the launch
    answers: the first ones are published while the launch request is answered.
    """

    bootstrap: str
    by_key: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ready: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    failure: BaseException | None = None

    def events(self, key: str) -> list[dict[str, Any]]:
        return list(self.by_key.get(key, []))

    def run(self) -> None:
        try:
            asyncio.run(self._consume())
        except BaseException as exc:  # reported by the caller
            self.failure = exc
            self.ready.set()

    async def _consume(self) -> None:
        async with EventTail(self.bootstrap, EXECUTIONS, client_id="contrail-demo-example") as tail:
            self.ready.set()
            seen: set[str] = set()
            while not self.stop.is_set():
                for event in await tail.read(0.2):
                    event_id = event.envelope.get("id")
                    if event.key is None or not isinstance(event_id, str) or event_id in seen:
                        continue
                    seen.add(event_id)
                    self.by_key.setdefault(event.key, []).append(event.envelope)


def run_example(settings: StackSettings, console: Console, name: str = "union") -> None:
    """Register the examples, run ``wf(name)`` to its end, print outputs and events.

    Raises StackError naming what went wrong.
    """
    from contrail.remote import Remote

    root = find_repo_root(Path(__file__).resolve()) / "examples"
    admin = read_token(Layout.of(settings), ADMIN)  # the stack's own, whatever the CLI's config
    console.print(f"\n[bold]Registering[/] {root / 'workflows'}")
    registered = subprocess.run(
        [sys.executable, "-m", "contrail.cli.main", "register", str(root / "workflows")],
        env={**os.environ, "CONTRAIL_TOKEN": admin} if admin else None,
        check=False,
    )
    if registered.returncode != 0:
        raise StackError("registering examples/workflows failed (see above)")

    collector = _EventCollector(settings.kafka_bootstrap)
    thread = threading.Thread(target=collector.run, name="demo-events", daemon=True)
    thread.start()
    collector.ready.wait(timeout=30)
    if collector.failure is not None:
        raise StackError(f"cannot read {EXECUTIONS} from Kafka: {collector.failure}")

    remote = Remote(settings.gateway_url, token=admin)
    execution = remote.launch(launch_plan=EXAMPLE_WORKFLOW, inputs={"name": name})
    key = f"{execution.project}/{execution.domain}/{execution.name}"
    console.print(
        f"\n[bold]Launched[/] {EXAMPLE_WORKFLOW}(name={name!r}) as execution "
        f"[cyan]{execution.name}[/]\n  contrail get execution {execution.name} "
        f"-p {execution.project} -d {execution.domain} --watch"
    )
    execution = _wait_ended(remote, execution)
    # The last events may still be on their way from the outbox.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not _has_final_event(collector.events(key)):
        time.sleep(0.1)
    collector.stop.set()
    thread.join(timeout=5)

    console.print(f"\nExecution [cyan]{execution.name}[/] ended [bold]{execution.phase.value}[/]")
    if execution.outputs is not None:
        outputs = Table("output", "value")
        for output, value in execution.outputs.items():
            outputs.add_row(output, json.dumps(value))
        console.print(outputs)
    console.print(_events_table(collector.events(key), key))
    if execution.phase.value != "SUCCEEDED":
        raise StackError(f"the example execution {execution.name} ended {execution.phase.value}")
    _run_alert_example(settings, console, remote)


ALERT_LAUNCH_PLAN = "workflows.alerting.nightly"


def _wait_ended(remote: Any, execution: Any) -> Any:
    """The execution once it ended; StackError after 120 s."""
    started = time.monotonic()
    while not execution.phase.is_terminal:
        if time.monotonic() - started > 120:
            raise StackError(f"execution {execution.name} did not end within 120s")
        time.sleep(0.2)
        execution = remote.get_execution(execution.name)
    return execution


def _run_alert_example(settings: StackSettings, console: Console, remote: Any) -> None:
    """Launch the example whose launch plan emails on failure; print the email's subject
    as Mailpit received it, and the inbox's URL."""
    import httpx

    execution = remote.launch(launch_plan=ALERT_LAUNCH_PLAN)
    console.print(
        f"\n[bold]Launched[/] {ALERT_LAUNCH_PLAN} (fails on purpose; its launch plan emails "
        f"oncall@example.com on failure) as [cyan]{execution.name}[/]"
    )
    execution = _wait_ended(remote, execution)
    key = f"{execution.project}/{execution.domain}/{execution.name}"
    subject = f"[contrail] {execution.phase.value}: {key}"
    deadline = time.monotonic() + 30
    found: list[dict[str, Any]] = []
    with httpx.Client(base_url=settings.mailpit_url, timeout=5) as mailpit:
        while not found and time.monotonic() < deadline:
            answer = mailpit.get("/api/v1/search", params={"query": f'subject:"{subject}"'})
            if answer.status_code == 200:
                found = answer.json().get("messages") or []
            if not found:
                time.sleep(0.2)
    if not found:
        raise StackError(
            f"no alert email for {execution.name} reached Mailpit within 30s "
            "(`contrail demo logs notifier`)"
        )
    message = found[0]
    console.print(
        f"Execution [cyan]{execution.name}[/] ended [bold]{execution.phase.value}[/]; "
        f"the alert arrived by email:\n  subject: [bold]{escape(message['Subject'])}[/]\n"
        f"  to: {', '.join(a['Address'] for a in message.get('To') or [])}\n"
        f"  inbox: {settings.mailpit_url}/view/{message['ID']}\n"
        f"  deliveries: contrail get deliveries {execution.name} -p {execution.project} "
        f"-d {execution.domain}"
    )


def _has_final_event(events: list[dict[str, Any]]) -> bool:
    return any(
        e["type"] == "contrail.execution.phase_changed"
        and e["data"]["phase"] in ("SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT")
        for e in events
    )


def _events_table(events: list[dict[str, Any]], key: str) -> Table:
    table = Table(
        "seq", "type", "node", "attempt", "phase", "worker", title=f"Events of {key} on Kafka"
    )
    for event in sorted(events, key=lambda e: int(e["data"]["seq"])):
        data = event["data"]
        table.add_row(
            str(data["seq"]),
            event["type"].removeprefix("contrail."),
            data.get("node_id", ""),
            str(data.get("attempt", "")),
            data["phase"],
            data.get("worker_id") or "",
        )
    return table

"""Notifications from the command line: subscribe, list, test, pause, deliveries, retry.

contrail create subscription --email me@example.com --phase FAILED -p flytesnacks
contrail get subscriptions
contrail subscription test|pause|resume|delete ID
contrail get deliveries EXECUTION [-p P -d D] [--status dead]
contrail retry delivery ID
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from contrail.cli.cluster import connected
from contrail.cli.options import DomainOption, EndpointOption, OutputOption, ProjectOption
from contrail.cli.output import CLIError, OutputFormat, console, print_listing, reported_errors
from contrail.config import load_config
from contrail.remote import Remote

subscription_app = typer.Typer(
    help="Test, pause, resume or delete a subscription.", no_args_is_help=True
)
retry_app = typer.Typer(help="Send a dead delivery again.", no_args_is_help=True)

SUBSCRIPTION_COLUMNS = ("ID", "NAME", "WHERE", "PHASES", "CONDITION", "CHANNELS", "STATE")
DELIVERY_COLUMNS = ("ID", "EXECUTION", "PHASE", "CHANNEL", "TO", "STATUS", "TRIES", "LAST ERROR")


def _remote(endpoint: str | None) -> Remote:
    return Remote(load_config(endpoint=endpoint).endpoint)


def subscription_row(item: dict[str, Any]) -> list[str]:
    spec = item["spec"]
    where = "/".join(spec.get(k, "*") for k in ("project", "domain", "workflow", "launch_plan"))
    if spec.get("labels"):
        where += " " + ",".join(f"{k}={v}" for k, v in spec["labels"].items())
    condition = []
    if spec.get("failures_in_a_row", 1) > 1:
        condition.append(f"{spec['failures_in_a_row']} in a row")
    if spec.get("recovered"):
        condition.append("recovered")
    if spec.get("digest_seconds"):
        condition.append(f"digest {spec['digest_seconds']}s")
    channels = ", ".join(f"{c['kind']}:{c['target']}" for c in spec.get("channels", []))
    kinds = ",".join(k for k in spec.get("kinds", []) if k != "execution")
    phases = ",".join(spec.get("phases", [])) + (f" ({kinds})" if kinds else "")
    return [
        item["id"],
        spec.get("name") or "-",
        where,
        phases,
        ", ".join(condition) or "each",
        channels,
        "paused" if item["paused"] else "active",
    ]


def delivery_row(item: dict[str, Any]) -> list[str]:
    status = item["status"].upper()
    return [
        item["id"],
        item.get("execution") or ("digest" if item.get("digest") else "-"),
        item.get("phase") or "-",
        item["channel"],
        item["target"],
        status,
        str(item["attempts"]),
        item.get("last_error") or "",
    ]


def create_subscription(
    email: Annotated[
        list[str] | None, typer.Option("--email", help="An address to email; repeat.")
    ] = None,
    slack: Annotated[
        list[str] | None,
        typer.Option("--slack", help="A Slack webhook URL or #channel (bot token); repeat."),
    ] = None,
    teams: Annotated[list[str] | None, typer.Option("--teams", help="A Teams webhook URL.")] = None,
    pagerduty: Annotated[
        list[str] | None, typer.Option("--pagerduty", help="A PagerDuty routing key.")
    ] = None,
    webhook: Annotated[
        list[str] | None, typer.Option("--webhook", help="A URL to POST signed JSON to.")
    ] = None,
    phase: Annotated[
        list[str] | None, typer.Option("--phase", help="A phase to alert on; repeat.")
    ] = None,
    project: Annotated[str, typer.Option("--project", "-p", help="Project glob.")] = "*",
    domain: Annotated[str, typer.Option("--domain", "-d", help="Domain glob.")] = "*",
    workflow: Annotated[str, typer.Option("--workflow", help="Workflow name glob.")] = "*",
    launch_plan: Annotated[str, typer.Option("--launch-plan", help="Launch plan glob.")] = "*",
    kind: Annotated[
        list[str] | None,
        typer.Option("--kind", help="execution (default), node or task_attempt; repeat."),
    ] = None,
    label: Annotated[
        list[str] | None, typer.Option("--label", help="KEY=VALUE the execution carries.")
    ] = None,
    failures_in_a_row: Annotated[
        int, typer.Option("--after-failures", min=1, help="Alert once N failed in a row.")
    ] = 1,
    recovered: Annotated[
        bool, typer.Option("--recovered", help="Also alert on the first success after a failure.")
    ] = False,
    digest: Annotated[
        int | None, typer.Option("--digest", help="One message per this many seconds.")
    ] = None,
    template: Annotated[
        Path | None, typer.Option("--template", help="A Jinja2 template file (line 1: title).")
    ] = None,
    name: Annotated[str, typer.Option("--name", help="A name for people.")] = "",
    endpoint: EndpointOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Subscribe to execution events: who is told, where, and when."""
    with reported_errors():
        channels = [
            {"kind": kind_, "target": target}
            for kind_, targets in (
                ("email", email),
                ("slack", slack),
                ("teams", teams),
                ("pagerduty", pagerduty),
                ("webhook", webhook),
            )
            for target in targets or []
        ]
        if not channels:
            raise CLIError("give a channel: --email, --slack, --teams, --pagerduty or --webhook")
        labels: dict[str, str] = {}
        for item in label or []:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise CLIError(f"--label {item!r}: write KEY=VALUE")
            labels[key] = value
        spec: dict[str, Any] = {
            "name": name,
            "project": project,
            "domain": domain,
            "workflow": workflow,
            "launch_plan": launch_plan,
            "kinds": kind or ["execution"],
            "phases": phase or ["FAILED", "TIMED_OUT"],
            "labels": labels,
            "channels": channels,
            "failures_in_a_row": failures_in_a_row,
            "recovered": recovered,
            "digest_seconds": digest,
        }
        if template is not None:
            spec["template"] = template.read_text()
        with _remote(endpoint) as remote:
            created = remote.create_subscription(spec)
        if output is not OutputFormat.TABLE:
            print_listing([created], output, SUBSCRIPTION_COLUMNS, [], "")
            return
        console.print(f"[✔] Subscribed: {escape(created['id'])}")
        print_listing([created], output, SUBSCRIPTION_COLUMNS, [subscription_row(created)], "")


def get_subscriptions(
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many rows.")] = 100,
    endpoint: EndpointOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List subscriptions, newest first."""
    with reported_errors(), _remote(endpoint) as remote:
        items = remote.list_subscriptions(limit=limit)
        print_listing(
            items,
            output,
            SUBSCRIPTION_COLUMNS,
            [subscription_row(i) for i in items],
            "No subscriptions: `contrail create subscription --email ... --phase FAILED`.",
        )


def get_deliveries(
    execution: Annotated[
        str | None, typer.Argument(help="An execution's name (of -p/-d); all when omitted.")
    ] = None,
    project: ProjectOption = None,
    domain: DomainOption = None,
    status: Annotated[
        str | None, typer.Option("--status", help="pending, sent, failed or dead.")
    ] = None,
    rule: Annotated[str | None, typer.Option("--rule", help="A subscription's id.")] = None,
    channel: Annotated[str | None, typer.Option("--channel", help="email, slack, ...")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many rows.")] = 100,
    endpoint: EndpointOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """The alerts sent (or not yet) about an execution, with their status."""
    with reported_errors(), connected(project, domain, endpoint) as (config, remote):
        key = f"{config.project}/{config.domain}/{execution}" if execution else None
        items = remote.list_deliveries(
            execution=key, rule=rule, channel=channel, status=status, limit=limit
        )
        print_listing(
            items,
            output,
            DELIVERY_COLUMNS,
            [delivery_row(i) for i in items],
            f"No deliveries{f' for {key}' if key else ''}.",
        )


@subscription_app.command("test")
def send_test(
    subscription_id: Annotated[str, typer.Argument(help="The subscription's id.")],
    endpoint: EndpointOption = None,
) -> None:
    """Send a sample alert to each channel of the subscription."""
    with reported_errors(), _remote(endpoint) as remote:
        ids = remote.test_subscription(subscription_id)
    console.print(
        f"[✔] Test sent to {len(ids)} channel(s): {escape(', '.join(ids))} "
        f"(see `contrail get deliveries --rule {escape(subscription_id)}`)"
    )


def _pause(paused: bool) -> Any:
    def command(
        subscription_id: Annotated[str, typer.Argument(help="The subscription's id.")],
        endpoint: EndpointOption = None,
    ) -> None:
        with reported_errors(), _remote(endpoint) as remote:
            remote.set_subscription_paused(subscription_id, paused)
        console.print(f"[✔] {escape(subscription_id)} {'paused' if paused else 'resumed'}")

    command.__doc__ = "Pause the subscription." if paused else "Resume the subscription."
    return command


subscription_app.command("pause")(_pause(True))
subscription_app.command("resume")(_pause(False))


@subscription_app.command("delete")
def delete_subscription(
    subscription_id: Annotated[str, typer.Argument(help="The subscription's id.")],
    endpoint: EndpointOption = None,
) -> None:
    """Delete the subscription (its deliveries stay listed)."""
    with reported_errors(), _remote(endpoint) as remote:
        remote.delete_subscription(subscription_id)
    console.print(f"[✔] {escape(subscription_id)} deleted")


@retry_app.command("delivery")
def retry_delivery(
    delivery_id: Annotated[str, typer.Argument(help="The dead delivery's id.")],
    endpoint: EndpointOption = None,
) -> None:
    """Send a dead delivery again."""
    with reported_errors(), _remote(endpoint) as remote:
        item = remote.retry_delivery(delivery_id)
    console.print(f"[✔] {escape(item['id'])} is {escape(item['status'])} again")


def register_notification_commands(
    app: typer.Typer, get_app: typer.Typer, create_app: typer.Typer
) -> None:
    """``create subscription``, ``get subscriptions|deliveries``, ``subscription ...``,
    ``retry delivery``."""
    create_app.command("subscription")(create_subscription)
    get_app.command("subscriptions")(get_subscriptions)
    get_app.command("deliveries")(get_deliveries)
    app.add_typer(subscription_app, name="subscription")
    app.add_typer(retry_app, name="retry")

"""What executions consumed and cost, from the metrics service: summaries, top-N, right-sizing.

contrail usage --by workflow --since 7d [--time day] [-p P] [--label k=v] [-o csv|json|parquet]
contrail usage top --by cost|failures [--group task] [-n 10]
contrail usage rightsizing [--since 7d]
contrail usage export attempts|summary --file usage.parquet [--since 30d]

Every table can instead be written as JSON, CSV or Parquet (``-o``; ``--file``
for where; Parquet always goes to a file), for pandas, Polars or DuckDB.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from contrail.cli.options import EndpointOption
from contrail.cli.output import CLIError, console, make_table, reported_errors
from contrail.config import load_config
from contrail.remote import Remote

app = typer.Typer(
    help="What executions consumed and cost: usage summaries, top-N, right-sizing, export.",
    invoke_without_command=True,
)


class UsageOutput(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    PARQUET = "parquet"


class Export(StrEnum):
    ATTEMPTS = "attempts"
    SUMMARY = "summary"


Since = Annotated[
    str, typer.Option("--since", help="Start: a span back from now (1h, 7d) or an ISO time.")
]
Until = Annotated[str | None, typer.Option("--until", help="End (default now).")]
Project = Annotated[
    str | None, typer.Option("--project", "-p", help="Only this project (default: all).")
]
Domain = Annotated[str | None, typer.Option("--domain", "-d", help="Only this domain.")]
Label = Annotated[list[str] | None, typer.Option("--label", help="key=value; repeat for several.")]
Output = Annotated[
    UsageOutput,
    typer.Option("--output", "-o", help="table, json, csv or parquet.", case_sensitive=False),
]
File = Annotated[
    Path | None,
    typer.Option("--file", "-f", help="Write csv/json/parquet here (parquet: usage.parquet)."),
]

MEASURE_COLUMNS = (
    ("EXECUTIONS", "executions", "int"),
    ("FAILED", "failed", "int"),
    ("ATTEMPTS", "attempts", "int"),
    ("RETRIES", "retries", "int"),
    ("CPU-H", "cpu_hours", "hours"),
    ("CPU-H RESERVED", "cpu_hours_reserved", "hours"),
    ("MEM GB-H", "memory_gb_hours", "hours"),
    ("MEM GB-H RESERVED", "memory_gb_hours_reserved", "hours"),
    ("P90 DURATION", "execution_duration_p90", "seconds"),
    ("P90 TASK", "task_duration_p90", "seconds"),
    ("COST", "cost", "money"),
)


def _remote(endpoint: str | None) -> Remote:
    return Remote(load_config(endpoint=endpoint).endpoint)


def _cell(value: Any, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "int":
        return str(value)
    if kind in ("hours", "money"):
        return _decimal(float(value), cents=kind == "money")
    if kind == "seconds":
        return f"{value:.2f}s"
    return str(value)


def _decimal(value: float, *, cents: bool = False) -> str:
    """A plain decimal (never ``4.8e-05``): small amounts keep six places, large ones fewer."""
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.2f}" if cents else f"{value:,.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}" if cents else f"{value:.3f}"
    return f"{value:.6f}"


def _flat(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row whose nested values (labels) are JSON text: one column each in CSV and Parquet."""
    return {
        key: json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value
        for key, value in row.items()
    }


def write_rows(rows: Sequence[Mapping[str, Any]], output: UsageOutput, file: Path | None) -> None:
    """``rows`` as JSON, CSV (to ``file`` or stdout) or Parquet (to ``file``, usage.parquet)."""
    flat = [_flat(row) for row in rows]
    if output is UsageOutput.PARQUET:
        import pyarrow as pa  # type: ignore[import-untyped]
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        target = file or Path("usage.parquet")
        pq.write_table(pa.Table.from_pylist(flat), target)
        console.print(f"[✔] {len(flat)} rows written to {escape(str(target))}")
        return
    if output is UsageOutput.CSV:
        buffer = io.StringIO()
        columns = list(dict.fromkeys(key for row in flat for key in row))
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(flat)
        text = buffer.getvalue()
    else:
        text = json.dumps(list(rows), indent=2, default=str) + "\n"
    if file is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        file.write_text(text)
        console.print(f"[✔] {len(flat)} rows written to {escape(str(file))}")


def _params(
    since: str,
    until: str | None,
    project: str | None,
    domain: str | None,
    labels: list[str] | None,
    **more: str | None,
) -> dict[str, str]:
    params: dict[str, str | None] = {
        "since": since,
        "until": until,
        "project": project,
        "domain": domain,
        "label": ",".join(labels or []) or None,
        **more,
    }
    return {key: value for key, value in params.items() if value}


def print_summary(answer: Mapping[str, Any], group: Sequence[str], title: str) -> None:
    rows = answer.get("items", [])
    if not rows:
        console.print("No usage in this range.", highlight=False)
        return
    heads = [name.upper() for name in group]
    keys = list(group)
    table = make_table(
        [*heads, *(head for head, _, _ in MEASURE_COLUMNS)],
        [
            [
                *(str(row.get(key) or "-") for key in keys),
                *(_cell(row.get(key), kind) for _, key, kind in MEASURE_COLUMNS),
            ]
            for row in rows
        ],
        title=title,
    )
    console.print(table)
    prices = answer.get("prices", {})
    fresh = answer.get("freshness", {})
    console.print(
        f"Cost in {prices.get('currency', '?')} at {prices.get('cpu_hour')} per CPU-hour and "
        f"{prices.get('gb_hour')} per GB-hour (reserved). Complete up to "
        f"{fresh.get('newest_event_at') or 'no event yet'}.",
        highlight=False,
        style="dim",
    )


def _split(by: str) -> list[str]:
    return [name.strip() for name in by.split(",") if name.strip()]


@app.callback()
def summary(
    ctx: typer.Context,
    by: Annotated[
        str,
        typer.Option(
            "--by",
            help="Group by project, domain, workflow, launch_plan, task, phase, worker "
            "(comma-separated).",
        ),
    ] = "workflow",
    time: Annotated[
        str | None, typer.Option("--time", help="Also by time: hour, day or week.")
    ] = None,
    since: Since = "24h",
    until: Until = None,
    project: Project = None,
    domain: Domain = None,
    label: Label = None,
    output: Output = UsageOutput.TABLE,
    file: File = None,
    endpoint: EndpointOption = None,
) -> None:
    """Usage grouped by --by (and --time): counts, CPU and memory hours, p90, cost."""
    if ctx.invoked_subcommand is not None:
        return
    group = _split(by)
    params = _params(since, until, project, domain, label, time=time, group_by=",".join(group))
    with reported_errors(), _remote(endpoint) as remote:
        answer = remote.usage("summary", params)
    if output is not UsageOutput.TABLE:
        write_rows(answer["items"], output, file)
        return
    print_summary(answer, [*(["time"] if time else []), *group], f"Usage since {since}")


@app.command("top")
def top(
    by: Annotated[
        str, typer.Option("--by", help="cost, failures, failure_rate, cpu_hours, wall_hours.")
    ] = "cost",
    group: Annotated[str, typer.Option("--group", help="workflow, task, ...")] = "workflow",
    n: Annotated[int, typer.Option("-n", min=1, help="How many.")] = 10,
    since: Since = "7d",
    until: Until = None,
    project: Project = None,
    domain: Domain = None,
    label: Label = None,
    output: Output = UsageOutput.TABLE,
    file: File = None,
    endpoint: EndpointOption = None,
) -> None:
    """The most expensive (or most failing) workflows or tasks in a period."""
    groups = _split(group)
    params = _params(
        since, until, project, domain, label, by=by, group_by=",".join(groups), n=str(n)
    )
    with reported_errors(), _remote(endpoint) as remote:
        answer = remote.usage("top", params)
    if output is not UsageOutput.TABLE:
        write_rows(answer["items"], output, file)
        return
    print_summary(answer, groups, f"Top {n} by {by} since {since}")


@app.command("rightsizing")
def rightsizing(
    since: Since = "7d",
    until: Until = None,
    project: Project = None,
    domain: Domain = None,
    output: Output = UsageOutput.TABLE,
    file: File = None,
    endpoint: EndpointOption = None,
) -> None:
    """Tasks whose peak memory or CPU stays far below their request; tasks killed for memory."""
    params = _params(since, until, project, domain, None)
    with reported_errors(), _remote(endpoint) as remote:
        answer = remote.usage("rightsizing", params)
    over, killed = answer["overprovisioned"], answer["oom_killed"]
    if output is not UsageOutput.TABLE:
        rows = [{"kind": "overprovisioned", **row} for row in over]
        rows += [{"kind": "oom_killed", **row} for row in killed]
        write_rows(rows, output, file)
        return
    if not over and not killed:
        console.print("Every task uses about what it asks for.", highlight=False)
        return
    if over:
        console.print(
            make_table(
                ["PROJECT", "DOMAIN", "TASK", "RESOURCE", "REQUESTED", "P95 USED", "SUGGESTED"],
                [
                    [
                        row["project"],
                        row["domain"],
                        row["task"],
                        "memory" if row["resource"] == "memory_bytes" else "cpu",
                        _amount(row["resource"], row["requested"]),
                        _amount(row["resource"], row["observed_p95"]),
                        _amount(row["resource"], row["suggested"]),
                    ]
                    for row in over
                ],
                title="Asking for more than they use",
            )
        )
    if killed:
        console.print(
            make_table(
                ["PROJECT", "DOMAIN", "TASK", "OOM KILLS", "ATTEMPTS", "PEAK", "REQUESTED"],
                [
                    [
                        row["project"],
                        row["domain"],
                        row["task"],
                        str(row["oom_kills"]),
                        str(row["attempts"]),
                        _amount("memory_bytes", row["peak_memory_bytes"]),
                        _amount("memory_bytes", row["requested_memory_bytes"]),
                    ]
                    for row in killed
                ],
                title="Killed for memory",
            )
        )


def _amount(resource: str, value: float | None) -> str:
    if value is None:
        return "-"
    if resource == "memory_bytes":
        return f"{value / 2**20:.0f} MiB"
    return f"{value:.2f} cores"


@app.command("export")
def export(
    what: Annotated[Export, typer.Argument(help="attempts (raw) or summary.")],
    file: Annotated[Path, typer.Option("--file", "-f", help="Where (.csv or .parquet).")],
    by: Annotated[str, typer.Option("--by", help="summary: group by.")] = "workflow",
    time: Annotated[str | None, typer.Option("--time", help="summary: hour, day or week.")] = "day",
    since: Since = "30d",
    until: Until = None,
    project: Project = None,
    domain: Domain = None,
    label: Label = None,
    endpoint: EndpointOption = None,
) -> None:
    """Raw attempts or a summary to a CSV or Parquet file (by its suffix)."""
    suffix = file.suffix.lower()
    if suffix not in (".csv", ".parquet", ".json"):
        with reported_errors():
            raise CLIError(f"{file}: name a .csv, .parquet or .json file")
    output = UsageOutput(suffix.lstrip("."))
    with reported_errors(), _remote(endpoint) as remote:
        if what is Export.ATTEMPTS:
            rows = remote.usage_attempts(_params(since, until, project, domain, label))
        else:
            params = _params(since, until, project, domain, label, time=time, group_by=by)
            rows = remote.usage("summary", params)["items"]
    write_rows(rows, output, file)

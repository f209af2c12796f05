"""What ``contrail demo`` prints: progress lines, the status table, the URLs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich import box
from rich.table import Table
from rich.text import Text

from contrail.demo.components import ComponentStatus, State
from contrail.demo.layout import split_host_port
from shared.settings import StackSettings

_STATE_STYLE = {State.HEALTHY: "green", State.RUNNING: "yellow", State.STOPPED: "red"}


def progress_line(name: str, action: str, endpoint: str, seconds: float) -> Text:
    """``✓ kafka  started  127.0.0.1:19092  3.1s``"""
    line = Text("  ✓ ", style="green")
    line.append(f"{name:<10}", style="bold")
    line.append(f"{action:<9}")
    line.append(endpoint, style="cyan")
    line.append(f"  {seconds:.1f}s", style="dim")
    return line


def status_table(rows: Sequence[ComponentStatus], home: Path) -> Table:
    table = Table(
        title=f"Contrail local stack: state in {home}, logs in {home / 'logs'}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("component", style="bold")
    table.add_column("pid", justify="right")
    table.add_column("state")
    table.add_column("URL / port", style="cyan", overflow="fold")
    table.add_column("log", style="dim", overflow="fold")
    for row in rows:
        table.add_row(
            row.name,
            str(row.pid) if row.pid is not None else "-",
            Text(row.state.value, style=_STATE_STYLE[row.state]),
            row.endpoint,
            row.log.name,
        )
    return table


def urls_table(settings: StackSettings, services: Sequence[tuple[str, str]], home: Path) -> Table:
    """Where each part of a healthy stack answers."""
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(style="cyan")
    table.add_row("gateway", settings.gateway_url)
    for name, url in services:
        table.add_row(name, url)
    table.add_row("kafka", settings.kafka_bootstrap)
    host, _ = split_host_port(settings.s3_endpoint, default_port=80)
    table.add_row(
        "s3 (minio)",
        f"{settings.s3_endpoint}  bucket {settings.s3_bucket}  key {settings.s3_access_key} / ***",
    )
    table.add_row("minio console", f"http://{host}:{settings.s3_console_port}")
    table.add_row("smtp (mailpit)", f"{settings.smtp_host}:{settings.smtp_port}")
    table.add_row("mail inbox", settings.mailpit_url)
    table.add_row("postgres", settings.pg_dsn_masked)
    table.add_row("state, logs", f"{home}  (contrail demo logs [COMPONENT])")
    return table

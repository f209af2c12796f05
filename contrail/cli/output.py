"""What the CLI prints: tables, JSON and YAML documents, and errors.

Errors a user can cause are printed as one red line (what failed and why),
followed by the details the API gave (one per line), and exit with status 1:
never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NoReturn, TextIO

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from contrail.errors import ContrailError
from shared.sealing import mask_sealed


def _width(stream: TextIO) -> int | None:
    """Piped output gets wide tables (``COLUMNS`` or 200), a terminal its own width."""
    if stream.isatty():
        return None
    return int(os.environ.get("COLUMNS", "0") or 0) or PIPED_WIDTH


PIPED_WIDTH = 200
# soft_wrap: a long line stays one line (pyflyte-like output is grepped and piped)
console = Console(highlight=False, soft_wrap=True, width=_width(sys.stdout))
errors = Console(stderr=True, highlight=False, soft_wrap=True, width=_width(sys.stderr))


class CLIError(ContrailError):
    """A user error the command found itself (a file that exists, a missing argument)."""


class OutputFormat(StrEnum):
    """How ``get`` prints what it found."""

    TABLE = "table"
    JSON = "json"
    YAML = "yaml"


# --- documents ----------------------------------------------------------------------


def render_document(data: Any, fmt: OutputFormat) -> str:
    """``data`` (JSON-compatible) as JSON or YAML text, ending with a newline; sealed
    secrets (a launch plan's webhook URLs, routing keys) shown as ``****``."""
    data = mask_sealed(data)
    if fmt is OutputFormat.YAML:
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"


def print_document(data: Any, fmt: OutputFormat) -> None:
    """Write ``data`` to stdout as is (no wrapping, no colour), so that it can be piped."""
    sys.stdout.write(render_document(data, fmt))
    sys.stdout.flush()


# --- tables -------------------------------------------------------------------------


def make_table(columns: Sequence[str], rows: Sequence[Sequence[str]], title: str = "") -> Table:
    """A table in the style of ``flytectl get``: a header row, then one row per entity."""
    table = Table(title=title or None, title_justify="left", show_edge=False, pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    return table


def print_listing(
    documents: Sequence[Any],
    output: OutputFormat,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    none: str,
) -> None:
    """A list as ``documents`` (``-o json|yaml``) or a table of ``rows``; ``none`` when empty."""
    if output is not OutputFormat.TABLE:
        print_document(list(documents), output)
    elif not rows:
        console.print(escape(none), highlight=False)
    else:
        console.print(make_table(columns, rows))


def format_time(value: datetime | None) -> str:
    """A timestamp in UTC, to the second (``-`` when unknown)."""
    if value is None:
        return "-"
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S") + ("Z" if value.tzinfo is not None else "")


def entity_count(count: int) -> str:
    """``1 entity``, ``4 entities``."""
    return f"{count} {'entity' if count == 1 else 'entities'}"


def format_size(size: int) -> str:
    """A byte count for people: ``812 B``, ``14.2 kB``, ``3.1 MB``."""
    if size < 1000:
        return f"{size} B"
    for unit in ("kB", "MB", "GB"):
        size_f = size / 1000
        if size_f < 1000 or unit == "GB":
            return f"{size_f:.1f} {unit}"
        size = int(size_f)
    return f"{size} B"


# --- errors -------------------------------------------------------------------------


def _value(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def format_detail(detail: dict[str, Any]) -> str:
    """One line for one item of an API error's ``details``."""
    if "path" in detail and ("registered" in detail or "submitted" in detail):
        return (
            f"{detail['path']}: registered {_value(detail.get('registered'))}, "
            f"submitted {_value(detail.get('submitted'))}"
        )
    message = str(detail.get("message", "")) or ", ".join(
        f"{key}={_value(value)}" for key, value in detail.items() if key != "code"
    )
    where: list[str] = []
    node = detail.get("node")
    if not (node and f"node {node}" in message):  # the API's messages often name it already
        for key in ("node", "input", "field"):
            if detail.get(key):
                where.append(f"{key} {detail[key]}" if key != "field" else str(detail[key]))
    code = f" [{detail['code']}]" if detail.get("code") else ""
    return f"{', '.join(where)}: {message}{code}" if where else f"{message}{code}"


def describe_error(exc: BaseException) -> tuple[str, list[str]]:
    """The headline of an error and its detail lines."""
    from contrail.remote import Conflict, Forbidden, RemoteError, Unauthenticated

    if isinstance(exc, Unauthenticated):
        why = exc.message.rstrip(".") or "the cluster refused the credential"
        return f"not signed in ({why}): run `contrail auth login`, or set CONTRAIL_TOKEN", []
    if isinstance(exc, Forbidden):
        return f"forbidden: {exc.message or 'the token does not allow this'}", []
    if isinstance(exc, RemoteError):
        headline = exc.message
        if exc.code and exc.code not in headline and exc.status:
            headline = f"{headline} ({exc.code})"
        if isinstance(exc, Conflict) and exc.details:
            headline = f"{headline}; what differs:"
        details = [d for d in exc.details if str(d.get("message", "")) != exc.message]
        return headline, [format_detail(detail) for detail in details]
    return str(exc) or type(exc).__name__, []


def print_error(exc: BaseException, context: str = "") -> None:
    """Print ``exc`` as one red line (prefixed by ``context``) and its details."""
    headline, details = describe_error(exc)
    prefix = f"{context}: " if context else ""
    errors.print(f"[bold red]error:[/] [red]{escape(prefix + headline)}[/]", soft_wrap=True)
    for line in details:
        errors.print(f"  [red]-[/] {escape(line)}", soft_wrap=True)


def user_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that are the user's doing, to print without a traceback: the SDK's."""
    return (ContrailError,)


def fail(exc: BaseException, context: str = "") -> NoReturn:
    """Print ``exc`` and exit with status 1."""
    print_error(exc, context)
    raise typer.Exit(1)


@contextmanager
def reported_errors(context: str = "") -> Iterator[None]:
    """Turn a user error raised inside into its printout and exit status 1."""
    kinds = user_errors()
    try:
        yield
    except kinds as exc:
        fail(exc, context)
    except KeyboardInterrupt:
        errors.print("[red]interrupted[/]")
        raise typer.Exit(130) from None

"""``contrail demo``: the whole stack on this machine, as local processes."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from contrail.demo.components import State
from contrail.demo.errors import StackError
from contrail.demo.processes import follow, tail_lines
from contrail.demo.report import status_table
from contrail.demo.stack import Stack

app = typer.Typer(
    help=(
        "The local stack: PostgreSQL, Kafka, MinIO, the nginx gateway, the four "
        "services and a worker, run as processes on this machine."
    ),
    no_args_is_help=True,
)

console = Console()
errors = Console(stderr=True)


def _open_stack() -> Stack:
    try:
        return Stack(console=console)
    except StackError as exc:
        errors.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(1) from exc


def _report_fault(stack: Stack, message: str) -> None:
    """The fault in one red line, then what of ours still runs."""
    errors.print(f"[bold red]error:[/] [red]{escape(message)}[/]")
    running = stack.running()
    if running:
        listed = ", ".join(f"{name} (pid {pid})" for name, pid in running)
        errors.print(f"still running: {listed}; `contrail demo down` stops them")
    else:
        errors.print("no process of the stack is running")


@app.command()
def up() -> None:
    """Start every component that is not running and wait until all are healthy."""
    stack = _open_stack()
    try:
        stack.up(progress=True)
    except StackError as exc:
        _report_fault(stack, str(exc))
        raise typer.Exit(1) from exc
    except KeyboardInterrupt as exc:
        _report_fault(stack, "interrupted")
        raise typer.Exit(130) from exc


@app.command()
def example(
    name: Annotated[str, typer.Option(help="The example workflow's input.")] = "union",
) -> None:
    """Register examples/ and run workflows.example.wf to its end, printing its events."""
    from contrail.demo.example import run_example
    from contrail.remote import RemoteError

    stack = _open_stack()
    try:
        run_example(stack.settings, console, name)
    except (StackError, RemoteError) as exc:
        errors.print(f"[bold red]error:[/] [red]{escape(str(exc))}[/]")
        raise typer.Exit(1) from exc


@app.command()
def down() -> None:
    """Stop every process the stack started (services first, PostgreSQL last)."""
    stack = _open_stack()
    try:
        stack.down(progress=True)
    except StackError as exc:
        _report_fault(stack, str(exc))
        raise typer.Exit(1) from exc


@app.command()
def status() -> None:
    """Show each component's pid, state, URL and log; exit 1 unless all are healthy."""
    stack = _open_stack()
    rows = stack.status()
    console.print(status_table(rows, stack.layout.home))
    if not any(row.pid is not None for row in rows):
        errors.print(
            f"[bold red]error:[/] [red]no local stack is running (state in "
            f"{escape(str(stack.layout.home))})[/]; `contrail demo up` starts it"
        )
        raise typer.Exit(1)
    if not all(row.state is State.HEALTHY for row in rows):
        raise typer.Exit(1)


@app.command()
def logs(
    component: Annotated[
        str | None,
        typer.Argument(help="postgres, kafka, minio, mailpit, gateway, a service or worker"),
    ] = None,
    lines: Annotated[int, typer.Option("-n", "--lines", help="How many lines of each log.")] = 40,
    follow_: Annotated[
        bool, typer.Option("-f", "--follow", help="Keep printing lines as they are written.")
    ] = False,
) -> None:
    """Print the end of the components' logs (all of them unless one is named)."""
    stack = _open_stack()
    try:
        chosen = [stack.component(component)] if component else stack.components
    except StackError as exc:
        errors.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(1) from exc
    written = [item for item in chosen if item.log_path.is_file()]
    if not written:
        errors.print(
            f"[bold red]error:[/] [red]no log of {escape(component or 'the stack')} in "
            f"{escape(str(stack.layout.logs_dir))}: the local stack has not run there[/]; "
            "`contrail demo up` starts it"
        )
        raise typer.Exit(1)
    chosen = written
    prefixed = len(chosen) > 1
    for item in chosen:
        if prefixed:
            console.print(f"[bold]==> {item.name}: {item.log_path}[/]")
        for line in tail_lines(item.log_path, lines):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    if not follow_:
        return
    width = max(len(item.name) for item in chosen)
    try:
        for name, line in follow({item.name: item.log_path for item in chosen}):
            head = f"{name:<{width}} | " if prefixed else ""
            console.print(head + line, markup=False, highlight=False, soft_wrap=True)
    except KeyboardInterrupt:
        return

"""The ``contrail`` command."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from typing import Annotated, cast

import typer

from contrail.cli.auth import app as auth_app
from contrail.cli.demo import app as demo_app
from contrail.cli.events import app as events_app
from contrail.cli.executions import register_execution_commands
from contrail.cli.get import app as get_app
from contrail.cli.init import init
from contrail.cli.launchplan import app as launchplan_app
from contrail.cli.notifications import register_notification_commands
from contrail.cli.package import package
from contrail.cli.projects import app as create_app
from contrail.cli.register import app as register_app
from contrail.cli.usage import app as usage_app

app = typer.Typer(
    name="contrail",
    help="Contrail: typed workflows, executions and their events.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(register_app, name="register")
app.command("package")(package)
app.add_typer(get_app, name="get")
app.add_typer(create_app, name="create")
app.add_typer(launchplan_app, name="launchplan")
app.command("init")(init)
app.add_typer(demo_app, name="demo")
register_execution_commands(app)
app.add_typer(events_app, name="events")
app.add_typer(usage_app, name="usage")
register_notification_commands(app, get_app, create_app)
app.add_typer(auth_app, name="auth")


def _print_version(wanted: bool) -> None:
    if wanted:
        from contrail import __version__

        typer.echo(f"contrail {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print Contrail's version and exit.",
        ),
    ] = False,
) -> None:
    """Contrail: typed workflows, executions and their events."""


def _mount_run(target: typer.Typer) -> None:
    """Mount ``contrail run`` from ``contrail.cli.run`` when that module is installed."""
    if importlib.util.find_spec("contrail.cli.run") is None:
        return
    module = importlib.import_module("contrail.cli.run")
    register_run_command = cast(Callable[[typer.Typer], None], module.register_run_command)
    register_run_command(target)


_mount_run(app)

if __name__ == "__main__":
    app()

"""The ``contrail`` command."""

from __future__ import annotations

import typer

from contrail.cli.demo import app as demo_app

app = typer.Typer(
    name="contrail",
    help="Contrail: typed workflows, executions and their events.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(demo_app, name="demo")

if __name__ == "__main__":
    app()

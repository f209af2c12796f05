"""``contrail launchplan activate|deactivate``: turn a launch plan version on or off."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from contrail.cli.output import console, reported_errors
from contrail.config import load_config
from contrail.remote import Remote

app = typer.Typer(help="Activate or deactivate launch plans.", no_args_is_help=True)

NameArgument = Annotated[str, typer.Argument(help="Launch plan name.")]
VersionOption = Annotated[str, typer.Option("--version", "-v", help="Launch plan version.")]
ProjectOption = Annotated[str | None, typer.Option("--project", "-p", help="Project.")]
DomainOption = Annotated[str | None, typer.Option("--domain", "-d", help="Domain.")]
EndpointOption = Annotated[
    str | None, typer.Option("--endpoint", help="API endpoint (default: config).")
]


def _change(
    action: str,
    name: str,
    version: str,
    project: str | None,
    domain: str | None,
    endpoint: str | None,
) -> None:
    with reported_errors():
        config = load_config(endpoint=endpoint, project=project, domain=domain)
        with Remote(config.endpoint) as remote:
            change = (
                remote.activate_launch_plan
                if action == "activate"
                else remote.deactivate_launch_plan
            )
            entity = change(config.project, config.domain, name, version)
        state = entity.state or ("ACTIVE" if action == "activate" else "INACTIVE")
        console.print(
            f"[✔] Launch plan {escape(name)} version {escape(version)} "
            f"in {escape(config.project)}/{escape(config.domain)} is now {state}",
            highlight=False,
        )


@app.command()
def activate(
    name: NameArgument,
    version: VersionOption,
    project: ProjectOption = None,
    domain: DomainOption = None,
    endpoint: EndpointOption = None,
) -> None:
    """Make NAME at --version the active launch plan of its name (its schedule runs)."""
    _change("activate", name, version, project, domain, endpoint)


@app.command()
def deactivate(
    name: NameArgument,
    version: VersionOption,
    project: ProjectOption = None,
    domain: DomainOption = None,
    endpoint: EndpointOption = None,
) -> None:
    """Make NAME at --version inactive (its schedule stops)."""
    _change("deactivate", name, version, project, domain, endpoint)

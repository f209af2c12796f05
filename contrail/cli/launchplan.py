"""``contrail launchplan activate|deactivate``: turn a launch plan version on or off."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from contrail.cli.cluster import connected
from contrail.cli.options import DomainOption, EndpointOption, ProjectOption
from contrail.cli.output import CLIError, console, reported_errors
from contrail.cli.projects import require_project
from contrail.config import Config
from contrail.remote import Remote
from shared.identifiers import ResourceType

app = typer.Typer(help="Activate or deactivate launch plans.", no_args_is_help=True)

NameArgument = Annotated[str, typer.Argument(help="Launch plan name.")]
ActivateVersion = Annotated[
    str | None, typer.Option("--version", "-v", help="Launch plan version (default: the newest).")
]
DeactivateVersion = Annotated[
    str | None,
    typer.Option("--version", "-v", help="Launch plan version (default: the active one)."),
]


def _default_version(remote: Remote, config: Config, name: str, action: str) -> str:
    """The newest version of launch plan ``name`` to activate; the active one to deactivate."""
    versions = remote.list_entities(
        ResourceType.LAUNCH_PLAN, config.project, config.domain, name=name, limit=100
    )
    if not versions:
        require_project(remote, config.project)
        raise CLIError(
            f"no launch plan named {name} in project {config.project}, domain "
            f"{config.domain} (see `contrail get launchplans`)"
        )
    if action == "activate":
        return versions[0].identifier.version
    active = [v for v in versions if v.state == "ACTIVE"]
    if not active:
        raise CLIError(f"no version of launch plan {name} is active; nothing to deactivate")
    return active[0].identifier.version


def _change(
    action: str,
    name: str,
    version: str | None,
    project: str | None,
    domain: str | None,
    endpoint: str | None,
) -> None:
    with reported_errors():
        with connected(project, domain, endpoint) as (config, remote):
            if version is None:
                version = _default_version(remote, config, name, action)
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
    version: ActivateVersion = None,
    project: ProjectOption = None,
    domain: DomainOption = None,
    endpoint: EndpointOption = None,
) -> None:
    """Make NAME (its newest version, or --version) the active launch plan (its schedule runs)."""
    _change("activate", name, version, project, domain, endpoint)


@app.command()
def deactivate(
    name: NameArgument,
    version: DeactivateVersion = None,
    project: ProjectOption = None,
    domain: DomainOption = None,
    endpoint: EndpointOption = None,
) -> None:
    """Make NAME (its active version, or --version) inactive (its schedule stops)."""
    _change("deactivate", name, version, project, domain, endpoint)

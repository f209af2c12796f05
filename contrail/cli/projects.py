"""Projects from the command line: ``contrail create project``, and the check that a project
a command names exists.

Projects are created explicitly, as with ``flytectl create project``: a command
that names a project nobody created says so and how to create it, instead of
reading an empty project or registering into a new one by a typo.
"""

from __future__ import annotations

import difflib
from typing import Annotated

import typer
from rich.markup import escape

from contrail.cli.options import EndpointOption
from contrail.cli.output import CLIError, console, reported_errors
from contrail.config import DEFAULT_PROJECT, load_config
from contrail.errors import NotFound
from contrail.remote import Remote
from shared.identifiers import DEFAULT_DOMAINS, bad_names

app = typer.Typer(help="Create a project.", no_args_is_help=True)

KNOWN_LISTED = 8
"""How many known projects an unknown project's message names."""


def unknown_project(remote: Remote, project: str) -> CLIError:
    """The error for a project that does not exist: close names, known ones, how to create it."""
    known = [p.name for p in remote.list_projects(limit=1000)]
    # Named whenever it exists, even when the first page of projects does not hold it.
    default = [DEFAULT_PROJECT] if project_exists(remote, DEFAULT_PROJECT) else []
    close = difflib.get_close_matches(project, list({*default, *known}), n=3, cutoff=0.6)
    shown = list(dict.fromkeys([*close, *default, *known]))  # in that order, each once
    listed = ", ".join(shown[:KNOWN_LISTED]) or "none"
    if len(shown) > KNOWN_LISTED:
        listed += f" and {len(shown) - KNOWN_LISTED} more: `contrail get projects`"
    guess = f"did you mean {' or '.join(close)}? " if close else ""
    return CLIError(
        f"project {project!r} does not exist ({guess}projects: {listed}); "
        f"create it with `contrail create project {project}`"
    )


def require_project(remote: Remote, project: str) -> None:
    """Raise ``CLIError`` naming the known projects unless ``project`` exists."""
    try:
        remote.get_project(project)
    except NotFound:
        raise unknown_project(remote, project) from None


def project_exists(remote: Remote, project: str) -> bool:
    try:
        remote.get_project(project)
    except NotFound:
        return False
    return True


@app.command("project")
def create_project(
    name: Annotated[str, typer.Argument(help="The project's name (lower-case, digits, -_.).")],
    description: Annotated[
        str, typer.Option("--description", help="What the project is for.")
    ] = "",
    domains: Annotated[
        list[str] | None,
        typer.Option(
            "--domain",
            "-d",
            help=f"A domain of the project; repeat (default: {', '.join(DEFAULT_DOMAINS)}).",
        ),
    ] = None,
    endpoint: EndpointOption = None,
) -> None:
    """Create a project to register and run in (as flytectl create project)."""
    with reported_errors():
        problems = bad_names(project=name)
        problems += [line for domain in domains or [] for line in bad_names(domain=domain)]
        if problems:
            raise CLIError("; ".join(problems))
        config = load_config(endpoint=endpoint)
        with Remote(config.endpoint) as remote:
            existed = project_exists(remote, name)
            project = remote.create_project(
                name, description=description, domains=tuple(domains or DEFAULT_DOMAINS)
            )
        if existed:
            console.print(f"Project {escape(project.name)} exists already: nothing to do.")
            return
        console.print(
            f"[✔] Created project {escape(project.name)} "
            f"(domains {escape(', '.join(project.domains))})"
        )

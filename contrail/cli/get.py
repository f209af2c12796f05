"""``contrail get``: what is registered, as tables (like ``flytectl get``) or JSON / YAML."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from contrail.cli.cluster import connected
from contrail.cli.executions import register_get_commands
from contrail.cli.options import (
    DomainOption,
    EndpointOption,
    LimitOption,
    OutputOption,
    ProjectOption,
)
from contrail.cli.output import (
    OutputFormat,
    console,
    format_time,
    make_table,
    print_document,
    print_listing,
    reported_errors,
)
from contrail.cli.projects import require_project, unknown_project
from contrail.config import Config
from contrail.errors import NotFound
from contrail.remote import Entity, Project, Remote
from shared.identifiers import ResourceType

app = typer.Typer(
    help="Show projects, tasks, workflows, launch plans and executions.",
    no_args_is_help=True,
)

NameArgument = Annotated[
    str | None, typer.Argument(help="Entity name: list its versions, or show one with --version.")
]
VersionOption = Annotated[
    str | None,
    typer.Option("--version", "-v", help="Show this version of NAME (-o yaml: its whole spec)."),
]

# --- rows (pure) ----------------------------------------------------------------------


def _names(spec: dict[str, Any] | None, part: str) -> str:
    if not spec:
        return "-"
    values = (spec.get("interface") or {}).get(part) or {}
    return ", ".join(values) if values else "-"


def project_row(project: Project) -> list[str]:
    """NAME, DESCRIPTION, DOMAINS, CREATED."""
    return [
        project.name,
        project.description or "-",
        ", ".join(project.domains) or "-",
        format_time(project.created_at),
    ]


def task_row(entity: Entity) -> list[str]:
    """VERSION, NAME, TYPE, INPUTS, OUTPUTS, CREATED."""
    spec = entity.spec
    kind = "-"
    if spec is not None:
        kind = "python" if spec.get("code") else "container"
    return [
        entity.identifier.version,
        entity.identifier.name,
        kind,
        _names(spec, "inputs"),
        _names(spec, "outputs"),
        format_time(entity.created_at),
    ]


def workflow_row(entity: Entity) -> list[str]:
    """VERSION, NAME, INPUTS, OUTPUTS, NODES, CREATED."""
    spec = entity.spec
    nodes = str(len(spec.get("nodes") or [])) if spec else "-"
    return [
        entity.identifier.version,
        entity.identifier.name,
        _names(spec, "inputs"),
        _names(spec, "outputs"),
        nodes,
        format_time(entity.created_at),
    ]


def launch_plan_row(entity: Entity) -> list[str]:
    """VERSION, NAME, STATE, WORKFLOW, SCHEDULE, CREATED."""
    spec = entity.spec or {}
    workflow = (spec.get("workflow") or {}).get("name", "-")
    schedule = (spec.get("schedule") or {}).get("cron") or "-"
    return [
        entity.identifier.version,
        entity.identifier.name,
        entity.state or "-",
        workflow,
        schedule,
        format_time(entity.created_at),
    ]


COLUMNS: dict[ResourceType, list[str]] = {
    ResourceType.TASK: ["VERSION", "NAME", "TYPE", "INPUTS", "OUTPUTS", "CREATED"],
    ResourceType.WORKFLOW: ["VERSION", "NAME", "INPUTS", "OUTPUTS", "NODES", "CREATED"],
    ResourceType.LAUNCH_PLAN: ["VERSION", "NAME", "STATE", "WORKFLOW", "SCHEDULE", "CREATED"],
}
ROWS: dict[ResourceType, Callable[[Entity], list[str]]] = {
    ResourceType.TASK: task_row,
    ResourceType.WORKFLOW: workflow_row,
    ResourceType.LAUNCH_PLAN: launch_plan_row,
}
PLURALS: dict[ResourceType, str] = {
    ResourceType.TASK: "tasks",
    ResourceType.WORKFLOW: "workflows",
    ResourceType.LAUNCH_PLAN: "launch plans",
}


def entity_document(entity: Entity) -> dict[str, Any]:
    """An entity as JSON-compatible data (what ``-o json`` / ``-o yaml`` print)."""
    return entity.model_dump(mode="json", exclude_none=True)


# --- commands ---------------------------------------------------------------------------


def _show_entities(
    resource_type: ResourceType,
    remote: Remote,
    config: Config,
    name: str | None,
    version: str | None,
    output: OutputFormat,
    limit: int,
) -> None:
    if name and version:
        entity = remote.get_entity(resource_type, config.project, config.domain, name, version)
        if output is OutputFormat.TABLE:
            console.print(make_table(COLUMNS[resource_type], [ROWS[resource_type](entity)]))
        else:
            print_document(entity_document(entity), output)
        return
    entities = remote.list_entities(
        resource_type,
        config.project,
        config.domain,
        name=name,
        version=version,
        limit=limit,
        include_spec=True,
    )
    if not entities:
        require_project(remote, config.project)
    what = f"{PLURALS[resource_type]} named {name}" if name else PLURALS[resource_type]
    print_listing(
        [entity_document(entity) for entity in entities],
        output,
        COLUMNS[resource_type],
        [ROWS[resource_type](entity) for entity in entities],
        f"No {what} in project {config.project}, domain {config.domain}.",
    )


def _entity_command(resource_type: ResourceType) -> Callable[..., None]:
    def command(
        name: NameArgument = None,
        version: VersionOption = None,
        project: ProjectOption = None,
        domain: DomainOption = None,
        output: OutputOption = OutputFormat.TABLE,
        limit: LimitOption = 100,
        endpoint: EndpointOption = None,
    ) -> None:
        with reported_errors(), connected(project, domain, endpoint) as (config, remote):
            _show_entities(resource_type, remote, config, name, version, output, limit)

    command.__doc__ = (
        f"List the {PLURALS[resource_type]} of a project and domain (newest first), "
        f"the versions of NAME, or NAME at --version (-o yaml: its whole spec)."
    )
    return command


for _names_of, _type in (
    (("tasks", "task"), ResourceType.TASK),
    (("workflows", "workflow"), ResourceType.WORKFLOW),
    (("launchplans", "launchplan", "launch-plans", "launch_plans"), ResourceType.LAUNCH_PLAN),
):
    _command = _entity_command(_type)
    for _index, _name in enumerate(_names_of):
        app.command(_name, hidden=_index > 0)(_command)


@app.command("projects")
def projects(
    name: Annotated[str | None, typer.Argument(help="Show this project only.")] = None,
    output: OutputOption = OutputFormat.TABLE,
    limit: LimitOption = 100,
    endpoint: EndpointOption = None,
) -> None:
    """List the projects and their domains."""
    with reported_errors():
        with connected(None, None, endpoint) as (_, remote):
            try:
                found = [remote.get_project(name)] if name else remote.list_projects(limit=limit)
            except NotFound:
                raise unknown_project(remote, name or "") from None
        if output is not OutputFormat.TABLE:
            documents = [p.model_dump(mode="json", exclude_none=True) for p in found]
            print_document(documents[0] if name else documents, output)
            return
        if not found:
            console.print("No projects.")
            return
        columns = ["NAME", "DESCRIPTION", "DOMAINS", "CREATED"]
        console.print(make_table(columns, [project_row(p) for p in found]))


app.command("project", hidden=True)(projects)


register_get_commands(app)

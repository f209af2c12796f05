"""``contrail register``: serialize, bundle, upload and register, as ``pyflyte register`` does.

``contrail register DIR...`` imports the user's modules under DIR, serializes
every task, workflow and launch plan, tars the source tree, uploads it through
the data proxy and registers tasks (concurrently), then workflows (in order,
sub-workflows first), then launch plans (concurrently): ``contrail.registration``
does each step, this module prints them.

``contrail register files`` registers a package archive (``contrail package``)
or spec documents (JSON or YAML ``{kind, spec}``) on any cluster.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from typer.core import TyperGroup

from contrail.bundle import CopyMode, SourceBundle, read_package
from contrail.cli.cluster import connected
from contrail.cli.options import (
    CopyOption,
    DomainOption,
    EndpointOption,
    ImageOption,
    ProjectOption,
)
from contrail.cli.output import (
    CLIError,
    console,
    entity_count,
    errors,
    fail,
    format_size,
    print_error,
    reported_errors,
)
from contrail.cli.projects import require_project
from contrail.config import Config
from contrail.registration import (
    Build,
    Outcome,
    Plan,
    build,
    check_version,
    compute_version,
    plan_of_specs,
    read_spec_documents,
    register,
    source_of,
    with_image,
)
from contrail.remote import Remote, Upload
from shared.identifiers import ResourceType

TYPE_LABELS: dict[ResourceType, str] = {
    ResourceType.TASK: "TASK",
    ResourceType.WORKFLOW: "WORKFLOW",
    ResourceType.LAUNCH_PLAN: "LAUNCH_PLAN",
}


def success_line(name: str, resource_type: ResourceType, version: str) -> str:
    """pyflyte's line for one registered entity."""
    return (
        f"[✔] Registration {name} type {TYPE_LABELS[resource_type]} "
        f"successful with version {version}"
    )


# --- printing a registration ---------------------------------------------------------------


def run_registration(
    remote: Remote, config: Config, plan: Plan, version: str, source: SourceBundle | None
) -> None:
    """Upload ``source`` (if any), point tasks at it and register ``plan`` in the project and
    domain of ``config``, printing as it goes.

    Each entity the call created gets pyflyte's line; when none changed, one
    line says so. Exits with status 1 (after printing what failed) when an
    entity is refused.
    """
    total = plan.count + (1 if source is not None else 0)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as progress:
        first = "Uploading the source bundle" if source is not None else "Registering"
        bar = progress.add_task(first, total=total)

        def uploaded(upload: Upload) -> None:
            verb = "Uploaded the source bundle to" if upload.uploaded else "Source bundle found at"
            progress.console.print(f"{verb} {escape(upload.uri)}", highlight=False)
            progress.advance(bar)
            progress.update(bar, description="Registering")

        def report(outcome: Outcome) -> None:
            progress.advance(bar)
            if outcome.error is None:
                if outcome.created:  # an unchanged entity is counted at the end
                    line = success_line(outcome.name, outcome.resource_type, version)
                    progress.console.print(escape(line), highlight=False)
            else:
                label = TYPE_LABELS[outcome.resource_type]
                progress.console.print(
                    f"[red]{escape(f'[✘] Registration {outcome.name} type {label} failed')}[/]",
                    highlight=False,
                )

        done = register(
            remote,
            plan,
            project=config.project,
            domain=config.domain,
            version=version,
            source=source,
            on_upload=uploaded,
            on_outcome=report,
        )
    if not done.ok:
        for outcome in done.failed:
            assert outcome.error is not None
            print_error(outcome.error, f"{TYPE_LABELS[outcome.resource_type]} {outcome.name}")
        skipped = plan.count - len(done.outcomes)
        tail = f"; {skipped} not attempted" if skipped else ""
        count = entity_count(plan.count)
        print_error(CLIError(f"{len(done.failed)} of {count} not registered{tail}"))
        raise typer.Exit(1)
    unchanged = len(done.outcomes) - done.created
    if done.created == 0:
        console.print(
            f"Nothing changed: the {entity_count(plan.count)} are registered already "
            f"with version {version}",
            highlight=False,
        )
        return
    note = f" ({unchanged} already registered, unchanged)" if unchanged else ""
    console.print(f"Successfully registered {entity_count(plan.count)}{note}", highlight=False)


def warn_without_code(plan: Plan) -> None:
    """Warn that tasks registered without code or image can only run where their code is."""
    bare = sorted({task.code.module for task in plan.tasks if task.code and not task.image})
    if not bare:
        return
    modules = ", ".join(bare[:3]) + (", ..." if len(bare) > 3 else "")
    errors.print(
        f"[yellow]warning:[/] --copy none and no image: the tasks' code ({escape(modules)}) "
        "is not registered, so they fail at launch unless every worker can import it; "
        "use --copy auto (the default), or --image IMAGE naming an image that holds it",
        highlight=False,
    )


def print_target(config: Config) -> None:
    """The first line of a registration: where to, in which project and domain."""
    console.print(
        f"Registering against {escape(config.endpoint)} "
        f"(project {escape(config.project)}, domain {escape(config.domain)})",
        highlight=False,
    )


def print_loaded(built: Build, *, root_line: bool = True) -> None:
    """pyflyte's lines about the project root and the packages it loaded."""
    root = escape(str(built.loaded.root))
    if root_line:
        console.print(
            f"Detected root {root}, will use this root for the source code.", highlight=False
        )
    console.print(
        f"Loading packages {escape(str(built.loaded.packages))} under source root {root}",
        highlight=False,
    )


# --- the commands ------------------------------------------------------------------------


class _RegisterGroup(TyperGroup):
    """``register DIR...`` unless the first argument names a subcommand (``files``)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # ctx: typer's click Context
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["dirs", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_RegisterGroup,
    help=(
        "Register tasks, workflows and launch plans: `contrail register DIR...` "
        "for Python packages, `contrail register files` for an archive or spec files."
    ),
    no_args_is_help=True,
)


@app.command("dirs")
def register_dirs(
    dirs: Annotated[
        list[Path],
        typer.Argument(
            help="Folders (or modules) of the project to register.",
            metavar="DIR...",
            exists=True,
            resolve_path=False,
        ),
    ],
    project: ProjectOption = None,
    domain: DomainOption = None,
    version: Annotated[
        str | None,
        typer.Option(
            "--version", "-v", help="Version (default: digest of the source and the specs)."
        ),
    ] = None,
    image: ImageOption = None,
    copy: CopyOption = CopyMode.AUTO,
    endpoint: EndpointOption = None,
) -> None:
    """Register every entity found in DIR... (the default of `contrail register`)."""
    with reported_errors(), connected(project, domain, endpoint) as (config, remote):
        if version is not None:
            check_version(version)
        print_target(config)
        require_project(remote, config.project)
        built = build(dirs, copy=copy, image=image, version=version)
        print_loaded(built)
        if built.source is not None:
            source = built.source
            console.print(
                f"Bundled {len(source.files)} files ({format_size(source.size)}, "
                f"digest {source.digest[:12]}, copy {copy.value})",
                highlight=False,
            )
        else:
            console.print(
                "No source bundle (copy none): tasks carry no code bundle", highlight=False
            )
            warn_without_code(built.plan)
        if built.version_computed:
            console.print(f"Computed version is {built.version}", highlight=False)
        count = entity_count(built.plan.count)
        console.print(f"Serializing and registering {count}", highlight=False)
        run_registration(remote, config, built.plan, built.version, built.source)


@app.command("files")
def register_files(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Spec documents (JSON or YAML `{kind, spec}`).", exists=True),
    ] = None,
    archive: Annotated[
        Path | None,
        typer.Option("--archive", "-a", help="A package archive from `contrail package`."),
    ] = None,
    project: ProjectOption = None,
    domain: DomainOption = None,
    version: Annotated[
        str | None,
        typer.Option(
            "--version", "-v", help="Version (default: the archive's, or a digest of the specs)."
        ),
    ] = None,
    image: ImageOption = None,
    endpoint: EndpointOption = None,
) -> None:
    """Register a package archive (--archive) and/or spec files, as `flytectl register files`."""
    if archive is None and not files:
        fail(CLIError("nothing to register: give --archive FILE or spec files"))
    with reported_errors(), connected(project, domain, endpoint) as (config, remote):
        if version is not None:
            check_version(version)
        print_target(config)
        plan = Plan()
        source: SourceBundle | None = None
        archive_version: str | None = None
        if archive is not None:
            package = read_package(archive)
            console.print(
                f"Read {escape(str(archive))}: {len(package.manifest.entities)} specs"
                + (
                    f", source bundle {format_size(len(package.source))}"
                    if package.source is not None
                    else ", no source bundle"
                ),
                highlight=False,
            )
            plan.extend(
                plan_of_specs(
                    [
                        *package.tasks.values(),
                        *package.workflows.values(),
                        *package.launch_plans.values(),
                    ]
                )
            )
            source = source_of(package.source) if package.source is not None else None
            archive_version = package.manifest.version
        for path in files or []:
            plan.extend(plan_of_specs(read_spec_documents(path)))
        plan = with_image(plan, image)
        if plan.count == 0:
            raise CLIError("no spec to register")
        require_project(remote, config.project)  # once the files are known to be good
        if version is None:
            if archive_version is not None and not files:
                version = archive_version
            else:
                version = compute_version(source.digest if source else None, plan.specs())
            console.print(f"Computed version is {version}", highlight=False)
        console.print(f"Registering {entity_count(plan.count)}", highlight=False)
        run_registration(remote, config, plan, version, source)

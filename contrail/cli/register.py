"""``contrail register``: serialize, bundle, upload and register, as ``pyflyte register`` does.

``contrail register DIR...`` imports the user's modules under DIR, serializes
every task, workflow and launch plan, tars the source tree, uploads it through
the data proxy and registers tasks (concurrently), then workflows (in order,
sub-workflows first), then launch plans (concurrently).

``contrail register files`` registers a package archive (``contrail package``)
or spec documents (JSON or YAML ``{kind, spec}``) on any cluster.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from typer.core import TyperGroup

from contrail.bundle import (
    CopyMode,
    SourceBundle,
    build_source_bundle,
    read_package,
    select_files,
)
from contrail.cli.output import (
    CLIError,
    console,
    entity_count,
    format_size,
    print_error,
    reported_errors,
)
from contrail.config import load_config
from contrail.errors import ContrailError
from contrail.remote import AnySpec, Remote, RemoteError
from shared.identifiers import Identifier, ResourceType
from shared.specs import (
    VERSION_PATTERN,
    EntityRef,
    LaunchPlanSpec,
    TaskSpec,
    WorkflowSpec,
    canonical_json,
)

TYPE_LABELS: dict[ResourceType, str] = {
    ResourceType.TASK: "TASK",
    ResourceType.WORKFLOW: "WORKFLOW",
    ResourceType.LAUNCH_PLAN: "LAUNCH_PLAN",
}
VERSION_LENGTH = 20
MAX_PARALLEL = 8


# --- what gets registered (pure) ------------------------------------------------------


@dataclass
class Plan:
    """The specs to register, in the order they must go: tasks, workflows, launch plans."""

    tasks: list[TaskSpec] = field(default_factory=list)
    workflows: list[WorkflowSpec] = field(default_factory=list)
    launch_plans: list[LaunchPlanSpec] = field(default_factory=list)

    @property
    def count(self) -> int:
        """How many entities."""
        return len(self.tasks) + len(self.workflows) + len(self.launch_plans)

    def specs(self) -> list[AnySpec]:
        """Every spec, in registration order."""
        return [*self.tasks, *self.workflows, *self.launch_plans]

    def extend(self, other: Plan) -> None:
        """Add ``other``'s specs after these."""
        self.tasks.extend(other.tasks)
        self.workflows.extend(other.workflows)
        self.launch_plans.extend(other.launch_plans)


def plan_of(
    tasks: Iterable[TaskSpec],
    workflows: Iterable[WorkflowSpec],
    launch_plans: Iterable[LaunchPlanSpec],
) -> Plan:
    """A plan of these specs, with a default launch plan for every workflow that has none.

    The default launch plan of a workflow has the workflow's name and no
    inputs of its own, as pyflyte registers it.
    """
    plan = Plan(list(tasks), list(workflows), list(launch_plans))
    named = {lp.name for lp in plan.launch_plans}
    for wf in plan.workflows:
        if wf.name not in named:
            plan.launch_plans.append(
                LaunchPlanSpec(
                    name=wf.name,
                    workflow=EntityRef(resource_type=ResourceType.WORKFLOW, name=wf.name),
                )
            )
            named.add(wf.name)
    return plan


def with_image(plan: Plan, image: str | None) -> Plan:
    """The plan with ``image`` set on every task that does not set one."""
    if not image:
        return plan
    tasks = [t if t.image else t.model_copy(update={"image": image}) for t in plan.tasks]
    return Plan(tasks, plan.workflows, plan.launch_plans)


def with_bundle(plan: Plan, uri: str | None) -> Plan:
    """The plan with every Python task's code pointing at the bundle ``uri``."""
    if uri is None:
        return plan
    tasks = [
        t.model_copy(update={"code": t.code.model_copy(update={"bundle": uri})}) if t.code else t
        for t in plan.tasks
    ]
    return Plan(tasks, plan.workflows, plan.launch_plans)


def compute_version(bundle_digest: str | None, specs: Iterable[AnySpec]) -> str:
    """The default version: a digest of the source bundle and the canonical specs.

    The same sources and specs give the same version; any change gives another.
    """
    hasher = hashlib.sha256()
    hasher.update((bundle_digest or "no-bundle").encode())
    for spec in sorted(specs, key=lambda s: (type(s).__name__, s.name)):
        hasher.update(b"\0" + type(spec).__name__.encode() + b"\0")
        hasher.update(canonical_json(spec))
    return hasher.hexdigest()[:VERSION_LENGTH]


def check_version(version: str) -> str:
    """``version`` if the registry accepts it; ``CLIError`` saying why not otherwise."""
    if not re.fullmatch(VERSION_PATTERN, version):
        raise CLIError(
            f"version {version!r} is not valid: use 1 to 128 letters, digits, '_', '.' or '-', "
            "starting with a letter, digit or '_'"
        )
    return version


def resource_type_of(spec: AnySpec) -> ResourceType:
    """The kind of entity a spec describes."""
    if isinstance(spec, TaskSpec):
        return ResourceType.TASK
    if isinstance(spec, WorkflowSpec):
        return ResourceType.WORKFLOW
    return ResourceType.LAUNCH_PLAN


def success_line(name: str, resource_type: ResourceType, version: str) -> str:
    """pyflyte's line for one registered entity."""
    return (
        f"[✔] Registration {name} type {TYPE_LABELS[resource_type]} "
        f"successful with version {version}"
    )


# --- registering -------------------------------------------------------------------------


@dataclass
class Outcome:
    """What happened to one entity."""

    name: str
    resource_type: ResourceType
    created: bool = False
    error: RemoteError | None = None


@dataclass
class Registrar:
    """Registers a plan in one project, domain and version, reporting each entity."""

    remote: Remote
    project: str
    domain: str
    version: str
    report: Callable[[Outcome], None]
    outcomes: list[Outcome] = field(default_factory=list)

    def register_plan(self, plan: Plan) -> bool:
        """Tasks concurrently, then workflows in order, then launch plans concurrently.

        Stops before the next stage when an entity fails; returns whether all succeeded.
        """
        if not self._many(plan.tasks, parallel=True):
            return False
        if not self._many(plan.workflows, parallel=False):
            return False
        return self._many(plan.launch_plans, parallel=True)

    def _many(self, specs: Sequence[AnySpec], *, parallel: bool) -> bool:
        if not specs:
            return True
        ok = True
        if parallel and len(specs) > 1:
            # results come back (and are reported) in plan order, as each is ready
            with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(specs))) as pool:
                for outcome in pool.map(self._one, specs):
                    self._record(outcome)
                    ok = ok and outcome.error is None
            return ok
        for spec in specs:
            outcome = self._one(spec)
            self._record(outcome)
            if outcome.error is not None:
                return False
        return True

    def _record(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        self.report(outcome)

    def _one(self, spec: AnySpec) -> Outcome:
        resource_type = resource_type_of(spec)
        identifier = Identifier(
            resource_type=resource_type,
            project=self.project,
            domain=self.domain,
            name=spec.name,
            version=self.version,
        )
        outcome = Outcome(name=spec.name, resource_type=resource_type)
        try:
            outcome.created = self.remote.register(identifier, spec).created
        except RemoteError as exc:
            outcome.error = exc
        return outcome


def run_registration(
    plan: Plan,
    *,
    remote: Remote,
    project: str,
    domain: str,
    version: str,
    source: SourceBundle | None,
) -> None:
    """Upload ``source`` (if any), point tasks at it and register ``plan``, printing as it goes.

    Exits with status 1 (after printing what failed) when an entity is refused.
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
        bar = progress.add_task("Uploading the source bundle", total=total)
        if source is not None:
            upload = remote.upload(project, domain, source.content)
            verb = "Uploaded the source bundle to" if upload.uploaded else "Source bundle found at"
            progress.console.print(f"{verb} {escape(upload.uri)}", highlight=False)
            progress.advance(bar)
            plan = with_bundle(plan, upload.uri)
        progress.update(bar, description="Registering")

        def report(outcome: Outcome) -> None:
            progress.advance(bar)
            if outcome.error is None:
                line = success_line(outcome.name, outcome.resource_type, version)
                progress.console.print(escape(line), highlight=False)
            else:
                label = TYPE_LABELS[outcome.resource_type]
                progress.console.print(
                    f"[red]{escape(f'[✘] Registration {outcome.name} type {label} failed')}[/]",
                    highlight=False,
                )

        registrar = Registrar(remote, project, domain, version, report)
        ok = registrar.register_plan(plan)
    failed = [outcome for outcome in registrar.outcomes if outcome.error is not None]
    if not ok or failed:
        for outcome in failed:
            assert outcome.error is not None
            print_error(outcome.error, f"{TYPE_LABELS[outcome.resource_type]} {outcome.name}")
        skipped = plan.count - len(registrar.outcomes)
        tail = f"; {skipped} not attempted" if skipped else ""
        print_error(CLIError(f"{len(failed)} of {entity_count(plan.count)} not registered{tail}"))
        raise typer.Exit(1)
    unchanged = sum(1 for outcome in registrar.outcomes if not outcome.created)
    note = f" ({unchanged} already registered, unchanged)" if unchanged else ""
    console.print(f"Successfully registered {entity_count(plan.count)}{note}", highlight=False)


# --- loading user code ---------------------------------------------------------------------


@dataclass
class Loaded:
    """The user's code, imported and serialized."""

    root: Path
    plan: Plan
    module_files: list[Path]
    packages: list[str]


def load_project(dirs: Sequence[Path]) -> Loaded:
    """Import the modules under ``dirs`` and serialize their entities.

    Raises ``UserCodeError`` (naming file and line) when a module does not import,
    ``CLIError`` when the folders belong to different project roots.
    """
    from contrail.loader import find_project_root, load_modules
    from contrail.serialize import collect

    resolved = [path.resolve() for path in dirs]
    roots = {find_project_root(path) for path in resolved}
    if len(roots) > 1:
        listed = ", ".join(str(root) for root in sorted(roots))
        raise CLIError(f"the folders belong to different project roots: {listed}")
    root = roots.pop()
    modules = load_modules(resolved, root)
    entities = collect(modules)
    plan = plan_of(
        entities.tasks.values(), entities.workflows.values(), entities.launch_plans.values()
    )
    module_files = [Path(m.__file__) for m in modules if m.__file__]
    packages = sorted(
        {str(path.relative_to(root)).replace("\\", "/") for path in resolved if path != root}
        or {"."}
    )
    return Loaded(root=root, plan=plan, module_files=module_files, packages=packages)


# --- spec documents ---------------------------------------------------------------------------

_SPEC_MODELS: dict[str, type[TaskSpec] | type[WorkflowSpec] | type[LaunchPlanSpec]] = {
    "task": TaskSpec,
    "workflow": WorkflowSpec,
    "launch_plan": LaunchPlanSpec,
    "launchplan": LaunchPlanSpec,
}


class DuplicateKeyError(ContrailError, ValueError):
    """A key given twice in one mapping: one of the values would be silently lost."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    for key, value in pairs:
        if key in mapping:
            raise DuplicateKeyError(f"key {key!r} is given twice in one object")
        mapping[key] = value
    return mapping


def _unique_key_loader() -> type[Any]:
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    line = key_node.start_mark.line + 1
                    raise DuplicateKeyError(f"key {key!r} is given twice (line {line})")
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def read_spec_documents(path: Path) -> list[AnySpec]:
    """The specs of a JSON or YAML file of ``{kind, spec}`` documents.

    A file holds one document, a list of them, or (YAML) several ``---``
    documents. Raises ``CLIError`` naming the file, and the line and column
    of a syntax error or the field of a spec that is not valid.
    """
    import yaml

    _UniqueKeyLoader = _unique_key_loader()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CLIError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    documents: list[Any]
    if path.suffix.lower() == ".json":
        try:
            loaded = json.loads(text, object_pairs_hook=_unique_keys)
        except json.JSONDecodeError as exc:
            raise CLIError(
                f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from exc
        except DuplicateKeyError as exc:
            raise CLIError(f"{path}: {exc}") from exc
        documents = loaded if isinstance(loaded, list) else [loaded]
    else:
        try:
            documents = [
                doc for doc in yaml.load_all(text, Loader=_UniqueKeyLoader) if doc is not None
            ]
        except DuplicateKeyError as exc:
            raise CLIError(f"{path}: {exc}") from exc
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise CLIError(
                f"{path}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}"
            ) from exc
        if len(documents) == 1 and isinstance(documents[0], list):
            documents = documents[0]
    specs: list[AnySpec] = []
    for index, document in enumerate(documents):
        where = f"{path} (document {index + 1})" if len(documents) > 1 else str(path)
        if not isinstance(document, dict) or "kind" not in document or "spec" not in document:
            raise CLIError(f"{where}: expected a mapping with kind and spec")
        kind = str(document["kind"]).lower().replace("-", "_")
        model = _SPEC_MODELS.get(kind)
        if model is None:
            raise CLIError(
                f"{where}: unknown kind {document['kind']!r} (task, workflow or launch_plan)"
            )
        try:
            specs.append(model.model_validate(document["spec"]))
        except ValidationError as exc:
            first = exc.errors()[0]
            field_path = ".".join(str(part) for part in first.get("loc", ()))
            raise CLIError(
                f"{where}: not a valid {kind} spec: spec.{field_path}: {first.get('msg', '')}"
            ) from exc
    return specs


def plan_of_specs(specs: Iterable[AnySpec]) -> Plan:
    """Specs sorted into a plan, keeping their order within each kind (no defaults added)."""
    plan = Plan()
    for spec in specs:
        if isinstance(spec, TaskSpec):
            plan.tasks.append(spec)
        elif isinstance(spec, WorkflowSpec):
            plan.workflows.append(spec)
        else:
            plan.launch_plans.append(spec)
    return plan


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

ProjectOption = Annotated[
    str | None, typer.Option("--project", "-p", help="Project (default: config, flytesnacks).")
]
DomainOption = Annotated[
    str | None, typer.Option("--domain", "-d", help="Domain (default: config, development).")
]
EndpointOption = Annotated[
    str | None,
    typer.Option("--endpoint", help="API endpoint (default: config, CONTRAIL_ENDPOINT)."),
]
ImageOption = Annotated[
    str | None, typer.Option("--image", "-i", help="Image of the tasks that set none.")
]


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
    copy: Annotated[
        CopyMode,
        typer.Option(
            "--copy",
            help="Source to bundle: auto (the loaded packages), all (the whole root), none.",
            case_sensitive=False,
        ),
    ] = CopyMode.AUTO,
    endpoint: EndpointOption = None,
) -> None:
    """Register every entity found in DIR... (the default of `contrail register`)."""
    with reported_errors():
        config = load_config(endpoint=endpoint, project=project, domain=domain)
        if version is not None:
            check_version(version)
        console.print(
            f"Registering against {escape(config.endpoint)} "
            f"(project {escape(config.project)}, domain {escape(config.domain)})",
            highlight=False,
        )
        loaded = load_project(dirs)
        console.print(
            f"Detected root {escape(str(loaded.root))}, will use this root for the source code.",
            highlight=False,
        )
        console.print(
            f"Loading packages {escape(str(loaded.packages))} under source root "
            f"{escape(str(loaded.root))}",
            highlight=False,
        )
        plan = with_image(loaded.plan, image)
        if plan.count == 0:
            raise CLIError(f"no task, workflow or launch plan found in {', '.join(map(str, dirs))}")
        source: SourceBundle | None = None
        if copy is not CopyMode.NONE:
            files = select_files(loaded.root, copy, loaded.module_files)
            source = build_source_bundle(loaded.root, files)
            console.print(
                f"Bundled {len(source.files)} files ({format_size(source.size)}, "
                f"digest {source.digest[:12]}, copy {copy.value})",
                highlight=False,
            )
        else:
            console.print(
                "No source bundle (copy none): tasks carry no code bundle", highlight=False
            )
        if version is None:
            version = compute_version(source.digest if source else None, plan.specs())
            console.print(f"Computed version is {version}", highlight=False)
        console.print(f"Serializing and registering {entity_count(plan.count)}", highlight=False)
        with Remote(config.endpoint) as remote:
            run_registration(
                plan,
                remote=remote,
                project=config.project,
                domain=config.domain,
                version=version,
                source=source,
            )


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
    with reported_errors():
        if archive is None and not files:
            raise CLIError("nothing to register: give --archive FILE or spec files")
        config = load_config(endpoint=endpoint, project=project, domain=domain)
        if version is not None:
            check_version(version)
        console.print(
            f"Registering against {escape(config.endpoint)} "
            f"(project {escape(config.project)}, domain {escape(config.domain)})",
            highlight=False,
        )
        plan = Plan()
        source_bytes: bytes | None = None
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
            source_bytes = package.source
            archive_version = package.manifest.version
        for path in files or []:
            plan.extend(plan_of_specs(read_spec_documents(path)))
        plan = with_image(plan, image)
        if plan.count == 0:
            raise CLIError("no spec to register")
        source: SourceBundle | None = None
        if source_bytes is not None:
            source = SourceBundle(
                content=source_bytes,
                digest=hashlib.sha256(source_bytes).hexdigest(),
                files=(),
            )
        if version is None:
            if archive_version is not None and not files:
                version = archive_version
            else:
                version = compute_version(source.digest if source else None, plan.specs())
            console.print(f"Computed version is {version}", highlight=False)
        console.print(f"Registering {entity_count(plan.count)}", highlight=False)
        with Remote(config.endpoint) as remote:
            run_registration(
                plan,
                remote=remote,
                project=config.project,
                domain=config.domain,
                version=version,
                source=source,
            )

"""Registering a project: load → bundle → version → upload → register, in one place.

``build`` imports the user's modules under some folders, serializes every
task, workflow and launch plan (adding each workflow's default launch plan),
tars the source tree and computes the version; ``register`` uploads the
bundle through the data proxy, points the Python tasks at it and registers
tasks (concurrently), then workflows (in order, sub-workflows first), then
launch plans (concurrently). ``contrail register``, ``contrail package``,
``contrail run --remote`` and ``Remote.run`` all go through these two.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from contrail.bundle import CopyMode, SourceBundle, build_source_bundle, select_files
from contrail.errors import ContrailError, RemoteError
from contrail.loader import find_project_root, load_modules
from contrail.serialize import collect
from shared.documents import DocumentError, parse_json, parse_yaml_stream, unique_keys
from shared.identifiers import Identifier, ResourceType
from shared.specs import (
    VERSION_PATTERN,
    EntityRef,
    LaunchPlanSpec,
    TaskSpec,
    WorkflowSpec,
    canonical_json,
)

if TYPE_CHECKING:
    from contrail.remote import AnySpec, Remote, Upload

VERSION_LENGTH = 20
MAX_PARALLEL = 8


class RegistrationFailed(ContrailError):
    """Registering could not be done; the message says what and why.

    Nothing to register in the folders, folders of different project roots, a
    version the registry would refuse, a spec file that is not valid (naming
    the file and the place), or an entity the cluster refused (naming it;
    ``__cause__`` is the ``RemoteError``).
    """


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
    """``version`` if the registry accepts it; ``RegistrationFailed`` saying why not otherwise."""
    if not re.fullmatch(VERSION_PATTERN, version):
        raise RegistrationFailed(
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


# --- loading, bundling, versioning ------------------------------------------------------


@dataclass
class Loaded:
    """The user's code, imported and serialized."""

    root: Path
    plan: Plan
    module_files: list[Path]
    packages: list[str]


def load_project(paths: Sequence[Path]) -> Loaded:
    """Import the modules under ``paths`` (folders or files) and serialize their entities.

    Raises:
        UserCodeError: a module does not import (naming file and line).
        RegistrationFailed: the paths belong to different project roots.
    """
    resolved = [path.resolve() for path in paths]
    roots = {find_project_root(path) for path in resolved}
    if len(roots) > 1:
        listed = ", ".join(str(root) for root in sorted(roots))
        raise RegistrationFailed(f"the folders belong to different project roots: {listed}")
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


@dataclass(frozen=True)
class Build:
    """A project ready to register or package: its specs, source bundle and version."""

    loaded: Loaded
    plan: Plan
    source: SourceBundle | None
    version: str
    version_computed: bool
    """True when ``version`` is the digest of the source and the specs (none was given)."""


def build(
    paths: Sequence[Path],
    *,
    copy: CopyMode = CopyMode.AUTO,
    image: str | None = None,
    version: str | None = None,
) -> Build:
    """Load the project under ``paths``, bundle its source and settle its version.

    ``copy`` says which files the bundle holds (``NONE``: no bundle; tasks then
    carry no code bundle); ``image`` is set on the tasks that set none;
    ``version`` defaults to a digest of the bundle and the specs.

    Raises:
        UserCodeError: a module does not import (naming file and line).
        BundleError: the source can't be bundled.
        RegistrationFailed: no entity in ``paths``, paths of different project
            roots, or a version the registry would refuse.
    """
    if version is not None:
        check_version(version)
    loaded = load_project(paths)
    plan = with_image(loaded.plan, image)
    if plan.count == 0:
        listed = ", ".join(map(str, paths))
        raise RegistrationFailed(f"no task, workflow or launch plan found in {listed}")
    source = None
    if copy is not CopyMode.NONE:
        source = build_source_bundle(
            loaded.root, select_files(loaded.root, copy, loaded.module_files)
        )
    computed = version is None
    if version is None:
        version = compute_version(source.digest if source else None, plan.specs())
    return Build(loaded, plan, source, version, computed)


def source_of(content: bytes) -> SourceBundle:
    """A source bundle read back from its bytes (a package archive's)."""
    return SourceBundle(content=content, digest=hashlib.sha256(content).hexdigest(), files=())


# --- spec documents ---------------------------------------------------------------------------

_SPEC_MODELS: dict[str, type[TaskSpec] | type[WorkflowSpec] | type[LaunchPlanSpec]] = {
    "task": TaskSpec,
    "workflow": WorkflowSpec,
    "launch_plan": LaunchPlanSpec,
    "launchplan": LaunchPlanSpec,
}


def read_spec_documents(path: Path) -> list[AnySpec]:
    """The specs of a JSON or YAML file of ``{kind, spec}`` documents.

    A file holds one document, a list of them, or (YAML) several ``---``
    documents. Read with ``shared.documents``: no YAML aliases, no key given
    twice.

    Raises:
        RegistrationFailed: naming the file, and the line and column of a syntax
            error, the key given twice, or the field of a spec that is not valid.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RegistrationFailed(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        if path.suffix.lower() == ".json":
            loaded = unique_keys(parse_json(text))
            documents: list[Any] = loaded if isinstance(loaded, list) else [loaded]
        else:
            documents = [unique_keys(document) for document in parse_yaml_stream(text)]
            if len(documents) == 1 and isinstance(documents[0], list):
                documents = documents[0]
    except DocumentError as exc:
        raise RegistrationFailed(f"{path}: {exc}") from exc
    specs: list[AnySpec] = []
    for index, document in enumerate(documents):
        where = f"{path} (document {index + 1})" if len(documents) > 1 else str(path)
        if not isinstance(document, dict) or "kind" not in document or "spec" not in document:
            raise RegistrationFailed(f"{where}: expected a mapping with kind and spec")
        kind = str(document["kind"]).lower().replace("-", "_")
        model = _SPEC_MODELS.get(kind)
        if model is None:
            raise RegistrationFailed(
                f"{where}: unknown kind {document['kind']!r} (task, workflow or launch_plan)"
            )
        try:
            specs.append(model.model_validate(document["spec"]))
        except ValidationError as exc:
            first = exc.errors()[0]
            field_path = ".".join(str(part) for part in first.get("loc", ()))
            raise RegistrationFailed(
                f"{where}: not a valid {kind} spec: spec.{field_path}: {first.get('msg', '')}"
            ) from exc
    return specs


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


@dataclass(frozen=True)
class RegisteredPlan:
    """What ``register`` did: every entity's outcome, in the order they were registered."""

    plan: Plan
    version: str
    bundle_uri: str | None
    outcomes: list[Outcome]

    @property
    def failed(self) -> list[Outcome]:
        """The entities the cluster refused."""
        return [outcome for outcome in self.outcomes if outcome.error is not None]

    @property
    def ok(self) -> bool:
        """Whether every entity of the plan is registered."""
        return not self.failed

    @property
    def created(self) -> int:
        """How many entities were new."""
        return sum(1 for outcome in self.outcomes if outcome.created)

    def first_failure(self) -> RegistrationFailed:
        """The error to raise for a registration that is not ``ok``, naming what failed."""
        for outcome in self.failed:
            assert outcome.error is not None
            error = RegistrationFailed(
                f"registering {outcome.resource_type.value.lower()} {outcome.name} "
                f"(version {self.version}) failed: {outcome.error.message}"
            )
            error.__cause__ = outcome.error
            return error
        return RegistrationFailed(f"registration failed (version {self.version})")


def register(
    remote: Remote,
    plan: Plan,
    *,
    project: str,
    domain: str,
    version: str,
    source: SourceBundle | None = None,
    on_upload: Callable[[Upload], None] | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> RegisteredPlan:
    """Upload ``source`` (if any), point the Python tasks at it and register ``plan``.

    Registration stops before the next kind of entity once one fails; the
    answer says what happened to each (an entity the cluster refused is an
    ``Outcome`` with its ``error``, not an exception). ``on_upload`` hears
    where the bundle went, ``on_outcome`` each entity as it is done.

    Raises:
        RemoteError: the cluster can't be reached, or refused the upload.
    """
    uri = None
    if source is not None:
        upload = remote.upload(project, domain, source.content)
        if on_upload is not None:
            on_upload(upload)
        uri = upload.uri
        plan = with_bundle(plan, uri)
    registrar = Registrar(remote, project, domain, version, on_outcome or (lambda outcome: None))
    registrar.register_plan(plan)
    return RegisteredPlan(plan, version, uri, registrar.outcomes)

"""Registering tasks, workflows and launch plans.

Each registration is one transaction that stores the entity (creating its
project when needed) and writes its events to the outbox. An identical spec
under a registered identifier changes nothing; a different one is a conflict
that says what differs. Workflows are compiled against what they reference
before anything is written, so a failure stores nothing.

A launch plan's notification secrets (webhook URLs, routing keys) are stored
sealed (``shared.sealing``): its stored spec and digest hold only ciphertext.
Re-registering the same plaintext is still "unchanged" (the stored spec is
opened and compared), and a conflict shows secrets as ``****``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from services.registry.adapters.entities import NewEntity, StoredEntity, UnstorableText
from services.registry.domain.compiler import compile_workflow, direct_references
from services.registry.domain.diff import spec_differences
from services.registry.domain.errors import CompilationFailed, CompileError
from services.registry.domain.launch_plans import check_launch_plan
from services.registry.service_layer import audit_log
from services.registry.service_layer.errors import (
    CompileRejected,
    Conflict,
    InvalidRequest,
    NotFound,
)
from services.registry.service_layer.events import registered
from services.registry.service_layer.projects import check_domain, ensure_project
from services.registry.service_layer.unit_of_work import RegistryUnitOfWork, RegistryUoWFactory
from shared.identifiers import Identifier, ResourceType
from shared.sealing import (
    SealingError,
    SecretBox,
    has_secrets,
    mask_launch_plan,
    mask_values,
    open_launch_plan,
    seal_launch_plan,
    secret_values,
)
from shared.specs import (
    LaunchPlanSpec,
    TaskSpec,
    WorkflowClosure,
    WorkflowSpec,
    canonical_json,
)


@dataclass(frozen=True)
class Registration:
    """The outcome: ``created`` is False when an identical spec was registered already."""

    identifier: Identifier
    digest: str
    created: bool


@dataclass(frozen=True)
class _Submitted:
    identifier: Identifier
    spec: BaseModel
    spec_bytes: bytes
    digest: str
    # A launch plan whose secrets are sealed in ``spec_bytes``: its plaintext, to compare.
    plain: LaunchPlanSpec | None = None
    box: SecretBox | None = None

    @classmethod
    def of(
        cls, identifier: Identifier, spec: TaskSpec | WorkflowSpec | LaunchPlanSpec
    ) -> _Submitted:
        if spec.name != identifier.name:
            message = f"the spec's name {spec.name!r} is not the identifier's {identifier.name!r}"
            raise InvalidRequest(message, [{"field": "spec.name", "message": message}])
        spec_bytes = canonical_json(spec)
        return cls(identifier, spec, spec_bytes, hashlib.sha256(spec_bytes).hexdigest())


async def register_task(
    uow_factory: RegistryUoWFactory, identifier: Identifier, spec: TaskSpec
) -> Registration:
    submitted = _Submitted.of(identifier, spec)
    async with uow_factory(atomic=False) as uow:
        if (outcome := await _already_registered(uow, submitted)) is not None:
            return outcome
    return await _store(
        uow_factory, submitted, NewEntity(identifier, submitted.digest, submitted.spec_bytes)
    )


async def register_workflow(
    uow_factory: RegistryUoWFactory, identifier: Identifier, spec: WorkflowSpec
) -> Registration:
    """Compile ``spec`` against the tasks and workflows it references, then store both."""
    submitted = _Submitted.of(identifier, spec)
    async with uow_factory(atomic=False) as uow:
        if (outcome := await _already_registered(uow, submitted)) is not None:
            return outcome
        task_ids, workflow_ids = direct_references(
            spec, identifier.project, identifier.domain, identifier.version
        )
        entities = uow.entities
        task_specs = await entities.task_specs(task_ids)
        closures = await entities.workflow_closures(workflow_ids)
    tasks = {ref: TaskSpec.model_validate_json(raw) for ref, raw in task_specs.items()}
    sub_workflows = {ref: WorkflowClosure.model_validate_json(raw) for ref, raw in closures.items()}
    try:
        closure = compile_workflow(identifier, spec, tasks, sub_workflows)
    except CompilationFailed as exc:
        raise _rejected(str(exc), exc.errors) from exc
    entity = NewEntity(
        identifier, submitted.digest, submitted.spec_bytes, closure_bytes=canonical_json(closure)
    )
    return await _store(uow_factory, submitted, entity)


async def register_launch_plan(
    uow_factory: RegistryUoWFactory,
    identifier: Identifier,
    spec: LaunchPlanSpec,
    box: SecretBox | None = None,
) -> Registration:
    """Check ``spec`` against its (registered) workflow's interface, then store it, inactive,
    its notification secrets sealed with ``box``.

    Raises:
        InvalidRequest: the spec has secrets and there is no ``box``, or it carries a sealed
            value that ``box`` does not open.
    """
    spec = _opened(spec, box)
    submitted = _Submitted.of(identifier, spec)
    if has_secrets(spec):
        if box is None:
            message = (
                "this launch plan's notifications carry secrets (webhook URLs, routing keys) "
                "and the registry has no CONTRAIL_SECRETS_KEY to store them sealed"
            )
            raise InvalidRequest(message, [{"field": "spec.notifications", "message": message}])
        sealed = seal_launch_plan(spec, box)
        spec_bytes = canonical_json(sealed)
        submitted = _Submitted(
            identifier, sealed, spec_bytes, hashlib.sha256(spec_bytes).hexdigest(), spec, box
        )
    if spec.workflow.resource_type is not ResourceType.WORKFLOW:
        message = f"a launch plan launches a workflow, not a {spec.workflow.resource_type.value}"
        raise InvalidRequest(
            message, [{"field": "spec.workflow.resource_type", "message": message}]
        )
    workflow_id = spec.workflow.resolve(identifier.project, identifier.domain, identifier.version)
    async with uow_factory(atomic=False) as uow:
        if (outcome := await _already_registered(uow, submitted)) is not None:
            return outcome
        workflow = await uow.entities.get(workflow_id, closure=False)
    if workflow is None:
        raise NotFound(
            f"workflow {workflow_id.urn} is not registered; register it before its launch plans",
            [{"field": "spec.workflow", "identifier": workflow_id.model_dump(mode="json")}],
        )
    assert workflow.spec_bytes is not None
    errors = check_launch_plan(spec, WorkflowSpec.model_validate_json(workflow.spec_bytes))
    if errors:
        raise _rejected(f"launch plan {identifier.name!r} does not fit its workflow", errors)
    entity = NewEntity(identifier, submitted.digest, submitted.spec_bytes, workflow_id=workflow.id)
    return await _store(uow_factory, submitted, entity)


def _opened(spec: LaunchPlanSpec, box: SecretBox | None) -> LaunchPlanSpec:
    """``spec`` with any sealed value it was sent with (a spec read back from the API) opened."""
    try:
        return open_launch_plan(spec, box)
    except SealingError as exc:
        message = f"{exc}: send the notification's plaintext"
        raise InvalidRequest(
            message, [{"field": "spec.notifications", "message": message}]
        ) from None


def _rejected(message: str, errors: list[CompileError]) -> CompileRejected:
    return CompileRejected(message, [error.as_dict() for error in errors])


async def _already_registered(
    uow: RegistryUnitOfWork, submitted: _Submitted
) -> Registration | None:
    """The outcome when the identifier is taken (or its domain refused), else None."""
    identifier = submitted.identifier
    existing = await uow.entities.get(identifier, closure=False)
    if existing is not None:
        return _same_or_conflict(existing, submitted)
    project = await uow.projects.get(identifier.project)
    if project is not None:
        check_domain(project, identifier.domain)
    return None


def _same_or_conflict(existing: StoredEntity, submitted: _Submitted) -> Registration:
    if existing.digest == submitted.digest:
        return Registration(existing.identifier, existing.digest, created=False)
    assert existing.spec_bytes is not None
    registered_spec: dict[str, Any] = json.loads(existing.spec_bytes)
    submitted_spec: dict[str, Any] = submitted.spec.model_dump(mode="json")
    if existing.identifier.resource_type is ResourceType.LAUNCH_PLAN:
        registered_plan = LaunchPlanSpec.model_validate(registered_spec)
        plain = submitted.plain or LaunchPlanSpec.model_validate(submitted_spec)
        try:
            registered_plain = open_launch_plan(registered_plan, submitted.box)
        except SealingError:
            registered_plain = None  # sealed under a key no longer given: not the same
        if registered_plain is not None and canonical_json(registered_plain) == canonical_json(
            plain
        ):
            return Registration(existing.identifier, existing.digest, created=False)
        # The differences name the secrets that changed, never their values.
        compared = registered_plain or mask_launch_plan(registered_plan)
        secrets = secret_values(compared) | secret_values(plain)
        differences = mask_values(
            spec_differences(compared.model_dump(mode="json"), plain.model_dump(mode="json")),
            secrets,
        )
    else:
        differences = spec_differences(registered_spec, submitted_spec)
    kind = existing.identifier.resource_type.value.replace("_", " ")
    raise Conflict(
        f"{kind} {existing.identifier.urn} is registered with a different spec "
        f"(digest {existing.digest}); register the change under a new version",
        differences,
    )


async def _store(
    uow_factory: RegistryUoWFactory, submitted: _Submitted, entity: NewEntity
) -> Registration:
    identifier = submitted.identifier
    async with uow_factory() as uow:
        await ensure_project(uow, identifier.project, identifier.domain)
        try:
            stored = await uow.entities.insert(entity)
        except UnstorableText as exc:
            message = str(exc)
            raise InvalidRequest(message, [{"field": "spec", "message": message}]) from exc
        if stored is None:
            # Registered concurrently since we looked: the same rules apply.
            existing = await uow.entities.get(identifier, closure=False)
            assert existing is not None
            return _same_or_conflict(existing, submitted)
        await uow.outbox.add(
            [
                registered(identifier, submitted.digest),
                audit_log.registered(identifier, submitted.digest),
            ]
        )
        await uow.commit()
    return Registration(identifier, submitted.digest, created=True)

"""Specs of tasks, workflows and launch plans, and the compiled closure.

These are the JSON documents the SDK serializes, the registry compiles and
stores, and the launcher runs. Everything registered is immutable; its digest
is the sha256 of its canonical JSON (``canonical_json``), so the same spec
always gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from shared.events.catalogue import Resources
from shared.identifiers import Identifier, ResourceType
from shared.literals import LiteralType
from shared.phases import ExecutionPhase

ENTITY_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]{0,254}$"
VERSION_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$"
NODE_ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_\-]{0,62}$"
VAR_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def canonical_json(model: BaseModel) -> bytes:
    """The one serialization of a spec: sorted keys, no whitespace, no defaults dropped."""
    return json.dumps(
        model.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


def digest(model: BaseModel) -> str:
    """sha256 of the canonical JSON, hex."""
    return hashlib.sha256(canonical_json(model)).hexdigest()


# --- interface ----------------------------------------------------------------


class Parameter(_Spec):
    """An input: its type, and its default (a literal) when it has one."""

    type: LiteralType
    description: str = ""
    default: Any = None
    required: bool = True


class Variable(_Spec):
    """An output."""

    type: LiteralType
    description: str = ""


class TypedInterface(_Spec):
    """Inputs and outputs, by name, in declaration order."""

    inputs: dict[Annotated[str, Field(pattern=VAR_PATTERN)], Parameter] = {}
    outputs: dict[Annotated[str, Field(pattern=VAR_PATTERN)], Variable] = {}


# --- references -----------------------------------------------------------------


class EntityRef(_Spec):
    """A reference from one spec to another registered entity.

    Project, domain and version default to those of the referring entity when
    absent (the registry fills them in at registration).
    """

    resource_type: ResourceType
    name: str = Field(pattern=ENTITY_NAME_PATTERN)
    project: str | None = None
    domain: str | None = None
    version: str | None = Field(default=None, pattern=VERSION_PATTERN)

    def resolve(self, project: str, domain: str, version: str) -> Identifier:
        return Identifier(
            resource_type=self.resource_type,
            project=self.project or project,
            domain=self.domain or domain,
            name=self.name,
            version=self.version or version,
        )


# --- tasks --------------------------------------------------------------------


class CodeLocation(_Spec):
    """Where a Python task's function lives: a module of the code bundle."""

    module: str
    function: str
    bundle: str | None = Field(
        default=None,
        description="s3:// URI of the source tarball (set at registration), digest-addressed.",
    )


MAX_RETRIES = 100
"""The most retries a task or node may ask for (a bound, so a number is a number of attempts)."""


class TaskSpec(_Spec):
    name: str = Field(pattern=ENTITY_NAME_PATTERN)
    interface: TypedInterface
    image: str | None = None
    code: CodeLocation | None = None
    command: list[str] = Field(
        default_factory=list, description="For non-Python tasks: the container command."
    )
    resources: Resources = Resources()
    retries: int = Field(default=0, ge=0, le=MAX_RETRIES)
    timeout_seconds: float | None = Field(default=None, gt=0)
    cache: bool = False
    cache_version: str = ""
    environment: dict[str, str] = {}
    description: str = ""


# --- workflows ----------------------------------------------------------------


class InputBinding(_Spec):
    """The value of a workflow input."""

    kind: Literal["input"] = "input"
    input: str


class OutputBinding(_Spec):
    """An output of an upstream node."""

    kind: Literal["output"] = "output"
    node: str
    output: str


class LiteralBinding(_Spec):
    """A constant."""

    kind: Literal["literal"] = "literal"
    value: Any


class ListBinding(_Spec):
    """A list whose items are bindings (promises gathered into a list)."""

    kind: Literal["list"] = "list"
    items: list[Binding]


class DictBinding(_Spec):
    kind: Literal["dict"] = "dict"
    items: dict[str, Binding]


Binding = Annotated[
    InputBinding | OutputBinding | LiteralBinding | ListBinding | DictBinding,
    Field(discriminator="kind"),
]


class ComparisonOp(StrEnum):
    EQ = "=="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="


class Comparison(_Spec):
    kind: Literal["comparison"] = "comparison"
    left: Binding
    op: ComparisonOp
    right: Binding


class Conjunction(_Spec):
    kind: Literal["and", "or"]
    left: Condition
    right: Condition


class Negation(_Spec):
    kind: Literal["not"] = "not"
    operand: Condition


Condition = Annotated[Comparison | Conjunction | Negation, Field(discriminator="kind")]


class NodeKind(StrEnum):
    TASK = "task"
    WORKFLOW = "workflow"
    BRANCH = "branch"
    MAP = "map"


class BranchCase(_Spec):
    condition: Condition
    then: Node


class Branch(_Spec):
    """``conditional(...).if_(...).then(...).elif_(...).else_()``: the first true case runs."""

    cases: list[BranchCase] = Field(min_length=1)
    otherwise: Node | None = None
    fail_message: str | None = Field(
        default=None, description="With no otherwise: fail with this message when no case holds."
    )


class MapSpec(_Spec):
    """Run ``task`` once per item of its list-typed inputs."""

    task: EntityRef
    concurrency: PositiveInt | None = None
    min_success_ratio: float = Field(default=1.0, ge=0.0, le=1.0)


class Node(_Spec):
    id: str = Field(pattern=NODE_ID_PATTERN)
    kind: NodeKind
    inputs: dict[str, Binding] = {}
    upstream: list[str] = Field(
        default_factory=list, description="Explicit dependencies besides those of the bindings."
    )
    task: EntityRef | None = None
    workflow: EntityRef | None = None
    branch: Branch | None = None
    map: MapSpec | None = None
    retries: int | None = Field(
        default=None, ge=0, le=MAX_RETRIES, description="Overrides the task's."
    )
    timeout_seconds: float | None = Field(default=None, gt=0)


class FailurePolicy(StrEnum):
    FAIL_IMMEDIATELY = "fail_immediately"
    FAIL_AFTER_EXECUTABLE_NODES_COMPLETE = "fail_after_executable_nodes_complete"


class WorkflowSpec(_Spec):
    name: str = Field(pattern=ENTITY_NAME_PATTERN)
    interface: TypedInterface
    nodes: list[Node]
    outputs: dict[str, Binding] = {}
    failure_policy: FailurePolicy = FailurePolicy.FAIL_IMMEDIATELY
    description: str = ""


# --- launch plans ---------------------------------------------------------------


class ChannelKind(StrEnum):
    EMAIL = "email"
    SLACK = "slack"
    TEAMS = "teams"
    PAGERDUTY = "pagerduty"
    WEBHOOK = "webhook"


class Notification(_Spec):
    """Tell ``recipients`` through ``channel`` when an execution reaches one of ``phases``.

    ``recipients`` are email addresses, Slack/Teams webhook URLs or channel
    names, PagerDuty routing keys, or webhook URLs, by channel.
    """

    phases: list[ExecutionPhase] = Field(min_length=1)
    channel: ChannelKind
    recipients: list[str] = Field(min_length=1)
    template: str | None = None


class Schedule(_Spec):
    cron: str = Field(min_length=1, description="Five-field cron expression, in UTC.")
    kickoff_time_input: str | None = Field(
        default=None, description="The datetime input that receives the scheduled time."
    )


class LaunchPlanSpec(_Spec):
    name: str = Field(pattern=ENTITY_NAME_PATTERN)
    workflow: EntityRef
    default_inputs: dict[str, Any] = {}
    fixed_inputs: dict[str, Any] = {}
    schedule: Schedule | None = None
    notifications: list[Notification] = []
    labels: dict[str, str] = {}
    max_parallelism: PositiveInt | None = None


# --- compiled ---------------------------------------------------------------------


class CompiledWorkflow(_Spec):
    """A workflow with its references resolved and its nodes in topological order."""

    identifier: Identifier
    spec: WorkflowSpec
    order: list[str] = Field(description="Node ids, each after every node it depends on.")
    upstream: dict[str, list[str]] = Field(description="Node id -> the node ids it waits for.")


class CompiledTask(_Spec):
    identifier: Identifier
    spec: TaskSpec


class WorkflowClosure(_Spec):
    """Everything needed to run a workflow: itself, its sub-workflows and its tasks.

    ``sub_workflows`` and ``tasks`` are in topological order: each comes after
    what it references.
    """

    primary: CompiledWorkflow
    sub_workflows: list[CompiledWorkflow] = []
    tasks: list[CompiledTask] = []


for _model in (ListBinding, DictBinding, Conjunction, Negation, BranchCase, Branch, Node):
    _model.model_rebuild()

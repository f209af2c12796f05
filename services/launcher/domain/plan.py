"""The static shape of a closure, indexed for the engine.

A ``Plan`` answers, in constant time per signal, what the closure says about a
node path: its spec node, the workflow it belongs to (whose inputs and nodes its
bindings name), its task, the nodes downstream of it, and the nodes whose
outputs it binds. It depends on the closure only, so it is built once per
closure object and shared by every state that holds that closure.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from threading import Lock

from services.launcher.domain import paths
from services.launcher.domain.bindings import data_upstream, node_bindings
from shared.identifiers import Identifier
from shared.specs import CompiledTask, CompiledWorkflow, Node, NodeKind, WorkflowClosure


class UnknownNode(KeyError):
    """A node path that does not name a node of the closure."""


@dataclass(frozen=True)
class WorkflowPlan:
    """One workflow of the closure: its top-level nodes and how they connect."""

    compiled: CompiledWorkflow
    nodes: dict[str, Node]
    """Top-level nodes by id."""
    downstream: dict[str, tuple[str, ...]]
    """Node id -> the top-level nodes that wait for it, in topological order."""
    binds: dict[str, frozenset[str]]
    """Node id -> the top-level nodes whose outputs it (or, for a branch, any case) binds."""
    inner: dict[str, dict[str, Node]]
    """Branch node id -> the nodes its cases and otherwise run, by id."""

    @staticmethod
    def of(compiled: CompiledWorkflow) -> WorkflowPlan:
        nodes = {node.id: node for node in compiled.spec.nodes}
        position = {node_id: i for i, node_id in enumerate(compiled.order)}
        downstream: dict[str, list[str]] = {node_id: [] for node_id in nodes}
        for node_id, upstream in compiled.upstream.items():
            for up in upstream:
                downstream[up].append(node_id)
        inner: dict[str, dict[str, Node]] = {}
        for node in nodes.values():
            _collect_branches(node, inner)
        return WorkflowPlan(
            compiled=compiled,
            nodes=nodes,
            downstream={
                node_id: tuple(sorted(ids, key=position.__getitem__))
                for node_id, ids in downstream.items()
            },
            binds={node_id: data_upstream(node_bindings(node)) for node_id, node in nodes.items()},
            inner=inner,
        )


def _collect_branches(node: Node, inner: dict[str, dict[str, Node]]) -> None:
    if node.branch is None:
        return
    arms = [case.then for case in node.branch.cases]
    if node.branch.otherwise is not None:
        arms.append(node.branch.otherwise)
    inner[node.id] = {arm.id: arm for arm in arms}
    for arm in arms:
        _collect_branches(arm, inner)


@dataclass(frozen=True)
class NodeInfo:
    """What the closure says about one node path (map items share their map's info)."""

    node: Node
    scope: str
    """The path of the sub-workflow node whose workflow this node belongs to (root: "")."""
    workflow: WorkflowPlan
    """That workflow: its inputs and nodes are what this node's bindings name."""
    top_level: bool
    """Whether it is a node of ``workflow``'s graph (not one run by a branch)."""
    task: CompiledTask | None = None
    """The task of a task or map node."""
    sub_workflow: WorkflowPlan | None = None
    """The workflow of a sub-workflow node."""


@dataclass
class Plan:
    """The indexes of one closure."""

    closure: WorkflowClosure
    primary: WorkflowPlan = field(init=False)
    workflows: dict[Identifier, WorkflowPlan] = field(init=False)
    tasks: dict[Identifier, CompiledTask] = field(init=False)
    _infos: dict[str, NodeInfo] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.primary = WorkflowPlan.of(self.closure.primary)
        self.workflows = {wf.identifier: WorkflowPlan.of(wf) for wf in self.closure.sub_workflows}
        self.tasks = {task.identifier: task for task in self.closure.tasks}

    def info(self, path: str) -> NodeInfo:
        """What node ``path`` runs; raises ``UnknownNode`` if it names none."""
        base, _ = paths.split_item(path)
        found = self._infos.get(base)
        if found is None:
            found = self._infos[base] = self._resolve(base)
        return found

    def _resolve(self, path: str) -> NodeInfo:
        segments = path.split("/")
        workflow, scope = self.primary, paths.ROOT
        node = workflow.nodes.get(segments[0])
        if node is None or "[" in path:
            raise UnknownNode(path)
        top_level, walked = True, segments[0]
        for segment in segments[1:]:
            if node.kind is NodeKind.WORKFLOW:
                workflow, scope = self._sub_workflow(node, workflow), walked
                found = workflow.nodes.get(segment)
                top_level = True
            elif node.kind is NodeKind.BRANCH:
                found = workflow.inner.get(node.id, {}).get(segment)
                top_level = False
            else:
                found = None
            if found is None:
                raise UnknownNode(path)
            node, walked = found, f"{walked}/{segment}"
        return NodeInfo(
            node=node,
            scope=scope,
            workflow=workflow,
            top_level=top_level,
            task=self._task(node, workflow),
            sub_workflow=(
                self._sub_workflow(node, workflow) if node.kind is NodeKind.WORKFLOW else None
            ),
        )

    def _task(self, node: Node, workflow: WorkflowPlan) -> CompiledTask | None:
        ref = node.task if node.kind is NodeKind.TASK else node.map.task if node.map else None
        if ref is None:
            return None
        at = workflow.compiled.identifier
        return self.tasks[ref.resolve(at.project, at.domain, at.version)]

    def _sub_workflow(self, node: Node, workflow: WorkflowPlan) -> WorkflowPlan:
        assert node.workflow is not None
        at = workflow.compiled.identifier
        return self.workflows[node.workflow.resolve(at.project, at.domain, at.version)]


_PLANS: OrderedDict[int, Plan] = OrderedDict()
_PLANS_LOCK = Lock()
_MAX_PLANS = 512


def plan_of(closure: WorkflowClosure) -> Plan:
    """The plan of ``closure``, built on first use and kept for the most recent closures.

    Keyed by the closure object (states derived from one another share it); the
    plan holds the closure, so a cached id always names a live object.
    """
    key = id(closure)
    with _PLANS_LOCK:
        found = _PLANS.get(key)
        if found is not None and found.closure is closure:
            _PLANS.move_to_end(key)
            return found
    built = Plan(closure)
    with _PLANS_LOCK:
        _PLANS[key] = built
        _PLANS.move_to_end(key)
        while len(_PLANS) > _MAX_PLANS:
            _PLANS.popitem(last=False)
    return built

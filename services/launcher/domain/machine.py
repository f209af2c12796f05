"""The execution state machine: ``decide(state, signal, now) -> Decision(state, commands)``.

Pure and deterministic: no I/O, no clock (``now`` is passed in), no randomness.
The same state and signal always give the same decision, and a signal that no
longer applies (a duplicate, a report about a superseded attempt) gives the
same state back with no commands, so redelivery is harmless.

How an execution runs (``docs/engine.md`` is the long version):

- ``create_execution`` makes the QUEUED state and its event (seq 0); ``Start``
  makes it RUNNING and starts every node that waits for nothing.
- A node starts when every node it waits for is SUCCEEDED or SKIPPED; it is
  SKIPPED instead if it binds an output of a skipped node.
- Task nodes (and map items) are QUEUED, look the cache up when their task
  caches, then get attempts; the node is RUNNING once a worker runs one.
  ``retries`` decides what a failed attempt leads to.
- Sub-workflow nodes run their workflow's nodes under their own path; branch
  nodes run the node of the first case that holds; map nodes run one item per
  element of their list inputs, ``concurrency`` at a time.
- A failure under FAIL_IMMEDIATELY stops the workflow it happened in: nothing
  new starts there, running attempts are terminated, and it fails once none
  runs. ``Abort`` stops the whole execution the same way and ends it ABORTED.

Work inside one decision goes through a FIFO queue (start this node, check
whether that workflow is done), so that long chains of nodes finishing at once
(skips, recoveries) need no recursion and events come out in causal order.
Each container counts its active children, and each waiting node counts its
unfinished upstream nodes, so a signal costs time in proportion to the nodes it
affects, not to the size of the execution.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.launcher.domain import paths, retries
from services.launcher.domain.bindings import (
    BindingError,
    SkippedUpstream,
    resolve,
    resolve_all,
    with_defaults,
)
from services.launcher.domain.cache import cache_key
from services.launcher.domain.commands import (
    Command,
    Dispatch,
    Emit,
    Finished,
    LookupCache,
    PhaseEvent,
    StoreCache,
    Terminate,
)
from services.launcher.domain.conditions import ConditionError, Operand, evaluate
from services.launcher.domain.plan import NodeInfo, Plan, UnknownNode, WorkflowPlan, plan_of
from services.launcher.domain.signals import (
    Abort,
    AttemptAborted,
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    AttemptTimedOut,
    CacheResult,
    Signal,
    Start,
    WorkerLost,
)
from services.launcher.domain.state import (
    AttemptState,
    ExecutionState,
    Literals,
    MapProgress,
    NodeState,
    StopReason,
)
from shared.events.catalogue import (
    ErrorKind,
    ExecutionError,
    ExecutionPhaseChanged,
    NodePhaseChanged,
    ResourceUsage,
    TaskAttemptPhaseChanged,
    Trigger,
)
from shared.identifiers import ExecutionIdentifier, Identifier
from shared.literals import LiteralType
from shared.phases import ExecutionPhase, NodePhase, TaskAttemptPhase
from shared.specs import (
    Binding,
    FailurePolicy,
    InputBinding,
    NodeKind,
    OutputBinding,
    WorkflowClosure,
)

ROOT = paths.ROOT

BINDING_FAILED = "BindingFailed"
CONDITION_FAILED = "ConditionFailed"
BRANCH_FAILED = "BranchFailed"
MAP_INPUTS_MISMATCH = "MapInputsMismatch"
MAP_FAILED = "MapFailed"
SKIPPED_OUTPUT = "SkippedOutput"
STALLED = "Stalled"

_SUCCESS = (NodePhase.SUCCEEDED, NodePhase.SKIPPED)
_FAILURE = (NodePhase.FAILED, NodePhase.TIMED_OUT)


@dataclass(frozen=True)
class MachineSettings:
    """The engine's own limits (from the launcher's settings)."""

    system_retries: int = 3
    """Retries of an attempt that failed for a system reason (a lost worker, say)."""


DEFAULT_SETTINGS = MachineSettings()


@dataclass(frozen=True)
class Decision:
    """The next state of an execution and what to do about it.

    ``commands`` are in causal order. ``changed_nodes`` names the node paths
    whose state changed, for adapters that store node states as rows of their own.
    A signal that changed nothing gives back the very same ``state`` object.
    """

    state: ExecutionState
    commands: list[Command]
    changed_nodes: frozenset[str] = frozenset()

    @property
    def events(self) -> list[PhaseEvent]:
        """The public events among ``commands``."""
        return [command.event for command in self.commands if isinstance(command, Emit)]


def create_execution(
    execution: ExecutionIdentifier,
    closure: WorkflowClosure,
    inputs: Literals,
    now: datetime,
    launch_plan: Identifier | None = None,
    *,
    labels: Mapping[str, str] | None = None,
    trigger: Trigger | None = None,
) -> Decision:
    """A new execution, QUEUED, with its first event (seq 0).

    ``inputs`` are the execution's validated inputs (defaults filled in);
    ``labels`` and ``trigger`` (a user, by default) ride on its events. The
    engine runs it once it is given ``Start``.
    """
    state = ExecutionState(
        execution=execution,
        workflow=closure.primary.identifier,
        launch_plan=launch_plan,
        closure=closure,
        inputs=inputs,
        labels=dict(labels or {}),
        trigger=trigger or Trigger(),
        phase=ExecutionPhase.QUEUED,
        next_seq=1,
        created_at=now,
        updated_at=now,
    )
    event = execution_event(state, 0, ExecutionPhase.QUEUED)
    return Decision(state, [Emit(event=event, time=now)])


def execution_event(
    state: ExecutionState,
    seq: int,
    phase: ExecutionPhase,
    *,
    started_at: datetime | None = None,
    ended_at: datetime | None = None,
    error: ExecutionError | None = None,
) -> ExecutionPhaseChanged:
    """The event of ``state``'s execution entering ``phase``, with what it is and its times."""
    duration = None
    if ended_at is not None and started_at is not None:
        duration = max((ended_at - started_at).total_seconds(), 0.0)
    return ExecutionPhaseChanged(
        execution=state.execution,
        workflow=state.workflow,
        launch_plan=state.launch_plan,
        labels=state.labels,
        seq=seq,
        phase=phase,
        error=error,
        trigger=state.trigger,
        queued_at=state.created_at,
        started_at=started_at,
        ended_at=ended_at,
        duration_seconds=duration,
    )


def decide(
    state: ExecutionState,
    signal: Signal,
    now: datetime,
    settings: MachineSettings = DEFAULT_SETTINGS,
) -> Decision:
    """The decision that ``signal``, arriving at ``now``, leads to from ``state``."""
    if state.phase.is_terminal:
        return Decision(state, [])
    run = _Run(state, now, settings)
    match signal:
        case Start():
            run.start(signal)
        case Abort():
            run.abort(signal)
        case AttemptStarted():
            run.attempt_started(signal)
        case AttemptSucceeded():
            run.attempt_succeeded(signal)
        case AttemptFailed():
            run.attempt_failed(signal.node_path, signal.attempt, signal, signal.usage)
        case AttemptTimedOut():
            run.attempt_failed(signal.node_path, signal.attempt, signal, signal.usage)
        case WorkerLost():
            run.attempt_failed(signal.node_path, signal.attempt, signal, None)
        case AttemptAborted():
            run.attempt_failed(signal.node_path, signal.attempt, signal, signal.usage)
        case CacheResult():
            run.cache_result(signal)
    run.drain()
    return run.decision()


class _Sources:
    """The values a scope's bindings name: its workflow's inputs and its nodes' outputs."""

    def __init__(self, run: _Run, scope: str, workflow: WorkflowPlan) -> None:
        self.run = run
        self.scope = scope
        self.workflow = workflow

    def input(self, name: str) -> Any:
        values = self.run.inputs if self.scope == ROOT else self.run.node(self.scope).inputs
        if values is not None and name in values:
            return values[name]
        param = self.workflow.compiled.spec.interface.inputs.get(name)
        if param is not None and (param.default is not None or not param.required):
            return param.default
        raise BindingError(f"workflow input '{name}' has no value")

    def output(self, node_id: str, name: str) -> Any:
        path = paths.child(self.scope, node_id)
        state = self.run.find(path)
        if state is not None and state.phase is NodePhase.SKIPPED:
            raise SkippedUpstream(node_id)
        if state is None or state.outputs is None or name not in state.outputs:
            raise BindingError(f"node {path} has no output '{name}'")
        return state.outputs[name]


class _Run:
    """One decision in the making: a copy-on-write view of the state, the commands so
    far, and the queue of work left."""

    def __init__(self, state: ExecutionState, now: datetime, settings: MachineSettings) -> None:
        self.state = state
        self.now = now
        self.settings = settings
        self.plan: Plan = plan_of(state.closure)
        self.nodes: dict[str, NodeState] = state.nodes
        self.copied = False
        self.changed: set[str] = set()
        self.commands: list[Command] = []
        self.queue: deque[tuple[str, str]] = deque()
        self.dirty = False
        self.seq = state.next_seq
        self.inputs = state.inputs
        self.phase = state.phase
        self.error = state.error
        self.outputs = state.outputs
        self.active = state.active
        self.stop = state.stop
        self.recovered = state.recovered
        self.started_at = state.started_at
        self.ended_at = state.ended_at

    # --- the result -----------------------------------------------------------------

    def decision(self) -> Decision:
        if not self.dirty:
            return Decision(self.state, [])
        state = self.state.model_copy(
            update={
                "phase": self.phase,
                "next_seq": self.seq,
                "started_at": self.started_at,
                "updated_at": self.now,
                "ended_at": self.ended_at,
                "error": self.error,
                "outputs": self.outputs,
                "nodes": self.nodes,
                "active": self.active,
                "stop": self.stop,
                "recovered": self.recovered,
            }
        )
        return Decision(state, self.commands, frozenset(self.changed))

    # --- reading and writing node states ------------------------------------------------

    def find(self, path: str) -> NodeState | None:
        return self.nodes.get(path)

    def node(self, path: str) -> NodeState:
        return self.nodes[path]

    def put(self, path: str, state: NodeState) -> NodeState:
        if not self.copied:
            self.nodes = dict(self.nodes)
            self.copied = True
        self.nodes[path] = state
        self.changed.add(path)
        self.dirty = True
        return state

    def update(self, path: str, **changes: Any) -> NodeState:
        return self.put(path, self.nodes[path].model_copy(update=changes))

    # --- events ---------------------------------------------------------------------------

    def emit(self, event: PhaseEvent) -> None:
        self.commands.append(Emit(event=event, time=self.now))
        self.seq += 1
        self.dirty = True

    def command(self, command: Command) -> None:
        self.commands.append(command)
        self.dirty = True

    def set_phase(self, phase: ExecutionPhase) -> None:
        if phase is self.phase:
            return
        self.phase = phase
        if phase.is_terminal:
            self.ended_at = self.now
        self.emit(
            execution_event(
                self.state,
                self.seq,
                phase,
                started_at=self.started_at,
                ended_at=self.ended_at,
                error=self.error,
            )
        )

    def set_node_phase(self, path: str, phase: NodePhase, **changes: Any) -> NodeState:
        """Move node ``path`` to ``phase`` (with ``changes``) and emit its event."""
        current = self.nodes[path]
        changes["phase"] = phase
        changes["updated_at"] = self.now
        if current.started_at is None:
            changes["started_at"] = self.now
        if phase.is_terminal:
            changes["ended_at"] = self.now
        state = self.update(path, **changes)
        self.emit(
            NodePhaseChanged(
                execution=self.state.execution,
                workflow=self.state.workflow,
                launch_plan=self.state.launch_plan,
                labels=self.state.labels,
                seq=self.seq,
                node_id=path,
                phase=phase,
                cache_hit=state.cache_hit,
                error=state.error,
            )
        )
        return state

    def set_attempt(self, path: str, attempt: AttemptState, **node_changes: Any) -> None:
        """Replace the current attempt of ``path`` with ``attempt`` and emit its event."""
        state = self.nodes[path]
        self.update(path, attempts=(*state.attempts[:-1], attempt), **node_changes)
        self.emit_attempt(path, attempt)

    def emit_attempt(self, path: str, attempt: AttemptState) -> None:
        task = self.plan.info(path).task
        assert task is not None
        self.emit(
            TaskAttemptPhaseChanged(
                execution=self.state.execution,
                workflow=self.state.workflow,
                launch_plan=self.state.launch_plan,
                labels=self.state.labels,
                seq=self.seq,
                node_id=path,
                task=task.identifier,
                attempt=attempt.attempt,
                phase=attempt.phase,
                worker_id=attempt.worker_id,
                error=attempt.error,
                resources_requested=task.spec.resources,
                resources_used=attempt.usage,
                log_uri=attempt.log_uri,
                queued_at=attempt.queued_at,
                started_at=attempt.started_at,
                ended_at=attempt.ended_at,
            )
        )

    # --- the queue --------------------------------------------------------------------------

    def drain(self) -> None:
        while self.queue:
            what, path = self.queue.popleft()
            if what == "start":
                self.start_node(path)
            else:
                self.check_scope(path)

    def reserve(self, container: str, delta: int = 1) -> None:
        """Count a child of ``container`` as active (or, with -1, no longer)."""
        if container == ROOT:
            self.active += delta
            self.dirty = True
        else:
            self.update(container, active=self.nodes[container].active + delta)

    # --- signals ------------------------------------------------------------------------------

    def start(self, signal: Start) -> None:
        if self.phase is not ExecutionPhase.QUEUED:
            return
        self.recovered = dict(signal.recovered)
        self.started_at = self.now
        self.set_phase(ExecutionPhase.RUNNING)
        self.open_scope(ROOT, self.plan.primary)

    def abort(self, signal: Abort) -> None:
        if self.phase not in (
            ExecutionPhase.QUEUED,
            ExecutionPhase.RUNNING,
            ExecutionPhase.FAILING,
        ):
            return
        self.error = ExecutionError(kind=ErrorKind.USER, code=retries.ABORTED, message=signal.cause)
        if self.phase is ExecutionPhase.QUEUED:
            self.stop = StopReason.ABORT
            self.set_phase(ExecutionPhase.ABORTED)
            self.command(Finished(phase=ExecutionPhase.ABORTED, error=self.error))
            return
        self.stop_scope(ROOT, StopReason.ABORT)

    def current_attempt(self, path: str, attempt: int) -> tuple[NodeState, AttemptState] | None:
        """The node and its attempt, if ``attempt`` is its current, unfinished one."""
        state = self.nodes.get(path)
        if state is None or state.phase is None or state.phase.is_terminal:
            return None
        current = state.current
        if current is None or current.attempt != attempt or current.phase.is_terminal:
            return None
        return state, current

    def attempt_started(self, signal: AttemptStarted) -> None:
        found = self.current_attempt(signal.node_path, signal.attempt)
        if found is None or found[1].phase is not TaskAttemptPhase.QUEUED:
            return
        state, attempt = found
        running = attempt.model_copy(
            update={
                "phase": TaskAttemptPhase.RUNNING,
                "worker_id": signal.worker_id,
                "started_at": self.now,
                "log_uri": signal.log_uri or attempt.log_uri,
            }
        )
        self.set_attempt(signal.node_path, running)
        if state.phase is NodePhase.QUEUED:
            self.set_node_phase(signal.node_path, NodePhase.RUNNING)

    def attempt_succeeded(self, signal: AttemptSucceeded) -> None:
        path = signal.node_path
        found = self.current_attempt(path, signal.attempt)
        if found is None:
            return
        state, attempt = found
        task = self.plan.info(path).task
        assert task is not None
        declared = task.spec.interface.outputs
        missing = [name for name in declared if name not in signal.outputs]
        if missing:
            self.fail_attempt(path, retries.missing_outputs(missing), signal.usage, signal.log_uri)
            return
        outputs = {name: signal.outputs[name] for name in declared}
        self.set_attempt(
            path,
            attempt.model_copy(
                update={
                    "phase": TaskAttemptPhase.SUCCEEDED,
                    "usage": signal.usage,
                    "ended_at": self.now,
                    "log_uri": signal.log_uri or attempt.log_uri,
                }
            ),
        )
        if state.cache_key is not None:
            self.command(
                StoreCache(
                    cache_key=state.cache_key,
                    outputs=outputs,
                    task=task.identifier,
                    node_path=path,
                    attempt=attempt.attempt,
                )
            )
        self.finish(path, NodePhase.SUCCEEDED, outputs=outputs)

    def attempt_failed(
        self,
        path: str,
        attempt_number: int,
        signal: AttemptFailed | AttemptTimedOut | WorkerLost | AttemptAborted,
        usage: ResourceUsage | None,
    ) -> None:
        found = self.current_attempt(path, attempt_number)
        if found is None:
            return
        _, attempt = found
        stopping = attempt.terminating or self.stopping(paths.parent(path))
        log_uri: str | None = None
        match signal:
            case AttemptFailed():
                failure = retries.reported(signal.error, oom=signal.oom)
                log_uri = signal.log_uri
            case AttemptTimedOut():
                failure = retries.timed_out(self.timeout_of(self.plan.info(path)))
                log_uri = signal.log_uri
            case WorkerLost():
                if attempt.worker_id is not None and attempt.worker_id != signal.worker_id:
                    return
                failure = (
                    self.terminated(path) if stopping else retries.worker_lost(signal.worker_id)
                )
            case AttemptAborted():
                failure = self.terminated(path) if stopping else retries.unrequested_abort()
        self.fail_attempt(path, failure, usage, log_uri)

    def fail_attempt(
        self,
        path: str,
        failure: retries.Failure,
        usage: ResourceUsage | None,
        log_uri: str | None,
    ) -> None:
        """End the current attempt of ``path`` with ``failure``; retry it or end the node."""
        state = self.nodes[path]
        attempt = state.current
        assert attempt is not None
        info = self.plan.info(path)
        task = info.task
        assert task is not None
        retries_allowed = info.node.retries if info.node.retries is not None else task.spec.retries
        budget = retries.RetryBudget(user=retries_allowed, system=self.settings.system_retries)
        may_retry = not attempt.terminating and not self.stopping(paths.parent(path))
        outcome = retries.on_failure(
            failure, budget, state.user_retries, state.system_retries, may_retry=may_retry
        )
        self.set_attempt(
            path,
            attempt.model_copy(
                update={
                    "phase": outcome.attempt_phase,
                    "error": outcome.error,
                    "usage": usage or attempt.usage,
                    "ended_at": self.now,
                    "log_uri": log_uri or attempt.log_uri,
                }
            ),
            user_retries=outcome.user_retries,
            system_retries=outcome.system_retries,
        )
        if outcome.node_phase is None:
            self.dispatch(path, attempt.attempt + 1)
        else:
            self.finish(path, outcome.node_phase, error=outcome.error)

    def cache_result(self, signal: CacheResult) -> None:
        path = signal.node_path
        state = self.nodes.get(path)
        if (
            state is None
            or state.phase is not NodePhase.QUEUED
            or state.cache_key is None
            or state.attempts
        ):
            return
        task = self.plan.info(path).task
        assert task is not None
        outputs = signal.outputs
        declared = task.spec.interface.outputs
        if outputs is not None and all(name in outputs for name in declared):
            self.update(path, cache_hit=True)
            self.finish(
                path, NodePhase.SUCCEEDED, outputs={name: outputs[name] for name in declared}
            )
        else:
            self.dispatch(path, 1)

    # --- starting nodes ----------------------------------------------------------------------

    def open_scope(self, scope: str, workflow: WorkflowPlan) -> None:
        """Create the nodes of ``workflow`` under ``scope``; start those that wait for nothing."""
        upstream = workflow.compiled.upstream
        for node_id in workflow.compiled.order:
            path = paths.child(scope, node_id)
            pending = len(upstream.get(node_id, ()))
            self.put(path, NodeState(kind=workflow.nodes[node_id].kind, pending=pending))
            if pending == 0:
                self.reserve(scope)
                self.queue.append(("start", path))
        self.queue.append(("check", scope))

    def stopping(self, container: str) -> bool:
        """Whether ``container`` (a node path, or the root) or anything around it is stopping."""
        path = container
        while path != ROOT:
            if self.nodes[path].stopping:
                return True
            path = paths.parent(path)
        return self.stop is not None

    def start_node(self, path: str) -> None:
        """Start node ``path``, whose slot in its parent is already reserved."""
        state = self.nodes[path]
        if state.phase is not None:
            return
        parent = paths.parent(path)
        if self.stopping(parent):
            self.release(parent, path)
            return
        if path in self.recovered:
            self.finish(path, NodePhase.SUCCEEDED, outputs=self.recovered[path])
            return
        info = self.plan.info(path)
        if state.map_index is not None:
            self.start_task(path, info, self.item_inputs(parent, state.map_index))
            return
        if info.top_level and self.binds_skipped(info):
            self.finish(path, NodePhase.SKIPPED)
            return
        match info.node.kind:
            case NodeKind.TASK:
                assert info.task is not None
                try:
                    inputs = with_defaults(
                        resolve_all(info.node.inputs, self.sources(info)),
                        info.task.spec.interface,
                        f"task {info.task.spec.name}",
                    )
                except (BindingError, SkippedUpstream) as exc:
                    self.finish(path, NodePhase.FAILED, error=_binding_error(str(exc)))
                    return
                self.start_task(path, info, inputs)
            case NodeKind.WORKFLOW:
                self.start_sub_workflow(path, info)
            case NodeKind.BRANCH:
                self.start_branch(path, info)
            case NodeKind.MAP:
                self.start_map(path, info)

    def release(self, parent: str, path: str) -> None:
        """Give back the slot reserved for ``path``, which will not start."""
        if parent == ROOT or self.nodes[parent].kind is NodeKind.WORKFLOW:
            self.reserve(parent, -1)
            self.queue.append(("check", parent))
        elif self.nodes[parent].kind is NodeKind.BRANCH:
            self.update(parent, active=0)
            self.finish(parent, NodePhase.ABORTED, error=self.abort_error(parent))
        else:
            progress = self.nodes[parent].map
            assert progress is not None
            self.update(
                parent,
                active=self.nodes[parent].active - 1,
                map=progress.model_copy(update={"next_item": progress.next_item - 1}),
            )
            self.advance_map(parent)

    def sources(self, info: NodeInfo) -> _Sources:
        return _Sources(self, info.scope, info.workflow)

    def binds_skipped(self, info: NodeInfo) -> bool:
        for node_id in info.workflow.binds[info.node.id]:
            upstream = self.nodes.get(paths.child(info.scope, node_id))
            if upstream is not None and upstream.phase is NodePhase.SKIPPED:
                return True
        return False

    def timeout_of(self, info: NodeInfo) -> float | None:
        if info.node.timeout_seconds is not None:
            return info.node.timeout_seconds
        return info.task.spec.timeout_seconds if info.task is not None else None

    def start_task(self, path: str, info: NodeInfo, inputs: Literals) -> None:
        """A task node or map item: QUEUED, then the cache or its first attempt."""
        task = info.task
        assert task is not None
        key = cache_key(task, inputs) if task.spec.cache else None
        self.set_node_phase(path, NodePhase.QUEUED, inputs=inputs, cache_key=key)
        if key is not None:
            self.command(LookupCache(node_path=path, cache_key=key))
        else:
            self.dispatch(path, 1)

    def dispatch(self, path: str, number: int) -> None:
        """Queue attempt ``number`` of ``path`` and send it to the workers."""
        info = self.plan.info(path)
        task = info.task
        assert task is not None
        state = self.nodes[path]
        attempt = AttemptState(attempt=number, phase=TaskAttemptPhase.QUEUED, queued_at=self.now)
        self.update(path, attempts=(*state.attempts, attempt), updated_at=self.now)
        self.emit_attempt(path, attempt)
        self.command(
            Dispatch(
                execution=self.state.execution,
                node_path=path,
                attempt=number,
                task=task.identifier,
                spec=task.spec,
                inputs=state.inputs or {},
                resources=task.spec.resources,
                timeout_seconds=self.timeout_of(info),
                environment=task.spec.environment,
            )
        )

    def start_sub_workflow(self, path: str, info: NodeInfo) -> None:
        sub = info.sub_workflow
        assert sub is not None
        try:
            inputs = with_defaults(
                resolve_all(info.node.inputs, self.sources(info)),
                sub.compiled.spec.interface,
                f"workflow {sub.compiled.spec.name}",
            )
        except (BindingError, SkippedUpstream) as exc:
            self.finish(path, NodePhase.FAILED, error=_binding_error(f"[{path}] {exc}"))
            return
        self.set_node_phase(path, NodePhase.RUNNING, inputs=inputs)
        self.open_scope(path, sub)

    def start_branch(self, path: str, info: NodeInfo) -> None:
        branch = info.node.branch
        assert branch is not None
        try:
            chosen = next(
                (
                    case.then
                    for case in branch.cases
                    if evaluate(case.condition, lambda b: self.operand(b, info))
                ),
                branch.otherwise,
            )
        except (ConditionError, BindingError, SkippedUpstream) as exc:
            error = ExecutionError(
                kind=ErrorKind.USER,
                code=CONDITION_FAILED,
                message=f"[{path}] the branch's condition can't be evaluated: {exc}",
            )
            self.finish(path, NodePhase.FAILED, error=error)
            return
        if chosen is None:
            if branch.fail_message is None:
                self.finish(path, NodePhase.SKIPPED)
            else:
                error = ExecutionError(
                    kind=ErrorKind.USER,
                    code=BRANCH_FAILED,
                    message=f"[{path}] {branch.fail_message}",
                )
                self.finish(path, NodePhase.FAILED, error=error)
            return
        chosen_path = paths.child(path, chosen.id)
        self.set_node_phase(path, NodePhase.RUNNING, chosen=chosen_path, active=1)
        self.put(chosen_path, NodeState(kind=chosen.kind))
        self.queue.append(("start", chosen_path))

    def operand(self, binding: Binding, info: NodeInfo) -> Operand:
        return resolve(binding, self.sources(info)), self.binding_type(binding, info)

    def binding_type(self, binding: Binding, info: NodeInfo) -> LiteralType | None:
        """The declared type of what ``binding`` names, when the closure says it simply."""
        if isinstance(binding, InputBinding):
            param = info.workflow.compiled.spec.interface.inputs.get(binding.input)
            return param.type if param is not None else None
        if isinstance(binding, OutputBinding):
            upstream = info.workflow.nodes.get(binding.node)
            if upstream is None:
                return None
            try:
                upstream_info = self.plan.info(paths.child(info.scope, upstream.id))
            except UnknownNode:
                return None
            if upstream.kind is NodeKind.TASK and upstream_info.task is not None:
                variable = upstream_info.task.spec.interface.outputs.get(binding.output)
                return variable.type if variable is not None else None
            if upstream.kind is NodeKind.WORKFLOW and upstream_info.sub_workflow is not None:
                interface = upstream_info.sub_workflow.compiled.spec.interface
                variable = interface.outputs.get(binding.output)
                return variable.type if variable is not None else None
        return None

    # --- maps -------------------------------------------------------------------------------------

    def start_map(self, path: str, info: NodeInfo) -> None:
        task = info.task
        assert task is not None
        assert info.node.map is not None
        try:
            bound = resolve_all(info.node.inputs, self.sources(info))
        except (BindingError, SkippedUpstream) as exc:
            self.finish(path, NodePhase.FAILED, error=_binding_error(f"[{path}] {exc}"))
            return
        not_lists = [name for name, value in bound.items() if not isinstance(value, list)]
        lengths = {name: len(value) for name, value in bound.items() if isinstance(value, list)}
        if not_lists or len(set(lengths.values())) > 1:
            if not_lists:
                problem = f"input(s) {', '.join(not_lists)} are not lists"
            else:
                spelled = ", ".join(f"{name} has {n}" for name, n in lengths.items())
                problem = f"its list inputs must have the same length, but {spelled}"
            error = ExecutionError(
                kind=ErrorKind.USER,
                code=MAP_INPUTS_MISMATCH,
                message=f"[{path}] map of task {task.spec.name}: {problem}",
            )
            self.finish(path, NodePhase.FAILED, error=error)
            return
        try:
            # Inputs left unbound take their default in every item.
            with_defaults(
                {name: None for name in bound}, task.spec.interface, f"task {task.spec.name}"
            )
        except BindingError as exc:
            self.finish(path, NodePhase.FAILED, error=_binding_error(f"[{path}] {exc}"))
            return
        total = next(iter(lengths.values()), 0)
        if total == 0:
            outputs: Literals = {name: [] for name in task.spec.interface.outputs}
            self.finish(path, NodePhase.SUCCEEDED, inputs=bound, outputs=outputs)
            return
        self.set_node_phase(path, NodePhase.RUNNING, inputs=bound, map=MapProgress(total=total))
        self.advance_map(path)

    def item_inputs(self, map_path: str, index: int) -> Literals:
        state = self.nodes[map_path]
        task = self.plan.info(map_path).task
        assert task is not None
        assert state.inputs is not None
        values = {name: value[index] for name, value in state.inputs.items()}
        return with_defaults(values, task.spec.interface, f"task {task.spec.name}")

    def advance_map(self, path: str) -> None:
        """Start the map's next items, stop it if it can no longer succeed, end it when done."""
        state = self.nodes[path]
        if state.phase is None or state.phase.is_terminal:
            return
        progress = state.map
        spec = self.plan.info(path).node.map
        assert progress is not None
        assert spec is not None
        required = _required(progress.total, spec.min_success_ratio)
        outer_stopping = self.stopping(paths.parent(path))
        if not outer_stopping and not state.stopping:
            if progress.failed > progress.total - required:
                self.stop_scope(path, None)
            else:
                limit = spec.concurrency or progress.total
                active, next_item = state.active, progress.next_item
                while next_item < progress.total and active < limit:
                    item_path = paths.item(path, next_item)
                    self.put(item_path, NodeState(kind=NodeKind.TASK, map_index=next_item))
                    self.queue.append(("start", item_path))
                    active, next_item = active + 1, next_item + 1
                if next_item != progress.next_item:
                    self.update(
                        path,
                        active=active,
                        map=progress.model_copy(update={"next_item": next_item}),
                    )
        state = self.nodes[path]
        assert state.map is not None
        assert state.phase is not None
        if state.phase.is_terminal or state.active:
            return
        if state.stopping or outer_stopping or state.map.next_item == state.map.total:
            self.finish_map(path, required)

    def map_item_finished(self, path: str, item: NodeState) -> None:
        state = self.nodes[path]
        progress = state.map
        assert progress is not None
        succeeded = item.phase is NodePhase.SUCCEEDED
        error = state.error
        if error is None and item.phase in _FAILURE:
            assert item.map_index is not None
            error = self.adopt(paths.item(path, item.map_index), item.error)
        self.update(
            path,
            active=state.active - 1,
            error=error,
            map=progress.model_copy(
                update={
                    "succeeded": progress.succeeded + succeeded,
                    "failed": progress.failed + (not succeeded),
                }
            ),
        )
        self.advance_map(path)

    def finish_map(self, path: str, required: int) -> None:
        state = self.nodes[path]
        progress = state.map
        info = self.plan.info(path)
        assert progress is not None
        assert info.task is not None
        assert info.node.map is not None
        if progress.next_item == progress.total and progress.succeeded >= required:
            items = [self.nodes.get(paths.item(path, i)) for i in range(progress.total)]
            outputs = {
                name: [
                    item.outputs.get(name)
                    if item is not None and item.phase is NodePhase.SUCCEEDED and item.outputs
                    else None
                    for item in items
                ]
                for name in info.task.spec.interface.outputs
            }
            self.finish(path, NodePhase.SUCCEEDED, outputs=outputs, error=None)
        elif state.stopping or not self.stopping(paths.parent(path)):
            first = state.error
            message = (
                f"[{path}] {progress.succeeded} of {progress.total} items of the map of task "
                f"{info.task.spec.name} succeeded, below min_success_ratio "
                f"{info.node.map.min_success_ratio:g} ({required} needed)"
            )
            if first is not None:
                message += f"; first failure: {first.message}"
            error = ExecutionError(
                kind=first.kind if first is not None else ErrorKind.USER,
                code=first.code if first is not None else MAP_FAILED,
                message=message,
                traceback_tail=first.traceback_tail if first is not None else None,
            )
            self.finish(path, NodePhase.FAILED, error=error)
        else:
            self.finish(path, NodePhase.ABORTED, error=self.abort_error(path))

    # --- finishing nodes ----------------------------------------------------------------------

    def finish(self, path: str, phase: NodePhase, **changes: Any) -> None:
        """End node ``path`` in ``phase`` and tell what it runs inside of."""
        state = self.set_node_phase(path, phase, **changes)
        parent = paths.parent(path)
        if parent == ROOT:
            self.scope_child_finished(ROOT, path, state)
            return
        container = self.nodes[parent]
        match container.kind:
            case NodeKind.WORKFLOW:
                self.scope_child_finished(parent, path, state)
            case NodeKind.BRANCH:
                self.update(parent, active=0)
                self.finish(
                    parent,
                    phase,
                    outputs=state.outputs,
                    error=self.adopt(path, state.error) if state.error else None,
                )
            case NodeKind.MAP:
                self.map_item_finished(parent, state)
            case NodeKind.TASK:
                raise AssertionError(f"task node {parent} has a child {path}")

    def scope_child_finished(self, scope: str, path: str, state: NodeState) -> None:
        """A node of the workflow run at ``scope`` ended: start what waited for it."""
        self.reserve(scope, -1)
        info = self.plan.info(path)
        if state.phase in _SUCCESS:
            stopping = self.stopping(scope)
            for downstream_id in info.workflow.downstream[info.node.id]:
                downstream = paths.child(scope, downstream_id)
                waiting = self.nodes[downstream]
                if waiting.phase is not None:
                    continue
                self.update(downstream, pending=waiting.pending - 1)
                if waiting.pending == 1 and not stopping:
                    self.reserve(scope)
                    self.queue.append(("start", downstream))
        elif state.phase in _FAILURE:
            self.scope_failed(scope, path, state.error)
        self.queue.append(("check", scope))

    def scope_failed(self, scope: str, path: str, error: ExecutionError | None) -> None:
        adopted = self.adopt(path, error)
        if scope == ROOT:
            policy = self.plan.primary.compiled.spec.failure_policy
            if self.error is None:
                self.error = adopted
            if policy is FailurePolicy.FAIL_IMMEDIATELY and self.stop is None:
                self.stop_scope(ROOT, StopReason.FAIL)
            return
        sub = self.plan.info(scope).sub_workflow
        assert sub is not None
        state = self.nodes[scope]
        if state.error is None:
            self.update(scope, error=adopted)
        if (
            sub.compiled.spec.failure_policy is FailurePolicy.FAIL_IMMEDIATELY
            and not state.stopping
        ):
            self.stop_scope(scope, None)

    def adopt(self, path: str, error: ExecutionError | None) -> ExecutionError:
        """``error`` of node ``path`` as its container reports it: an attempt's error is
        prefixed with where it happened; a container's error already says so."""
        if error is None:
            return ExecutionError(
                kind=ErrorKind.SYSTEM, code=STALLED, message=f"[{path}] failed without an error"
            )
        if self.nodes[path].kind is not NodeKind.TASK:
            return error
        return error.model_copy(update={"message": f"[{path}] {error.message}"})

    def check_scope(self, scope: str) -> None:
        """End the workflow run at ``scope`` (the execution, or a sub-workflow node) if
        nothing in it runs any more."""
        if scope == ROOT:
            if not self.phase.is_terminal and self.active == 0:
                self.finish_execution()
            return
        state = self.nodes[scope]
        if state.phase is None or state.phase.is_terminal or state.active:
            return
        sub = self.plan.info(scope).sub_workflow
        assert sub is not None
        if state.error is not None:
            self.finish(scope, NodePhase.FAILED)
            return
        if not self.all_done(scope, sub):
            self.finish(scope, NodePhase.ABORTED, error=self.abort_error(scope))
            return
        try:
            outputs = resolve_all(sub.compiled.spec.outputs, _Sources(self, scope, sub))
        except SkippedUpstream:
            self.finish(scope, NodePhase.SKIPPED)
            return
        except BindingError as exc:
            self.finish(scope, NodePhase.FAILED, error=_binding_error(f"[{scope}] {exc}"))
            return
        self.finish(scope, NodePhase.SUCCEEDED, outputs=outputs)

    def all_done(self, scope: str, workflow: WorkflowPlan) -> bool:
        return all(
            self.nodes[paths.child(scope, node_id)].phase in _SUCCESS
            for node_id in workflow.compiled.order
        )

    def finish_execution(self) -> None:
        primary = self.plan.primary
        if self.stop is StopReason.ABORT:
            phase = ExecutionPhase.ABORTED
        elif self.error is not None:
            phase = ExecutionPhase.FAILED
        elif not self.all_done(ROOT, primary):
            phase = ExecutionPhase.FAILED
            self.error = ExecutionError(
                kind=ErrorKind.SYSTEM,
                code=STALLED,
                message="the execution stopped with nodes that never ran",
            )
        else:
            try:
                self.outputs = resolve_all(
                    primary.compiled.spec.outputs, _Sources(self, ROOT, primary)
                )
                phase = ExecutionPhase.SUCCEEDED
            except SkippedUpstream as exc:
                phase = ExecutionPhase.FAILED
                self.error = ExecutionError(
                    kind=ErrorKind.USER,
                    code=SKIPPED_OUTPUT,
                    message=f"an output of the workflow is bound to node {exc.node_id}, "
                    "which was skipped",
                )
            except BindingError as exc:
                phase = ExecutionPhase.FAILED
                self.error = _binding_error(f"the workflow's outputs: {exc}")
        self.set_phase(phase)
        self.command(Finished(phase=phase, outputs=self.outputs, error=self.error))

    # --- stopping ---------------------------------------------------------------------------------

    def stop_scope(self, container: str, reason: StopReason | None) -> None:
        """Start nothing more in ``container`` and terminate the attempts that run in it.

        The root moves to FAILING or ABORTING when it has to wait for running
        attempts to stop; a sub-workflow or map node just stays RUNNING until then.
        """
        if container == ROOT:
            assert reason is not None
            self.stop = reason
            self.dirty = True
        else:
            self.update(container, stopping=True)
        # Sorted: a state read back from jsonb has its nodes in another order.
        targets = sorted(
            (
                (path, state)
                for path, state in self._task_nodes_under(container)
                if state.phase in (NodePhase.QUEUED, NodePhase.RUNNING)
            ),
            key=lambda target: target[0],
        )
        if container == ROOT:
            running = any(
                state.current is not None and state.current.phase is TaskAttemptPhase.RUNNING
                for _, state in targets
            )
            if running:
                self.set_phase(
                    ExecutionPhase.ABORTING
                    if reason is StopReason.ABORT
                    else ExecutionPhase.FAILING
                )
        for path, _ in targets:
            self.terminate(path)
        if container == ROOT or self.nodes[container].kind is NodeKind.WORKFLOW:
            self.queue.append(("check", container))

    def _task_nodes_under(self, container: str) -> Iterator[tuple[str, NodeState]]:
        if container != ROOT and self.nodes[container].kind is NodeKind.MAP:
            progress = self.nodes[container].map
            assert progress is not None
            items = (paths.item(container, i) for i in range(progress.next_item))
            candidates = [(p, self.nodes[p]) for p in items if p in self.nodes]
        else:
            candidates = [(p, s) for p, s in self.nodes.items() if paths.is_under(p, container)]
        return ((p, s) for p, s in candidates if s.kind is NodeKind.TASK)

    def terminate(self, path: str) -> None:
        """Stop the task node (or map item) ``path``: queued work ends ABORTED at once; a
        running attempt is asked to stop and ends when its worker says so."""
        state = self.nodes[path]
        if state.phase is None or state.phase.is_terminal:
            return
        attempt = state.current
        failure = self.terminated(path)
        if attempt is None:
            self.finish(path, NodePhase.ABORTED, error=failure.error)
            return
        if attempt.phase is TaskAttemptPhase.RUNNING:
            if not attempt.terminating:
                self.command(
                    Terminate(
                        node_path=path,
                        attempt=attempt.attempt,
                        worker_id=attempt.worker_id,
                        reason=failure.error.message,
                    )
                )
                self.update(
                    path,
                    attempts=(
                        *state.attempts[:-1],
                        attempt.model_copy(update={"terminating": True}),
                    ),
                )
            return
        self.command(
            Terminate(
                node_path=path,
                attempt=attempt.attempt,
                worker_id=None,
                reason=failure.error.message,
            )
        )
        self.set_attempt(
            path,
            attempt.model_copy(
                update={
                    "phase": TaskAttemptPhase.ABORTED,
                    "error": failure.error,
                    "ended_at": self.now,
                }
            ),
        )
        self.finish(path, NodePhase.ABORTED, error=failure.error)

    def terminated(self, path: str) -> retries.Failure:
        """Why node ``path`` is being stopped, as the failure its attempt ends with."""
        return retries.terminated(**self._stop_cause(path))

    def abort_error(self, path: str) -> ExecutionError:
        return self.terminated(path).error

    def _stop_cause(self, path: str) -> dict[str, Any]:
        if self.stop is StopReason.ABORT and self.error is not None:
            return {
                "reason": f"the execution was aborted: {self.error.message}",
                "kind": ErrorKind.USER,
            }
        container = paths.parent(path)
        while container != ROOT and not self.nodes[container].stopping:
            container = paths.parent(container)
        cause = self.error if container == ROOT else self.nodes[container].error
        if cause is None:
            return {"reason": "terminated", "kind": ErrorKind.SYSTEM}
        return {"reason": f"terminated after a failure: {cause.message}", "kind": cause.kind}


def _binding_error(message: str) -> ExecutionError:
    return ExecutionError(kind=ErrorKind.SYSTEM, code=BINDING_FAILED, message=message)


def _required(total: int, ratio: float) -> int:
    """How many of ``total`` items must succeed for ``ratio`` (rounding float noise away)."""
    return math.ceil(round(ratio * total, 9))


__all__ = [
    "DEFAULT_SETTINGS",
    "Decision",
    "MachineSettings",
    "create_execution",
    "decide",
]

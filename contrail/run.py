"""``Run``: one execution on a cluster, followed from Python (Flyte 2's Run object).

::

    remote = contrail.Remote("http://127.0.0.1:18080", project="flytesnacks")
    run = remote.run(wf, name="x")     # fast-registers wf, launches it
    print(run.name)                    # contrail get execution NAME --watch shows it
    run.wait()                         # ExecutionFailed unless it SUCCEEDED
    run.outputs                        # ("Hello, x!", 9): typed as wf returns them
    print(run.logs())

``Remote.run`` on a local ``@task``, ``@workflow`` or ``LaunchPlan`` registers
the module that defines it first, as ``contrail run --remote`` does: the
project is serialized, its source bundled and uploaded, everything registered
under a version that digests both (re-running unchanged code registers
nothing new). A script that calls ``remote.run`` on its own workflow must do
so under ``if __name__ == "__main__":``, since registration imports the file
as a module of its project.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contrail.errors import ContrailError, ExecutionFailed, ServerUnavailable, WaitTimeout
from contrail.launch_plan import LaunchPlan
from contrail.loader import module_name
from contrail.registration import RegistrationFailed, build, register
from contrail.task import Interface, OutputStyle, Task
from contrail.types import TypeEngineError, from_literal
from contrail.workflow import Workflow
from shared.phases import ExecutionPhase

if TYPE_CHECKING:
    from contrail.remote import Execution, NodeExecution, Remote

RunnableEntity = Task[..., Any] | Workflow[..., Any] | LaunchPlan[Any] | str
"""What ``Remote.run`` runs: a local entity (fast-registered) or a registered launch plan's name."""


UNAVAILABLE_GRACE = 60.0
"""Seconds ``Run.wait`` keeps polling an API that answers it is unavailable."""


class RunNotDone(ContrailError):
    """The outputs of a run that has not SUCCEEDED (yet) were asked for."""


class Run:
    """An execution launched on a cluster: its name, console URL, phase, outputs and logs.

    ``phase`` and ``execution`` are as last fetched: ``refresh()`` and
    ``wait()`` fetch again. ``interface`` (known for local entities) converts
    the outputs back to Python values.
    """

    def __init__(
        self, remote: Remote, execution: Execution, interface: Interface | None = None
    ) -> None:
        self.remote = remote
        self.execution = execution
        self.interface = interface

    def __repr__(self) -> str:
        return f"Run(name={self.name!r}, project={self.project!r}, phase={self.phase.value})"

    @property
    def name(self) -> str:
        """The execution's name, unique in its project and domain."""
        return self.execution.name

    @property
    def project(self) -> str:
        """The execution's project."""
        return self.execution.project

    @property
    def domain(self) -> str:
        """The execution's domain."""
        return self.execution.domain

    @property
    def url(self) -> str:
        """The execution's page in the console to come (no console answers it yet)."""
        return self.execution.url

    @property
    def phase(self) -> ExecutionPhase:
        """The phase as last fetched."""
        return self.execution.phase

    @property
    def done(self) -> bool:
        """Whether the execution had ended when last fetched."""
        return self.execution.is_done

    def refresh(self) -> Run:
        """Fetch the execution again; returns this run."""
        url = self.execution.url
        fresh = self.remote.get_execution(self.name, project=self.project, domain=self.domain)
        self.execution = fresh.model_copy(update={"url": url}) if url else fresh
        return self

    def wait(
        self, timeout: float | None = None, poll: float = 0.5, *, raise_on_failure: bool = True
    ) -> Run:
        """Wait until the execution ends; returns this run.

        Raises:
            ExecutionFailed: it ended FAILED, ABORTED or TIMED_OUT (unless
                ``raise_on_failure`` is False).
            WaitTimeout: (a TimeoutError) it had not ended after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        last_answer = time.monotonic()
        while True:
            try:
                if self.refresh().done:
                    break
                last_answer = time.monotonic()
            except ServerUnavailable:
                # a launcher restarting mid-execution: keep the last state for a while
                if time.monotonic() - last_answer > UNAVAILABLE_GRACE:
                    raise
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"execution {self.name} is still {self.phase} after {timeout:g} s"
                )
            time.sleep(
                poll if deadline is None else max(0.0, min(poll, deadline - time.monotonic()))
            )
        if raise_on_failure and self.phase is not ExecutionPhase.SUCCEEDED:
            raise ExecutionFailed.of_run(self)
        return self

    @property
    def outputs(self) -> Any:
        """The outputs of a SUCCEEDED execution.

        For a local entity, as its function returns them (one value, a tuple,
        a named tuple, or None); otherwise the JSON literals by output name.

        Raises:
            RunNotDone: it has not ended (fetching once more first).
            ExecutionFailed: it ended otherwise than SUCCEEDED.
        """
        if not self.done:
            self.refresh()
        if not self.done:
            raise RunNotDone(f"execution {self.name} is {self.phase}: call run.wait() first")
        if self.phase is not ExecutionPhase.SUCCEEDED:
            raise ExecutionFailed.of_run(self)
        return outputs_of(self.execution.outputs or {}, self.interface)

    def nodes(self) -> list[NodeExecution]:
        """The node executions, with their attempts."""
        return self.remote.node_executions(self.name, project=self.project, domain=self.domain)

    def logs(self, node: str | None = None, *, stream: str = "stdout") -> str:
        """What the task attempts wrote to ``stream``.

        With ``node`` (a path such as ``n0`` or ``n2/n0``), that node's latest
        attempt; otherwise the latest attempt of every node that ran one, each
        under a ``--- n0 (attempt 1) ---`` heading.
        """
        if node is not None:
            return "".join(
                self.remote.logs(
                    self.name, node, stream=stream, project=self.project, domain=self.domain
                )
            )
        parts: list[str] = []
        for execution_node in self.nodes():
            attempt = execution_node.latest_attempt
            if attempt is None:
                continue
            text = "".join(
                self.remote.logs(
                    self.name,
                    execution_node.node_path,
                    attempt.attempt,
                    stream=stream,
                    project=self.project,
                    domain=self.domain,
                )
            )
            parts.append(f"--- {execution_node.node_path} (attempt {attempt.attempt}) ---\n{text}")
            if text and not text.endswith("\n"):
                parts.append("\n")
        return "".join(parts)

    def abort(self, cause: str = "aborted by user") -> None:
        """Ask the cluster to abort the execution (it ends ABORTED)."""
        self.remote.abort(self.name, cause, project=self.project, domain=self.domain)


def outputs_of(literals: Mapping[str, Any], interface: Interface | None) -> Any:
    """Output literals as the entity's function returns them, or as they are without types."""
    if interface is None:
        return dict(literals)
    values: dict[str, Any] = {}
    for name, slot in interface.outputs.items():
        try:
            values[name] = from_literal(literals.get(name), slot.annotation)
        except TypeEngineError:
            values[name] = literals.get(name)
    if interface.style is OutputStyle.NONE:
        return None
    if interface.style is OutputStyle.SINGLE:
        return next(iter(values.values()), None)
    if interface.style is OutputStyle.NAMED and interface.named is not None:
        return interface.named(*values.values())
    return tuple(values.values())


# --- launching ----------------------------------------------------------------------


@dataclass(frozen=True)
class Registered:
    """What fast registration stored: the entity's registered name, the version, and how
    many entities were new."""

    name: str
    version: str
    created: int
    total: int
    bundle_uri: str | None


def fast_register(
    remote: Remote,
    entity: Task[..., Any] | Workflow[..., Any] | LaunchPlan[Any],
    *,
    project: str,
    domain: str,
    version: str | None = None,
) -> Registered:
    """Register the project module that defines ``entity``, with its source bundle.

    As ``contrail register FILE``: the module's entities (and the ones they
    reference) are serialized, the module's top-level package is bundled and
    uploaded, and everything is registered under ``version`` (default: a
    digest of the bundle and the specs).

    Raises:
        RegistrationFailed: an entity was refused (names it and says why), or
            ``entity`` is not at the top level of its module.
        UserCodeError: the module does not import.
        BundleError: the module's package can't be bundled.
        RemoteError: the cluster could not be reached or refused the upload.
    """
    file = module_file(entity)
    built = build([file], version=version)
    name = registered_name(entity, module_name(file, built.loaded.root))
    if name not in {spec.name for spec in built.plan.specs()}:
        raise RegistrationFailed(
            f"{entity.name}: not found in {file} when it is imported as a module of its project "
            f"{built.loaded.root}; define it at the top level of that module"
        )
    done = register(
        remote,
        built.plan,
        project=project,
        domain=domain,
        version=built.version,
        source=built.source,
    )
    if not done.ok:
        raise done.first_failure()
    return Registered(name, built.version, done.created, built.plan.count, done.bundle_uri)


def registered_name(
    entity: Task[..., Any] | Workflow[..., Any] | LaunchPlan[Any], module: str
) -> str:
    """The name ``entity`` is registered under when its file is imported as ``module``.

    They differ when the file was imported under another name (run as a
    script: ``__main__``; or through a parent folder: ``examples.workflows.example``).
    """
    if isinstance(entity, LaunchPlan):
        if entity.name != entity.workflow.name:
            return entity.name  # a launch plan's own name does not depend on its module
        entity = entity.workflow
    return f"{module}.{entity.function.__qualname__}"


def module_file(entity: Task[..., Any] | Workflow[..., Any] | LaunchPlan[Any]) -> Path:
    """The file of the module that defines ``entity`` (a launch plan: its workflow's)."""
    import sys

    function = entity.workflow.function if isinstance(entity, LaunchPlan) else entity.function
    module = sys.modules.get(function.__module__)
    file = getattr(module, "__file__", None)
    if not file:
        raise ContrailError(
            f"{entity.name}: can't find the file that defines it, to register it; "
            "define it in a module of a project"
        )
    return Path(file)


def interface_of(entity: Task[..., Any] | Workflow[..., Any] | LaunchPlan[Any]) -> Interface:
    """The entity's typed interface (a launch plan's: its workflow's)."""
    return entity.workflow.interface if isinstance(entity, LaunchPlan) else entity.interface


def start_run(
    remote: Remote,
    entity: RunnableEntity,
    *,
    execution_name: str | None,
    project: str,
    domain: str,
    version: str | None,
    labels: Mapping[str, str] | None,
    inputs: Mapping[str, Any],
    on_registered: Callable[[Registered], None] | None = None,
) -> Run:
    """Fast-register ``entity`` when it is local, convert ``inputs``, launch; see ``Remote.run``.

    ``on_registered`` hears what registration stored, before the launch.
    """
    if isinstance(entity, str):
        execution = remote.launch(
            entity,
            inputs=inputs,
            name=execution_name,
            project=project,
            domain=domain,
            version=version,
            labels=labels,
        )
        return Run(remote, execution)
    interface = interface_of(entity)
    # Check the inputs before anything is uploaded or registered.
    literals = interface.given_inputs_to_literals(entity.name, inputs)
    if isinstance(entity, LaunchPlan):
        fixed = sorted(set(literals) & set(entity.fixed_inputs))
        if fixed:
            raise ContrailError(
                f"launch plan {entity.name}: fixed inputs can't be given: {', '.join(fixed)}"
            )
    registered = fast_register(remote, entity, project=project, domain=domain, version=version)
    if on_registered is not None:
        on_registered(registered)
    kind = (
        "task"
        if isinstance(entity, Task)
        else "launch_plan"
        if isinstance(entity, LaunchPlan)
        else "workflow"
    )
    name = registered.name
    execution = remote.launch(
        name if kind == "launch_plan" else None,
        workflow=name if kind == "workflow" else None,
        task=name if kind == "task" else None,
        inputs=literals,
        name=execution_name,
        project=project,
        domain=domain,
        version=registered.version,
        labels=labels,
    )
    return Run(remote, execution, interface)

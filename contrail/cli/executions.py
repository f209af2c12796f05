"""Executions from the command line: ``launch``, ``get executions`` / ``get execution``,
``logs``, ``abort``, ``relaunch`` and ``recover``, with output like ``flytectl``'s.

``contrail get execution NAME --watch`` (and ``--wait`` of ``launch`` and of
``run --remote``) shows a live Rich tree of the execution's nodes: paths
nest (``n2/n0`` under ``n2``, ``n3[0]`` under ``n3``), each with its phase,
attempts and duration, until the execution ends.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import RenderableType
from rich.live import Live
from rich.markup import escape
from rich.text import Text
from rich.tree import Tree

from contrail.cli.cluster import connected
from contrail.cli.inputs import literal_of_text
from contrail.cli.options import (
    DomainOption,
    EndpointOption,
    LimitOption,
    OutputOption,
    ProjectOption,
)
from contrail.cli.output import (
    CLIError,
    OutputFormat,
    console,
    errors,
    format_time,
    make_table,
    print_document,
    print_listing,
    reported_errors,
)
from contrail.cli.projects import require_project
from contrail.config import Config
from contrail.errors import NotFound, ServerUnavailable
from contrail.remote import Execution, ExecutionError, NodeExecution, Remote
from contrail.run import Run
from shared.identifiers import ResourceType, bad_names
from shared.literals import render
from shared.phases import ExecutionPhase
from shared.specs import LaunchPlanSpec, TaskSpec, TypedInterface, WorkflowSpec

NameArgument = Annotated[str, typer.Argument(help="The execution's name.")]


class ListedPhase(StrEnum):
    """The phases an execution can be in (``docs/engine.md``: never SUCCEEDING, never TIMED_OUT)."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILING = "FAILING"
    FAILED = "FAILED"
    ABORTING = "ABORTING"
    ABORTED = "ABORTED"


UNAVAILABLE_GRACE = 60.0
"""Seconds a watch keeps polling an API that answers it is unavailable."""

PHASE_STYLES: dict[str, str] = {
    "QUEUED": "dim",
    "RUNNING": "yellow",
    "SUCCEEDING": "green",
    "SUCCEEDED": "green",
    "FAILING": "red",
    "FAILED": "bold red",
    "ABORTING": "magenta",
    "ABORTED": "magenta",
    "TIMED_OUT": "red",
    "SKIPPED": "dim",
    "RETRYABLE_FAILED": "red",
}


# --- inputs (pure) ----------------------------------------------------------------------


def split_pairs(pairs: Iterable[str], option: str = "--input") -> dict[str, str]:
    """``k=v`` strings as a mapping; ``CLIError`` for one without ``=`` or a key given twice."""
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CLIError(f"{option} {pair!r}: expected NAME=VALUE")
        if key in values:
            raise CLIError(f"{option} {key} is given twice")
        values[key] = value
    return values


def launch_inputs(given: Mapping[str, str], interface: TypedInterface) -> dict[str, Any]:
    """JSON literals of ``NAME=VALUE`` inputs, each read by its type in ``interface``.

    Ints, floats, true/false, ISO datetimes, and JSON for lists, dicts and
    records, as ``contrail run`` reads them. A name the interface does not
    have, or a text that is not a value of its type, goes as the text: the
    launcher checks the inputs (unknown, fixed by the launch plan, missing,
    wrong type, down to each item of a list) and refuses them all in one 400
    ``invalid_inputs``, printed one line per problem.
    """
    literals: dict[str, Any] = {}
    for name, text in given.items():
        parameter = interface.inputs.get(name)
        try:
            literals[name] = text if parameter is None else literal_of_text(text, parameter.type)
        except ValueError:
            literals[name] = text
    return literals


# --- rendering (pure) ---------------------------------------------------------------------


def format_duration(seconds: float | None) -> str:
    """``850ms``, ``4.2s``, ``3m07s``, ``1h02m`` (``-`` when unknown)."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def elapsed(
    started: datetime | None, ended: datetime | None, now: datetime | None = None
) -> float | None:
    """Seconds from ``started`` to ``ended`` (or to ``now`` while it runs)."""
    if started is None:
        return None
    end = ended or now
    if end is None:
        return None
    return max(0.0, (end - started).total_seconds())


def execution_duration(execution: Execution, now: datetime | None = None) -> float | None:
    """The API's duration once it ended, else the time from start to end (or to ``now``)."""
    if execution.duration is not None and execution.is_done:
        return execution.duration
    started = execution.started_at or execution.created_at
    return elapsed(started, execution.ended_at, None if execution.is_done else now)


def short_error(error: ExecutionError | None, width: int = 80) -> str:
    """``code: message`` on one line, cut at ``width``."""
    if error is None:
        return "-"
    text = " ".join(str(error).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def execution_row(execution: Execution, now: datetime | None = None) -> list[str]:
    """NAME, LAUNCH PLAN, PHASE, STARTED, DURATION, ERROR."""
    return [
        execution.name,
        execution.launch_plan_name or execution.workflow_name or "-",
        execution.phase.value,
        format_time(execution.started_at or execution.created_at),
        format_duration(execution_duration(execution, now)),
        short_error(execution.error),
    ]


EXECUTION_COLUMNS = ["NAME", "LAUNCH PLAN", "PHASE", "STARTED", "DURATION", "ERROR"]


def execution_document(
    execution: Execution, nodes: Sequence[NodeExecution] | None = None
) -> dict[str, Any]:
    """An execution (and its nodes) as JSON-compatible data, for ``-o json`` / ``-o yaml``."""
    document = execution.model_dump(mode="json", exclude_none=True)
    if nodes is not None:
        document["nodes"] = [node.model_dump(mode="json", exclude_none=True) for node in nodes]
    return document


def parent_path(path: str, *, map_items_only: bool = False) -> str | None:
    """The path of the node that holds ``path``: ``n3`` for ``n3[0]``, ``n2`` for ``n2/n0``.

    ``map_items_only``: None unless ``path`` is a map item.
    """
    if path.endswith("]") and "[" in path:
        return path[: path.rindex("[")]
    if map_items_only:
        return None
    if "/" in path:
        return path.rsplit("/", 1)[0]
    return None


def _styled_phase(phase: str | None) -> Text:
    if phase is None:
        return Text("-", style="dim")
    return Text(phase, style=PHASE_STYLES.get(phase, ""))


def node_label(node: NodeExecution, label: str, now: datetime | None = None) -> Text:
    """``n0 say_hello  SUCCEEDED  1 attempt  0.2s`` (and ``cached``, ``recovered``, the error)."""
    text = Text(label, style="bold")
    if node.task and not parent_path(node.node_path, map_items_only=True):
        text.append(f" {node.task}", style="cyan")
    text.append("  ")
    text.append_text(_styled_phase(node.phase))
    if node.attempts:
        count = len(node.attempts)
        text.append(f"  {count} attempt{'s' if count != 1 else ''}", style="dim")
    if node.cache_hit:
        text.append("  cached", style="cyan")
    if node.recovered:
        text.append("  recovered", style="cyan")
    ended = node.ended_at
    running = node.phase is not None and node.phase in ("QUEUED", "RUNNING")
    seconds = elapsed(node.started_at, ended, now if running else None)
    if seconds is not None:
        text.append(f"  {format_duration(seconds)}")
    if node.error is not None:
        text.append(f"  {short_error(node.error, 120)}", style="red")
    return text


def execution_label(execution: Execution, now: datetime | None = None) -> Text:
    """``execution NAME  PHASE  4.2s`` (what the tree hangs from)."""
    text = Text("execution ", style="dim")
    text.append(execution.name, style="bold")
    text.append("  ")
    text.append_text(_styled_phase(execution.phase.value))
    seconds = execution_duration(execution, now)
    if seconds is not None:
        text.append(f"  {format_duration(seconds)}")
    return text


def node_tree(
    execution: Execution, nodes: Sequence[NodeExecution], now: datetime | None = None
) -> Tree:
    """The execution's nodes as a tree: sub-workflow, branch and map children under their node.

    Nodes keep the API's order; a child whose parent is not listed (not
    started yet) hangs under a placeholder for the parent.
    """
    tree = Tree(execution_label(execution, now))
    branches: dict[str, Tree] = {}

    def attach(path: str) -> Tree:
        if path in branches:
            return branches[path]
        parent = parent_path(path)
        holder = tree if parent is None else attach(parent)
        label = path if parent is None else path[len(parent) :].lstrip("/")
        branches[path] = holder.add(Text(label, style="bold dim"))
        return branches[path]

    for node in nodes:
        parent = parent_path(node.node_path)
        holder = tree if parent is None else attach(parent)
        label = node.node_path if parent is None else node.node_path[len(parent) :].lstrip("/")
        if node.node_path in branches:  # a placeholder made for one of its children
            branches[node.node_path].label = node_label(node, label, now)
        else:
            branches[node.node_path] = holder.add(node_label(node, label, now))
    return tree


def _value_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def outputs_table(
    execution: Execution, types: Mapping[str, str] | None = None
) -> RenderableType | None:
    """The outputs of an execution as a table (output, type, value), or None without outputs."""
    outputs = execution.outputs or {}
    if not outputs:
        return None
    rows = [
        (name, (types or {}).get(name, "-"), _value_text(value)) for name, value in outputs.items()
    ]
    return make_table(("output", "type", "value"), rows, title=f"Outputs of {execution.name}")


def error_lines(error: ExecutionError | None) -> list[str]:
    """The error of a failed execution: its kind, code and message, then the traceback tail."""
    if error is None:
        return []
    lines = [f"{error.kind} {error}"]
    if error.traceback_tail:
        lines.extend("  " + line for line in error.traceback_tail.rstrip().splitlines())
    return lines


# --- talking to the cluster ------------------------------------------------------------------


def watch_command(execution: Execution) -> str:
    """The command that shows an execution's live node tree."""
    return (
        f"contrail get execution {execution.name} -p {execution.project} "
        f"-d {execution.domain} --watch"
    )


def print_launched(execution: Execution, verb: str = "Launched") -> None:
    """pyflyte's lines: the execution's name, then how to watch it (there is no console yet)."""
    console.print(
        f"{verb} execution [bold]{escape(execution.name)}[/] "
        f"(project {escape(execution.project)}, domain {escape(execution.domain)})"
    )
    console.print(f"Watch it with: {escape(watch_command(execution))}")


def watch(
    remote: Remote,
    name: str,
    *,
    poll: float = 0.5,
    project: str | None = None,
    domain: str | None = None,
) -> tuple[Execution, list[NodeExecution]]:
    """Show the live node tree of an execution until it ends; returns its last state.

    On a terminal the tree is redrawn as it changes; piped, only the final
    tree is printed.
    """
    execution = remote.get_execution(name, project=project, domain=domain)
    nodes = remote.node_executions(name, project=project, domain=domain)
    live = Live(
        node_tree(execution, nodes, _now()),
        console=console,
        refresh_per_second=4,
        auto_refresh=True,
    )
    if console.is_terminal:
        live.start()
    try:
        last_answer = time.monotonic()
        while not execution.is_done:
            time.sleep(poll)
            try:
                execution = remote.get_execution(name, project=project, domain=domain)
                nodes = remote.node_executions(name, project=project, domain=domain)
            except ServerUnavailable:
                # the launcher restarts mid-execution: keep watching for a while
                if time.monotonic() - last_answer > UNAVAILABLE_GRACE:
                    raise
                continue
            last_answer = time.monotonic()
            if console.is_terminal:
                live.update(node_tree(execution, nodes, _now()), refresh=True)
    finally:
        if console.is_terminal:
            live.update(node_tree(execution, nodes, _now()), refresh=True)
            live.stop()
    if not console.is_terminal:
        console.print(node_tree(execution, nodes, _now()))
    return execution, nodes


def finish(execution: Execution, types: Mapping[str, str] | None = None) -> None:
    """Print how an execution ended (outputs, or the error); exit 1 unless it SUCCEEDED."""
    duration = format_duration(execution_duration(execution))
    if execution.phase is ExecutionPhase.SUCCEEDED:
        console.print(f"Execution {escape(execution.name)} [green]SUCCEEDED[/] in {duration}")
        table = outputs_table(execution, types)
        if table is not None:
            console.print(table)
        return
    errors.print(
        f"[bold red]error:[/] [red]execution {escape(execution.name)} ended "
        f"{execution.phase.value} after {duration}[/]",
        soft_wrap=True,
    )
    for line in error_lines(execution.error):
        errors.print(f"  [red]{escape(line)}[/]", soft_wrap=True)
    raise typer.Exit(1)


def _now() -> datetime:
    return datetime.now(UTC)


_GET_COMMANDS = {ResourceType.TASK: "tasks", ResourceType.LAUNCH_PLAN: "launchplans"}


def newest_version(remote: Remote, config: Config, kind: ResourceType, name: str) -> str:
    """The newest registered version of task or launch plan ``name``.

    Raises ``NotFound`` naming what is missing (the project, when it is the project).
    """
    found = remote.list_entities(kind, config.project, config.domain, name=name, limit=1)
    if not found:
        require_project(remote, config.project)
        raise NotFound(
            f"no {kind.value.replace('_', ' ')} named {name} in project {config.project}, "
            f"domain {config.domain} (see `contrail get {_GET_COMMANDS[kind]}`)",
            status=404,
            code="not_found",
        )
    return found[0].identifier.version


def launch_plan_interface(
    remote: Remote, config: Config, name: str, version: str | None
) -> tuple[str, TypedInterface, set[str]]:
    """The version, the workflow interface and the fixed inputs of launch plan ``name``.

    ``version`` None: the newest registered. Raises ``NotFound`` naming what is missing.
    """
    version = version or newest_version(remote, config, ResourceType.LAUNCH_PLAN, name)
    entity = remote.get_launch_plan(config.project, config.domain, name, version)
    try:
        plan = LaunchPlanSpec.model_validate(entity.spec or {})
        ref = plan.workflow.resolve(config.project, config.domain, version)
        workflow = remote.get_workflow(ref.project, ref.domain, ref.name, ref.version)
        spec = WorkflowSpec.model_validate(workflow.spec or {})
    except ValidationError as error:
        raise CLIError(f"launch plan {name} ({version}): unexpected spec: {error}") from None
    return version, spec.interface, set(plan.fixed_inputs)


def output_types(remote: Remote, execution: Execution) -> dict[str, str]:
    """The rendered types of the workflow's outputs (empty when they can't be fetched)."""
    workflow = execution.workflow or {}
    try:
        entity = remote.get_workflow(
            str(workflow.get("project") or execution.project),
            str(workflow.get("domain") or execution.domain),
            str(workflow["name"]),
            str(workflow["version"]),
        )
        spec = WorkflowSpec.model_validate(entity.spec or {})
    except (KeyError, ValidationError, NotFound):
        return {}
    return {name: render(variable.type) for name, variable in spec.interface.outputs.items()}


# --- commands -------------------------------------------------------------------------------


def task_interface(
    remote: Remote, config: Config, name: str, version: str | None
) -> tuple[str, TypedInterface]:
    """The version and interface of task ``name`` (``version`` None: the newest registered)."""
    version = version or newest_version(remote, config, ResourceType.TASK, name)
    entity = remote.get_task(config.project, config.domain, name, version)
    try:
        spec = TaskSpec.model_validate(entity.spec or {})
    except ValidationError as error:
        raise CLIError(f"task {name} ({version}): unexpected spec: {error}") from None
    return version, spec.interface


def launch(
    launch_plan: Annotated[
        str | None,
        typer.Argument(help="The launch plan (or workflow) to launch; or give --task."),
    ] = None,
    task: Annotated[
        str | None, typer.Option("--task", help="Launch this registered task on its own.")
    ] = None,
    inputs: Annotated[
        list[str] | None,
        typer.Option("--input", "-i", help="An input as NAME=VALUE, read by its type; repeat."),
    ] = None,
    version: Annotated[
        str | None, typer.Option("--version", "-v", help="Version (default: the newest).")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="Execution name (default: generated).")
    ] = None,
    labels: Annotated[
        list[str] | None, typer.Option("--label", "-l", help="A label as KEY=VALUE; repeat.")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", "-w", help="Follow the execution to its end.")
    ] = False,
    project: ProjectOption = None,
    domain: DomainOption = None,
    endpoint: EndpointOption = None,
) -> None:
    """Launch an execution of a registered launch plan: contrail launch LP --input k=v ...

    Or of one registered task: contrail launch --task TASK --input k=v ...
    Values are read by the types of the launch plan's workflow (or the task):
    ints, floats, true/false, ISO datetimes, JSON for lists, dicts and records.
    """
    with reported_errors():
        if (launch_plan is None) == (task is None):
            raise CLIError("give a launch plan to launch, or --task TASK (one of the two)")
        problems = bad_names(execution_name=name)
        if problems:
            raise CLIError("; ".join(problems))
        with connected(project, domain, endpoint) as (config, remote):
            if task is not None:
                version, interface = task_interface(remote, config, task, version)
                literals = launch_inputs(split_pairs(inputs or []), interface)
            else:
                assert launch_plan is not None
                version, interface, _ = launch_plan_interface(remote, config, launch_plan, version)
                literals = launch_inputs(split_pairs(inputs or []), interface)
            execution = remote.launch(
                launch_plan,
                task=task,
                inputs=literals,
                name=name,
                version=version,
                labels=split_pairs(labels or [], "--label"),
            )
            print_launched(execution)
            if wait:
                execution, _ = watch(remote, execution.name)
                types = {n: render(v.type) for n, v in interface.outputs.items()}
                finish(execution, types)


def get_executions(
    phase: Annotated[
        ListedPhase | None,
        typer.Option("--phase", help="Only executions in this phase.", case_sensitive=False),
    ] = None,
    workflow: Annotated[
        str | None, typer.Option("--workflow", help="Only executions of this workflow.")
    ] = None,
    launch_plan: Annotated[
        str | None, typer.Option("--launch-plan", help="Only executions of this launch plan.")
    ] = None,
    limit: LimitOption = 100,
    output: OutputOption = OutputFormat.TABLE,
    project: ProjectOption = None,
    domain: DomainOption = None,
    endpoint: EndpointOption = None,
) -> None:
    """List the executions of a project and domain, newest first."""
    with reported_errors():
        with connected(project, domain, endpoint) as (config, remote):
            found = remote.list_executions(
                workflow=workflow, launch_plan=launch_plan, phase=phase, limit=limit
            )
            if not found:
                require_project(remote, config.project)
        now = _now()
        print_listing(
            [execution_document(e) for e in found],
            output,
            EXECUTION_COLUMNS,
            [execution_row(e, now) for e in found],
            f"No executions in project {config.project}, domain {config.domain}.",
        )


def get_execution(
    name: NameArgument,
    watch_: Annotated[
        bool,
        typer.Option("--watch", "-w", help="Show the live node tree until the execution ends."),
    ] = False,
    output: OutputOption = OutputFormat.TABLE,
    project: ProjectOption = None,
    domain: DomainOption = None,
    endpoint: EndpointOption = None,
) -> None:
    """Show one execution: its phase, node tree, outputs or error (--watch: live)."""
    with reported_errors():
        with connected(project, domain, endpoint) as (_, remote):
            if watch_ and output is OutputFormat.TABLE:
                execution, _ = watch(remote, name)
            else:
                execution = remote.get_execution(name)
            nodes = remote.node_executions(name)
            if output is not OutputFormat.TABLE:
                print_document(execution_document(execution, nodes), output)
                return
            if not watch_:
                console.print(make_table(EXECUTION_COLUMNS, [execution_row(execution, _now())]))
                console.print(node_tree(execution, nodes, _now()))
            table = outputs_table(execution, output_types(remote, execution))
        if table is not None:
            console.print(table)
        for line in error_lines(execution.error):
            console.print(f"[red]{escape(line)}[/]")


def logs(
    name: NameArgument,
    node: Annotated[
        str | None,
        typer.Option("--node", help="Node path (n0, n2/n0, n3[1]); default: every task node."),
    ] = None,
    attempt: Annotated[
        int | None, typer.Option("--attempt", help="Attempt number (default: the latest).", min=1)
    ] = None,
    stderr: Annotated[bool, typer.Option("--stderr", help="Show stderr, not stdout.")] = False,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing until the attempt ends.")
    ] = False,
    project: ProjectOption = None,
    domain: DomainOption = None,
    endpoint: EndpointOption = None,
) -> None:
    """Print what a task attempt wrote to stdout (or --stderr); --follow streams it."""
    stream = "stderr" if stderr else "stdout"
    with reported_errors(), connected(project, domain, endpoint) as (_, remote):
        if node is None:
            if attempt is not None or follow:
                raise CLIError("--attempt and --follow need --node")
            remote.get_execution(name)  # NotFound for an unknown execution
            for each in remote.node_executions(name):
                latest = each.latest_attempt
                if latest is None:
                    continue
                earlier = (
                    f"; earlier: --node {each.node_path} --attempt N, N < {latest.attempt}"
                    if latest.attempt > 1
                    else ""
                )
                console.print(
                    f"[dim]--- {escape(each.node_path)} (attempt {latest.attempt}"
                    f"{escape(earlier)}) ---[/]"
                )
                _write(remote.logs(name, each.node_path, latest.attempt, stream=stream))
            return
        nodes = remote.node_executions(name)
        _check_log_node(name, node, nodes)
        _write(remote.logs(name, node, attempt, stream=stream, follow=follow))
        shown = next((n for n in nodes if n.node_path == node), None)
        latest = shown.latest_attempt if shown is not None else None
        if attempt is None and latest is not None and latest.attempt > 1:
            errors.print(
                f"[dim]({escape(node)} ran {latest.attempt} attempts; this was the last: "
                f"--attempt N shows attempt N)[/]"
            )


def _check_log_node(name: str, node: str, nodes: Sequence[NodeExecution]) -> None:
    """``CLIError`` for a node with no log of its own: a map, sub-workflow or branch node."""
    found = next((n for n in nodes if n.node_path == node), None)
    if found is None or found.attempts:
        return
    children = [n.node_path for n in nodes if parent_path(n.node_path) == node]
    with_logs = [
        n.node_path
        for n in nodes
        if n.attempts and n.node_path.startswith((f"{node}[", f"{node}/"))
    ]
    if not children or not with_logs:
        return
    listed = ", ".join(with_logs[:5]) + (", ..." if len(with_logs) > 5 else "")
    raise CLIError(
        f"node {node} of execution {name} runs no task itself: its task nodes are "
        f"{listed}; e.g. --node {with_logs[0]}"
    )


def _write(chunks: Iterable[str]) -> None:
    last = ""
    for chunk in chunks:
        sys.stdout.write(chunk)
        sys.stdout.flush()
        last = chunk or last
    if last and not last.endswith("\n"):
        sys.stdout.write("\n")


def abort(
    name: NameArgument,
    cause: Annotated[
        str, typer.Option("--cause", help="Why: the aborted execution's error.")
    ] = "aborted by user",
    project: ProjectOption = None,
    domain: DomainOption = None,
    endpoint: EndpointOption = None,
) -> None:
    """Abort an execution: running attempts are terminated and it ends ABORTED.

    An execution that already ended is left as it is: exit status 1.
    """
    with reported_errors():
        with connected(project, domain, endpoint) as (_, remote):
            before = remote.get_execution(name)
            if not before.is_done:
                remote.abort(name, cause)
            execution = remote.get_execution(name)
        stored = f" (cause: {execution.error.message})" if execution.error else ""
        if before.is_done or execution.phase not in (
            ExecutionPhase.ABORTING,
            ExecutionPhase.ABORTED,
        ):
            raise CLIError(
                f"execution {name} already ended {execution.phase.value}{stored}; "
                "there is nothing to abort"
            )
        console.print(
            f"Aborting execution [bold]{escape(name)}[/]: now {execution.phase.value}"
            f"{escape(stored)}"
        )


NewNameOption = Annotated[
    str | None, typer.Option("--name", "-n", help="The new execution's name.")
]
WaitOption = Annotated[
    bool, typer.Option("--wait", "-w", help="Follow the new execution to its end.")
]


def _again(start: Callable[..., Run], label: str, doc: str) -> Callable[..., None]:
    """The command that starts a new execution from another with ``start`` (relaunch or
    recover) and prints it."""

    def command(
        name: NameArgument,
        new_name: NewNameOption = None,
        wait: WaitOption = False,
        project: ProjectOption = None,
        domain: DomainOption = None,
        endpoint: EndpointOption = None,
    ) -> None:
        with reported_errors():
            problems = bad_names(execution_name=new_name)
            if problems:
                raise CLIError("; ".join(problems))
            with connected(project, domain, endpoint) as (_, remote):
                execution = start(remote, name, new_name=new_name).execution
                print_launched(execution, label)
                if wait:
                    execution, _ = watch(remote, execution.name)
                    finish(execution, output_types(remote, execution))

    command.__doc__ = doc
    return command


relaunch = _again(
    Remote.relaunch,
    "Relaunched as",
    "Run an execution's launch plan again with the same inputs, as a new execution.",
)
recover = _again(
    Remote.recover,
    "Recovered as",
    "Start a new execution that reuses the outputs of the nodes that succeeded.",
)


def register_execution_commands(app: typer.Typer) -> None:
    """Mount ``launch``, ``logs``, ``abort``, ``relaunch`` and ``recover`` on ``app``."""
    app.command("launch")(launch)
    app.command("logs")(logs)
    app.command("abort")(abort)
    app.command("relaunch")(relaunch)
    app.command("recover")(recover)


def register_get_commands(app: typer.Typer) -> None:
    """Mount ``get executions`` and ``get execution`` on the ``get`` group."""
    app.command("executions")(get_executions)
    app.command("execution")(get_execution)

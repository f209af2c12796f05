"""``contrail run FILE ENTITY --input-name value ...``: run a task or workflow here.

As ``pyflyte run`` without ``--remote``: import FILE as a module of its
project, find the task, workflow or launch plan ENTITY in it, read each
``--input value`` by the input's type, run it in this process and print its
outputs. With ``--remote``, as ``pyflyte run --remote``: fast-register
FILE's module (source bundle and all), launch ENTITY on the cluster and print
the console URL; ``--wait`` follows the execution to its end and prints its
outputs, exiting 1 unless it SUCCEEDED.

The command's own options (``--remote``, ``--wait``, ``--project``,
``--domain``, ``--name``, ``--version``, ``--endpoint``) go before FILE, or
after ENTITY when the entity has no input of that name (an input wins:
``contrail run --remote wf.py wf --name x`` gives wf's input ``name``; the
execution's name then goes before FILE). Values are read as:

- ``int``, ``float``, ``str``; ``bool`` as true/false/yes/no/1/0 (``--flag`` alone
  is true, ``--no-flag`` false);
- ``datetime`` as ISO 8601 (UTC when no offset is given); a duration as seconds;
- lists, dicts and records (dataclasses, pydantic models) as JSON;
- ``File`` and ``Directory`` as a path or an ``s3://`` URI;
- optionals as ``none`` or a value.

Every failure is one line (and, for an exception from the user's own code,
the tail of its traceback), with exit status 1.
"""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import typer
from rich.markup import escape

from contrail.cli.cluster import connected
from contrail.cli.executions import finish, print_launched, watch
from contrail.cli.inputs import literal_of_text
from contrail.cli.options import DomainOption, EndpointOption, ProjectOption
from contrail.cli.output import (
    CLIError,
    console,
    errors,
    make_table,
    print_error,
    reported_errors,
)
from contrail.cli.projects import require_project
from contrail.cli.run_help import HELP_FLAGS, entities_listing, inputs_listing
from contrail.errors import ContrailError
from contrail.launch_plan import LaunchPlan
from contrail.loader import UserCodeError, find_project_root, load_modules
from contrail.run import Registered, start_run
from contrail.task import InputSlot, Interface, OutputStyle, Task
from contrail.types import TypeEngineError, from_literal, to_literal
from contrail.workflow import Workflow
from shared.literals import SimpleType, render

_CONTRAIL_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

Runnable = Task[..., object] | Workflow[..., object] | LaunchPlan[object]


RunError = CLIError
"""Something about the command line or the file: printed as one line."""


# --- finding the entity ---------------------------------------------------------


def file_entities(file: Path) -> tuple[ModuleType, dict[str, Runnable]]:
    """Import ``file`` as a module of its project: the module and its entities by attribute.

    Raises:
        RunError: the file is missing or not Python.
        UserCodeError: the module fails to import (naming file and line).
    """
    if not file.is_file():
        raise RunError(f"{file}: no such file")
    if file.suffix != ".py":
        raise RunError(f"{file}: not a Python file")
    root = find_project_root(file)
    (module,) = load_modules([file], root)
    return module, _runnables(module)


def load_entity(file: Path, name: str) -> Runnable:
    """Import ``file`` as a module of its project and find ``name`` in it.

    Raises:
        RunError: the file is missing or not Python, or has no such entity.
        UserCodeError: the module fails to import (naming file and line).
    """
    module, found = file_entities(file)
    entity = found.get(name) or found.get(name.removeprefix(module.__name__ + "."))
    if entity is None:
        known = ", ".join(sorted(found)) or "none"
        raise RunError(f"{file}: no task, workflow or launch plan named {name!r} (found: {known})")
    return entity


def _runnables(module: ModuleType) -> dict[str, Runnable]:
    return {
        attr: value
        for attr, value in vars(module).items()
        if isinstance(value, Task | Workflow | LaunchPlan) and not attr.startswith("_")
    }


def _interface(entity: Runnable) -> tuple[str, Interface]:
    """The entity's name, and the interface its command line offers (fixed inputs left out)."""
    if isinstance(entity, LaunchPlan):
        interface = entity.workflow.interface
        inputs = {
            name: slot for name, slot in interface.inputs.items() if name not in entity.fixed_inputs
        }
        return entity.name, Interface(inputs, interface.outputs, interface.style, interface.named)
    return entity.name, entity.interface


# --- reading inputs ---------------------------------------------------------------


def parse_options(args: Sequence[str], inputs: Mapping[str, InputSlot]) -> dict[str, str | bool]:
    """``--input-name value`` pairs (or ``--input-name=value``) by input name.

    A bool input may be given alone (``--flag``, true) or negated (``--no-flag``).

    Raises:
        RunError: a stray argument, an unknown or repeated input, or a missing value.
    """
    given: dict[str, str | bool] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("--") or arg == "--":
            raise RunError(f"unexpected argument {arg!r}; give inputs as --name value")
        key, has_value, value = arg[2:].partition("=")
        name = key.replace("-", "_")
        negated = False
        if name not in inputs and name.startswith("no_") and name[3:] in inputs:
            name, negated = name[3:], True
        if name not in inputs:
            known = ", ".join("--" + n.replace("_", "-") for n in inputs) or "none"
            raise RunError(f"unknown input --{key} (inputs: {known})")
        if name in given:
            raise RunError(f"--{key} is given twice")
        is_bool = inputs[name].type == SimpleType(kind="bool")
        if negated:
            if not is_bool or has_value:
                raise RunError(f"--{key}: only a bool input can be negated, without a value")
            given[name] = False
        elif has_value:
            given[name] = value
        elif i < len(args) and not args[i].startswith("--"):
            given[name] = args[i]
            i += 1
        elif is_bool:
            given[name] = True
        else:
            raise RunError(f"--{key}: missing value ({render(inputs[name].type)})")
    return given


def read_inputs(
    owner: str, interface: Interface, given: Mapping[str, str | bool]
) -> dict[str, Any]:
    """Python values of the inputs given on the command line.

    Raises:
        RunError: a value that is not of its input's type (naming the input).
    """
    values: dict[str, Any] = {}
    for name, raw in given.items():
        slot = interface.inputs[name]
        option = "--" + name.replace("_", "-")
        try:
            literal = raw if isinstance(raw, bool) else literal_of_text(raw, slot.type)
            values[name] = from_literal(literal, slot.annotation)
        except (ValueError, TypeEngineError) as error:
            raise RunError(f"{owner}: {option} ({render(slot.type)}): {error}") from None
    return values


# --- printing -------------------------------------------------------------------


def _outputs(interface: Interface, result: object) -> dict[str, object]:
    if interface.style is OutputStyle.NONE:
        return {}
    if interface.style is OutputStyle.SINGLE:
        return {"o0": result}
    assert isinstance(result, tuple)
    return dict(zip(interface.outputs, result, strict=True))


def _show(value: object, annotation: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(to_literal(value, annotation), ensure_ascii=False)
    except TypeEngineError:
        return repr(value)


def _print_outputs(name: str, interface: Interface, result: object) -> None:
    outputs = _outputs(interface, result)
    if not outputs:
        console.print(f"[green]{escape(name)}[/] succeeded (no outputs)")
        return
    rows = [
        (
            output,
            render(interface.outputs[output].type),
            _show(value, interface.outputs[output].annotation),
        )
        for output, value in outputs.items()
    ]
    console.print(make_table(("output", "type", "value"), rows, title=f"Outputs of {name}"))


def _print_user_exception(error: BaseException) -> None:
    errors.print(
        f"[bold red]error:[/] [red]{escape(type(error).__name__)}: {escape(str(error))}[/]",
        soft_wrap=True,
    )
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if not os.path.abspath(frame.filename).startswith(_CONTRAIL_DIR + os.sep)
    ]
    for frame in frames[-3:]:
        where = f'  File "{_display(frame.filename)}", line {frame.lineno}, in {frame.name}'
        errors.print(f"[dim]{escape(where)}[/]", soft_wrap=True)
        if frame.line:
            errors.print(f"    {escape(frame.line)}", soft_wrap=True, highlight=False)


def _display(path: str) -> str:
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


# --- the command -----------------------------------------------------------------


RUN_FLAGS = ("remote", "wait")
RUN_VALUES = ("project", "domain", "name", "version", "endpoint")
SHORT_OPTIONS = {"-p": "--project", "-d": "--domain"}


def split_run_options(
    args: Sequence[str], inputs: Mapping[str, InputSlot]
) -> tuple[dict[str, str | bool], list[str]]:
    """The command's own options given after ENTITY, and the arguments left for the inputs.

    An option that is also an input's name (``--name`` of a workflow taking
    ``name``) stays an input.

    Raises:
        RunError: a value option without its value.
    """
    options: dict[str, str | bool] = {}
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = SHORT_OPTIONS.get(args[i], args[i])
        i += 1
        key, has_value, value = arg[2:].partition("=") if arg.startswith("--") else ("", "", "")
        name = key.replace("-", "_")
        is_input = name in inputs or (name.startswith("no_") and name[3:] in inputs)
        if key and not is_input and name in RUN_FLAGS and not has_value:
            options[name] = True
            continue
        if key and not is_input and name in RUN_VALUES:
            if not has_value:
                if i >= len(args) or args[i].startswith("--"):
                    raise RunError(f"--{key}: missing value")
                value = args[i]
                i += 1
            options[name] = value
            continue
        rest.append(arg)
        if key and is_input and not has_value and i < len(args) and not args[i].startswith("--"):
            rest.append(args[i])  # the input's value, even if it looks like an option's name
            i += 1
    return options, rest


def run(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The Python file that defines ENTITY.")],
    entity: Annotated[
        str | None,
        typer.Argument(help="The task, workflow or launch plan to run (none: list FILE's)."),
    ] = None,
    remote: Annotated[
        bool,
        typer.Option("--remote", help="Register FILE's module and run ENTITY on the cluster."),
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="With --remote: follow the execution to its end.")
    ] = False,
    project: ProjectOption = None,
    domain: DomainOption = None,
    name: Annotated[
        str | None,
        typer.Option("--name", help="With --remote: the execution's name (default: generated)."),
    ] = None,
    version: Annotated[
        str | None,
        typer.Option(
            "--version", help="With --remote: version (default: digest of source and specs)."
        ),
    ] = None,
    endpoint: EndpointOption = None,
) -> None:
    """Run a task or workflow here, or on the cluster with --remote:
    contrail run [--remote] FILE ENTITY --input-name value ...

    Inputs are read by their type: numbers, true/false, ISO datetimes, JSON for
    lists, dicts and records, paths for files. Outputs are printed as a table.
    `contrail run FILE` lists FILE's entities; `contrail run FILE ENTITY --help`
    lists ENTITY's inputs with their types and defaults.
    """
    try:
        if entity is None or entity in HELP_FLAGS:
            _, found = file_entities(file)
            interfaces = {attr: _interface(each)[1] for attr, each in found.items()}
            console.print(entities_listing(str(file), found, interfaces))
            return
        runnable = load_entity(file, entity)
        entity_name, interface = _interface(runnable)
        if any(arg in HELP_FLAGS for arg in ctx.args):
            console.print(inputs_listing(str(file), entity, runnable, interface))
            return
        options, rest = split_run_options(list(ctx.args), interface.inputs)
        given = parse_options(rest, interface.inputs)
        values = read_inputs(entity_name, interface, given)
    except (RunError, UserCodeError, ContrailError) as error:
        print_error(error)
        raise typer.Exit(1) from None
    remote = remote or bool(options.get("remote"))
    if remote:
        _run_remote(
            runnable,
            interface,
            values,
            wait=wait or bool(options.get("wait")),
            project=project or _text(options.get("project")),
            domain=domain or _text(options.get("domain")),
            execution_name=name or _text(options.get("name")),
            version=version or _text(options.get("version")),
            endpoint=endpoint or _text(options.get("endpoint")),
        )
        return
    if wait or options:
        given_options = ["--" + o for o in options] + (["--wait"] if wait else [])
        print_error(RunError(f"{', '.join(given_options)}: only with --remote"))
        raise typer.Exit(1)
    try:
        result = runnable(**values)
    except ContrailError as error:
        print_error(error)
        raise typer.Exit(1) from None
    except Exception as error:
        _print_user_exception(error)
        raise typer.Exit(1) from None
    _print_outputs(entity_name, interface, result)


def _text(value: str | bool | None) -> str | None:
    return value if isinstance(value, str) else None


def _run_remote(
    runnable: Runnable,
    interface: Interface,
    values: Mapping[str, Any],
    *,
    wait: bool,
    project: str | None,
    domain: str | None,
    execution_name: str | None,
    version: str | None,
    endpoint: str | None,
) -> None:
    with reported_errors(), connected(project, domain, endpoint) as (config, client):
        console.print(
            f"Running {escape(runnable.name)} on {escape(config.endpoint)} "
            f"(project {escape(config.project)}, domain {escape(config.domain)})",
            highlight=False,
        )
        require_project(client, config.project)

        def registered(done: Registered) -> None:
            new = f", {done.created} new" if done.created else ", all already registered"
            console.print(
                f"Registered {done.total} entities with version {escape(done.version)}{new}",
                highlight=False,
            )

        started = start_run(
            client,
            runnable,
            execution_name=execution_name,
            project=config.project,
            domain=config.domain,
            version=version,
            labels=None,
            inputs=values,
            on_registered=registered,
        )
        print_launched(started.execution)
        if wait:
            execution, _ = watch(client, started.name)
            types = {n: render(slot.type) for n, slot in interface.outputs.items()}
            finish(execution, types)


RUN_CONTEXT: dict[str, Any] = {
    "allow_extra_args": True,
    "ignore_unknown_options": True,
    # options after FILE are ENTITY's inputs (or ours, see split_run_options)
    "allow_interspersed_args": False,
}
"""Click settings that let ``--input-name value`` options through to ``run``."""


def register_run_command(app: typer.Typer) -> None:
    """Mount ``run`` on ``app`` as ``contrail run``."""
    app.command("run", context_settings=RUN_CONTEXT)(run)

"""``contrail run FILE ENTITY --input-name value ...``: run a task or workflow here.

As ``pyflyte run`` without ``--remote``: import FILE as a module of its
project, find the task, workflow or launch plan ENTITY in it, read each
``--input value`` by the input's type, run it in this process and print its
outputs. Values are read as:

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

import base64
import json
import os
import traceback
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import typer
from rich.markup import escape

from contrail.cli.output import console, errors, make_table, print_error
from contrail.files import Directory, File
from contrail.launch_plan import LaunchPlan
from contrail.loader import UserCodeError, find_project_root, load_modules
from contrail.task import ContrailError, InputSlot, Interface, OutputStyle, Task
from contrail.types import TypeEngineError, from_literal, to_literal
from contrail.workflow import Workflow
from shared.literals import (
    NONE,
    BlobType,
    DictType,
    EnumType,
    ListType,
    LiteralType,
    RecordType,
    SimpleType,
    UnionType,
    render,
)

_CONTRAIL_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}

Runnable = Task[..., object] | Workflow[..., object] | LaunchPlan[object]


class RunError(Exception):
    """Something about the command line or the file: printed as one line."""


# --- finding the entity ---------------------------------------------------------


def load_entity(file: Path, name: str) -> Runnable:
    """Import ``file`` as a module of its project and find ``name`` in it.

    Raises:
        RunError: the file is missing or not Python, or has no such entity.
        UserCodeError: the module fails to import (naming file and line).
    """
    if not file.is_file():
        raise RunError(f"{file}: no such file")
    if file.suffix != ".py":
        raise RunError(f"{file}: not a Python file")
    root = find_project_root(file)
    (module,) = load_modules([file], root)
    found = _runnables(module)
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


def literal_of_text(text: str, t: LiteralType) -> Any:
    """The literal of a command-line value for an input of type ``t``.

    Raises:
        ValueError: the text is not a value of ``t``; the message says what is expected.
    """
    match t:
        case SimpleType(kind="str"):
            return text
        case SimpleType(kind="int"):
            try:
                return int(text)
            except ValueError:
                raise ValueError(f"expected an int, got {text!r}") from None
        case SimpleType(kind="float"):
            try:
                return float(text)
            except ValueError:
                raise ValueError(f"expected a number, got {text!r}") from None
        case SimpleType(kind="bool"):
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError(f"expected true or false, got {text!r}")
        case SimpleType(kind="none"):
            if text.lower() in ("none", "null", ""):
                return None
            raise ValueError(f"expected none, got {text!r}")
        case SimpleType(kind="datetime"):
            try:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(
                    f"expected an ISO 8601 datetime such as 2024-05-01T12:00:00Z, got {text!r}"
                ) from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return moment.astimezone(UTC).isoformat()
        case SimpleType(kind="duration"):
            try:
                return float(text)
            except ValueError:
                raise ValueError(f"expected a duration in seconds, got {text!r}") from None
        case SimpleType(kind="bytes"):
            return base64.b64encode(text.encode()).decode("ascii")
        case EnumType():
            if text in t.values:
                return text
            raise ValueError(f"expected one of {', '.join(t.values)}, got {text!r}")
        case ListType() | DictType() | RecordType():
            try:
                return json.loads(text)
            except json.JSONDecodeError as error:
                raise ValueError(f"expected JSON ({render(t)}): {error}") from None
        case BlobType():
            blob = File(text) if t.kind == "file" else Directory(text)
            if not blob.is_remote and not os.path.exists(blob.path):
                raise ValueError(f"no such {t.kind}: {text}")
            return {"uri": blob.uri}
        case UnionType():
            if NONE in t.variants and text.lower() in ("none", "null"):
                return None
            problems = []
            for variant in t.variants:
                if variant == NONE:
                    continue
                try:
                    return literal_of_text(text, variant)
                except ValueError as error:
                    problems.append(str(error))
            raise ValueError("; ".join(problems))
    raise ValueError(f"can't read {render(t)} from the command line")


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


def run(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="The Python file that defines ENTITY."),
    entity: str = typer.Argument(..., help="The task, workflow or launch plan to run."),
) -> None:
    """Run a task or workflow here: contrail run FILE ENTITY --input-name value ...

    Inputs are read by their type: numbers, true/false, ISO datetimes, JSON for
    lists, dicts and records, paths for files. Outputs are printed as a table.
    """
    try:
        runnable = load_entity(file, entity)
        name, interface = _interface(runnable)
        given = parse_options(list(ctx.args), interface.inputs)
        values = read_inputs(name, interface, given)
    except (RunError, UserCodeError, ContrailError) as error:
        print_error(error)
        raise typer.Exit(1) from None
    try:
        result = runnable(**values)
    except ContrailError as error:
        print_error(error)
        raise typer.Exit(1) from None
    except Exception as error:
        _print_user_exception(error)
        raise typer.Exit(1) from None
    _print_outputs(name, interface, result)


RUN_CONTEXT: dict[str, Any] = {"allow_extra_args": True, "ignore_unknown_options": True}
"""Click settings that let ``--input-name value`` options through to ``run``."""


def register_run_command(app: typer.Typer) -> None:
    """Mount ``run`` on ``app`` as ``contrail run``."""
    app.command("run", context_settings=RUN_CONTEXT)(run)

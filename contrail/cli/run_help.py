"""What ``contrail run`` shows a user looking for the right entity and inputs, as ``pyflyte run``:

- ``contrail run FILE``: the tasks, workflows and launch plans FILE defines;
- ``contrail run FILE ENTITY --help``: ENTITY's inputs, with their types and defaults.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from contrail.cli.output import make_table
from contrail.launch_plan import LaunchPlan
from contrail.task import InputSlot, Interface, Task
from contrail.workflow import Workflow
from shared.literals import render

HELP_FLAGS = ("--help", "-h")


def kind_of(entity: object) -> str:
    """``task``, ``workflow`` or ``launch plan``."""
    if isinstance(entity, Task):
        return "task"
    if isinstance(entity, Workflow):
        return "workflow"
    if isinstance(entity, LaunchPlan):
        return "launch plan"
    return type(entity).__name__


def _default_text(slot: InputSlot) -> str:
    if not slot.has_default:
        return "(required)"
    value: Any = slot.default_literal if slot.default_literal is not None else slot.default
    # JSON, as the value is typed on the command line: "union" (a str), not union (a type?).
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def option_name(name: str) -> str:
    """``--input-name`` for input ``input_name``."""
    return "--" + name.replace("_", "-")


def entities_listing(
    file: str, found: Mapping[str, object], inputs: Mapping[str, Interface]
) -> RenderableType:
    """The entities ``file`` defines (by attribute name), their kind and inputs."""
    rows = []
    for attr, entity in sorted(found.items()):
        interface = inputs[attr]
        given = " ".join(
            f"{option_name(n)} {render(s.type)}" + ("" if not s.has_default else "?")
            for n, s in interface.inputs.items()
        )
        rows.append((attr, kind_of(entity), given or "-"))
    if not rows:
        return Text(f"{file} defines no task, workflow or launch plan.")
    table = make_table(("ENTITY", "KIND", "INPUTS (? has a default)"), rows)
    usage = Text(
        f"Run one: contrail run {file} ENTITY --input-name value ...  "
        f"(its inputs: contrail run {file} ENTITY --help)"
    )
    return Group(Text(f"Entities of {file}:"), table, usage)


def inputs_listing(file: str, attr: str, entity: object, interface: Interface) -> RenderableType:
    """ENTITY's inputs as options, with their types and defaults, and its outputs."""
    doc = (getattr(entity, "__doc__", None) or "").strip()
    head = Text(f"Usage: contrail run [--remote] {file} {attr} [INPUTS]")
    parts: list[RenderableType] = [head]
    own_doc = doc and doc != (type(entity).__doc__ or "").strip()
    if own_doc:
        parts.append(Text(doc.splitlines()[0]))
    if interface.inputs:
        rows = [
            (option_name(name), render(slot.type), _default_text(slot))
            for name, slot in interface.inputs.items()
        ]
        parts.append(make_table(("INPUT", "TYPE", "DEFAULT"), rows, title=f"Inputs of {attr}"))
    else:
        parts.append(Text(f"{attr} takes no input."))
    if interface.outputs:
        outputs = [(name, render(slot.type)) for name, slot in interface.outputs.items()]
        parts.append(make_table(("OUTPUT", "TYPE"), outputs, title=f"Outputs of {attr}"))
    parts.append(
        Text(
            "Values are read by their type: numbers, true/false, ISO datetimes, JSON for "
            "lists, dicts and records, paths for files. A bool input is given alone "
            "(--flag) or negated (--no-flag)."
        )
    )
    return Group(*parts)

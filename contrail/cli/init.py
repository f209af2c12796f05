"""``contrail init``: a new project from a template, like ``pyflyte init``."""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from contrail.cli.output import CLIError, console, reported_errors

TEMPLATE_SUFFIX = ".tmpl"
DOT_PREFIX = "dot-"


def templates() -> list[str]:
    """The names of the templates shipped with contrail."""
    root = resources.files("contrail") / "templates"
    return sorted(entry.name for entry in root.iterdir() if entry.is_dir())


def _files(folder: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    found: list[tuple[str, Traversable]] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name == "__pycache__":
            continue
        if entry.is_dir():
            found.extend(_files(entry, f"{prefix}{entry.name}/"))
        elif entry.name.endswith(TEMPLATE_SUFFIX):
            name = entry.name.removesuffix(TEMPLATE_SUFFIX)
            if name.startswith(DOT_PREFIX):
                name = "." + name.removeprefix(DOT_PREFIX)
            found.append((prefix + name, entry))
    return found


def render_template(template: str, target: Path) -> list[str]:
    """Write ``template`` into the folder ``target`` (made if missing); return the files written.

    ``{{ project_name }}`` in a template file becomes the folder's name.
    Raises ``CLIError`` when the template is unknown or ``target`` is a file
    or a folder that is not empty.
    """
    available = templates()
    if template not in available:
        raise CLIError(f"no template {template!r} (available: {', '.join(available)})")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise CLIError(f"{target} already exists and is not an empty folder; choose another name")
    project_name = target.resolve().name
    files = _files(resources.files("contrail") / "templates" / template)
    for relative, source in files:
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text(encoding="utf-8").replace("{{ project_name }}", project_name)
        path.write_text(text, encoding="utf-8")
    return [relative for relative, _ in files]


def init(
    name: Annotated[Path, typer.Argument(help="Folder of the new project (made if missing).")],
    template: Annotated[
        str, typer.Option("--template", "-t", help="Template to start from.")
    ] = "basic",
) -> None:
    """Create a new project from a template: a workflow, a README and ignore rules."""
    with reported_errors():
        written = render_template(template, name)
        console.print(
            f"[✔] Created project {escape(str(name))} from template {escape(template)}:",
            highlight=False,
        )
        for relative in written:
            console.print(f"    {escape(str(name / relative))}", highlight=False)
        console.print(
            "Next: "
            f"cd {escape(str(name))} && contrail run workflows/example.py wf --name you, "
            "then: contrail register workflows",
            highlight=False,
        )

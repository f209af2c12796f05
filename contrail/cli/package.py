"""``contrail package``: a portable archive of specs and source, registered later anywhere.

The archive (see ``contrail.bundle``) holds no project, domain or version:
``contrail register files --archive FILE --project P --domain D --version V``
gives them, on whichever cluster.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from contrail.bundle import CopyMode, SourceBundle, build_package, build_source_bundle, select_files
from contrail.cli.output import CLIError, console, entity_count, format_size, reported_errors
from contrail.cli.register import (
    TYPE_LABELS,
    compute_version,
    load_project,
    resource_type_of,
    with_image,
)


def package(
    pkgs: Annotated[
        list[Path],
        typer.Option(
            "--pkgs", help="A folder (package) to include; repeat for several.", exists=True
        ),
    ],
    image: Annotated[
        str | None, typer.Option("--image", "-i", help="Image of the tasks that set none.")
    ] = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the archive.")
    ] = Path("contrail-package.tgz"),
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Overwrite the output file if it exists.")
    ] = False,
    copy: Annotated[
        CopyMode,
        typer.Option(
            "--copy",
            help="Source to bundle: auto (the loaded packages), all (the whole root), none.",
            case_sensitive=False,
        ),
    ] = CopyMode.AUTO,
) -> None:
    """Serialize the entities of --pkgs and their source into a portable archive."""
    with reported_errors():
        if output.exists() and not force:
            raise CLIError(f"{output} exists; use --force to overwrite it")
        loaded = load_project(pkgs)
        console.print(
            f"Loading packages {escape(str(loaded.packages))} under source root "
            f"{escape(str(loaded.root))}",
            highlight=False,
        )
        plan = with_image(loaded.plan, image)
        if plan.count == 0:
            raise CLIError(f"no task, workflow or launch plan found in {', '.join(map(str, pkgs))}")
        source: SourceBundle | None = None
        if copy is not CopyMode.NONE:
            files = select_files(loaded.root, copy, loaded.module_files)
            source = build_source_bundle(loaded.root, files)
        version = compute_version(source.digest if source else None, plan.specs())
        content = build_package(plan.specs(), source, version, image)
        partial = output.with_name(output.name + ".partial")
        output.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(content)
        os.replace(partial, output)
        for spec in plan.specs():
            kind = TYPE_LABELS[resource_type_of(spec)]
            console.print(escape(f"[✔] Packaged {spec.name} type {kind}"), highlight=False)
        files_note = f", {len(source.files)} source files" if source else ", no source"
        console.print(
            f"Successfully packaged {entity_count(plan.count)}{files_note} into "
            f"{escape(str(output))} ({format_size(len(content))})",
            highlight=False,
        )

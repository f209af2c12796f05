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

from contrail.bundle import CopyMode, build_package
from contrail.cli.options import CopyOption, ImageOption
from contrail.cli.output import CLIError, console, entity_count, format_size, reported_errors
from contrail.cli.register import TYPE_LABELS, print_loaded
from contrail.registration import build, resource_type_of


def package(
    pkgs: Annotated[
        list[Path],
        typer.Option(
            "--pkgs", help="A folder (package) to include; repeat for several.", exists=True
        ),
    ],
    image: ImageOption = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the archive.")
    ] = Path("contrail-package.tgz"),
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Overwrite the output file if it exists.")
    ] = False,
    copy: CopyOption = CopyMode.AUTO,
) -> None:
    """Serialize the entities of --pkgs and their source into a portable archive."""
    with reported_errors():
        if output.exists() and not force:
            raise CLIError(f"{output} exists; use --force to overwrite it")
        built = build(pkgs, copy=copy, image=image)
        print_loaded(built, root_line=False)
        plan, source = built.plan, built.source
        content = build_package(plan.specs(), source, built.version, image)
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

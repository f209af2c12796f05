"""The options many commands share, declared once: where to talk to, what to show, what to bundle.

``--project``, ``--domain`` and ``--endpoint`` override the ``CONTRAIL_*``
variables, which override the config file (``contrail.config``);
``contrail.cli.cluster.connected`` resolves them and opens the client.
"""

from __future__ import annotations

from typing import Annotated

import typer

from contrail.bundle import CopyMode
from contrail.cli.output import OutputFormat
from contrail.config import DEFAULT_DOMAIN, DEFAULT_PROJECT

ProjectOption = Annotated[
    str | None,
    typer.Option(
        "--project",
        "-p",
        help=f"Project (default: CONTRAIL_PROJECT, the config file, or {DEFAULT_PROJECT}).",
        show_default=False,
    ),
]
DomainOption = Annotated[
    str | None,
    typer.Option(
        "--domain",
        "-d",
        help=f"Domain (default: CONTRAIL_DOMAIN, the config file, or {DEFAULT_DOMAIN}).",
        show_default=False,
    ),
]
EndpointOption = Annotated[
    str | None,
    typer.Option(
        "--endpoint",
        help="API endpoint (default: CONTRAIL_ENDPOINT, the config file, or the local stack).",
        show_default=False,
    ),
]
OutputOption = Annotated[
    OutputFormat,
    typer.Option("--output", "-o", help="table, json or yaml.", case_sensitive=False),
]
LimitOption = Annotated[int, typer.Option("--limit", help="At most this many rows.", min=1)]
ImageOption = Annotated[
    str | None, typer.Option("--image", "-i", help="Image of the tasks that set none.")
]
CopyOption = Annotated[
    CopyMode,
    typer.Option(
        "--copy",
        help="Source to bundle: auto (the loaded packages), all (the whole root), none.",
        case_sensitive=False,
    ),
]

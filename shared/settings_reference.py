"""``python -m shared.settings_reference [--check]``: every setting into docs/settings.md.

Each setting is an environment variable; the reference lists them by who
reads them, with their defaults and descriptions taken from the models in
``shared.settings``, so the document cannot drift from the code (``--check``
and a unit test fail when it does).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Any

from pydantic import AliasChoices
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from shared.settings import (
    SERVICE_SETTINGS,
    InfraSettings,
    ServiceSettings,
    StackSettings,
    WorkerSettings,
)

DOCUMENT = Path(__file__).resolve().parents[1] / "docs" / "settings.md"

_INTRO = """\
# Settings

Every component reads its settings from environment variables prefixed
`CONTRAIL_`; an unset variable takes the default below. The local stack
(`contrail demo up`) starts each component with the defaults, so nothing needs
setting on one machine.

Generated from `shared/settings.py` by `python -m shared.settings_reference`;
do not edit by hand (CI fails when this file and the code differ).
"""


def variable(name: str, field: FieldInfo) -> str:
    """The environment variable of setting ``name``."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return f"CONTRAIL_{name.upper()}"


def default_text(field: FieldInfo) -> str:
    value: Any = field.default
    if value is PydanticUndefined and field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    if value is None:
        return "unset"
    text = str(value)
    home = str(Path.home())
    if text.startswith(home):
        text = "~" + text[len(home) :]
    return f"`{text}`"


def _table(fields: dict[str, FieldInfo], skip: Collection[str] = ()) -> list[str]:
    lines = ["| variable | default | |", "|---|---|---|"]
    for name, field in fields.items():
        if name in skip:
            continue
        description = " ".join((field.description or "").split())
        description = description.replace("``", "`").replace("|", "\\|")
        lines.append(f"| `{variable(name, field)}` | {default_text(field)} | {description} |")
    return lines


def _own(model: type[Any], base: type[Any]) -> dict[str, FieldInfo]:
    inherited = base.model_fields
    return {name: field for name, field in model.model_fields.items() if name not in inherited}


def render() -> str:
    sections: list[list[str]] = [[_INTRO.rstrip()]]
    sections.append(
        [
            "## Infrastructure",
            "",
            "Read by every service, the worker and the CLI's stack commands.",
            "",
            *_table(InfraSettings.model_fields),
        ]
    )
    ports = ", ".join(
        f"`CONTRAIL_{name.upper()}_PORT` ({cls.default_port})"
        for name, cls in SERVICE_SETTINGS.items()
    )
    sections.append(
        [
            "## Every service",
            "",
            f"Each service listens on its own port: {ports}.",
            "",
            *_table(_own(ServiceSettings, InfraSettings), skip={"port"}),
        ]
    )
    for name, cls in SERVICE_SETTINGS.items():
        own = _own(cls, ServiceSettings)
        if own:
            sections.append([f"## The {name}", "", *_table(own)])
    sections.append(
        [
            "## The worker",
            "",
            "`python -m services.launcher.worker`; `--concurrency` overrides its variable.",
            "",
            # CONTRAIL_HOME is the stack's folder, documented once, with the stack
            *_table(_own(WorkerSettings, InfraSettings), skip={"home"}),
        ]
    )
    sections.append(
        ["## The local stack (`contrail demo`)", "", *_table(_own(StackSettings, InfraSettings))]
    )
    return "\n\n".join("\n".join(section) for section in sections) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.settings_reference")
    parser.add_argument("--check", action="store_true", help=f"fail if {DOCUMENT} is stale")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not DOCUMENT.is_file() or DOCUMENT.read_text() != text:
            print(
                f"{DOCUMENT} is out of date; run `python -m shared.settings_reference`",
                file=sys.stderr,
            )
            return 1
        print("the settings reference is up to date")
        return 0
    DOCUMENT.write_text(text)
    print(DOCUMENT)
    return 0


if __name__ == "__main__":
    sys.exit(main())

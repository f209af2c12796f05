"""``python -m services.openapi [--check]``: the services' OpenAPI documents, in docs/openapi/.

Generated from the FastAPI apps (nothing connects), so clients in any
language can be built from them; a unit test fails when they drift.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from shared.settings import SERVICE_NAMES

OPENAPI_DIR = Path(__file__).resolve().parent.parent / "docs" / "openapi"


def document(service: str) -> dict[str, Any]:
    """The OpenAPI document of ``service``'s HTTP app."""
    module = importlib.import_module(f"services.{service}.entrypoints.http")
    spec: dict[str, Any] = module.build_app().openapi()
    return spec


def render(spec: dict[str, Any]) -> str:
    return json.dumps(spec, indent=2, sort_keys=True) + "\n"


def stale(directory: Path = OPENAPI_DIR) -> list[str]:
    """The services whose document in ``directory`` is missing or differs."""
    return [
        service
        for service in SERVICE_NAMES
        if not (directory / f"{service}.json").is_file()
        or (directory / f"{service}.json").read_text() != render(document(service))
    ]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m services.openapi")
    parser.add_argument("--check", action="store_true", help="fail if docs/openapi/ drifted")
    args = parser.parse_args()
    if args.check:
        drifted = stale()
        if drifted:
            print(
                f"OpenAPI documents out of date: {', '.join(drifted)}; "
                "run `python -m services.openapi`",
                file=sys.stderr,
            )
            return 1
        print("OpenAPI documents are up to date")
        return 0
    OPENAPI_DIR.mkdir(parents=True, exist_ok=True)
    for service in SERVICE_NAMES:
        path = OPENAPI_DIR / f"{service}.json"
        path.write_text(render(document(service)))
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

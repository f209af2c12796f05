"""JSON Schemas of every event type, generated from the catalogue's models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.events.catalogue import EVENT_TYPES
from shared.events.envelope import CloudEvent

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "docs" / "events"


def event_schemas() -> dict[str, dict[str, Any]]:
    """``{type: JSON Schema of its whole envelope}``, one per catalogued type."""
    schemas: dict[str, dict[str, Any]] = {}
    for event_type, data_cls in sorted(EVENT_TYPES.items()):
        schema = CloudEvent[data_cls].model_json_schema()  # type: ignore[valid-type]
        schema["title"] = event_type
        schema["$id"] = f"urn:contrail:event-schema:{event_type}"
        schema["properties"]["type"]["const"] = event_type
        schemas[event_type] = schema
    return schemas


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def stale_files(directory: Path = SCHEMA_DIR) -> list[str]:
    """The schema files that are missing, differ from the models, or are left over."""
    expected = {f"{name}.json": render(schema) for name, schema in event_schemas().items()}
    present = {p.name for p in directory.glob("*.json")} if directory.is_dir() else set()
    stale = [
        name
        for name, text in expected.items()
        if name not in present or (directory / name).read_text() != text
    ]
    return sorted(stale + [name for name in present if name not in expected])


def write(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write every schema file, and remove those of types no longer in the catalogue."""
    directory.mkdir(parents=True, exist_ok=True)
    expected = {f"{name}.json": render(schema) for name, schema in event_schemas().items()}
    for path in directory.glob("*.json"):
        if path.name not in expected:
            path.unlink()
    written = []
    for name, text in expected.items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written

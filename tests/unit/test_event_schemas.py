"""The generated event schemas match the models (CI fails on drift)."""

from __future__ import annotations

import json
from pathlib import Path

from shared.events import EVENT_TYPES
from shared.events.schemas import SCHEMA_DIR, event_schemas, stale_files, write


def test_docs_events_is_generated_from_the_models() -> None:
    assert stale_files() == [], "run `python -m shared.events` and commit docs/events/"


def test_every_event_type_has_a_schema_that_fixes_its_type() -> None:
    schemas = event_schemas()
    assert set(schemas) == set(EVENT_TYPES)
    for event_type, schema in schemas.items():
        assert schema["properties"]["type"]["const"] == event_type
        assert "data" in schema["required"]


def test_drift_is_detected(tmp_path: Path) -> None:
    write(tmp_path)
    target = tmp_path / "contrail.task.registered.json"
    schema = json.loads(target.read_text())
    schema["properties"].pop("traceparent")
    target.write_text(json.dumps(schema))
    (tmp_path / "contrail.retired.json").write_text("{}")

    assert stale_files(tmp_path) == ["contrail.retired.json", "contrail.task.registered.json"]
    assert SCHEMA_DIR.name == "events"

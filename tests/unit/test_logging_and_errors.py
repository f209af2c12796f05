"""JSON log lines and HTTP error bodies, without I/O."""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider

from shared.errors import Conflict
from shared.service.errors import install_error_handlers
from shared.telemetry import JsonLogFormatter


def test_a_log_line_is_json_with_the_trace_id_of_the_current_span() -> None:
    formatter = JsonLogFormatter("registry")
    tracer = TracerProvider().get_tracer("t")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    record.execution = "e1"

    with tracer.start_as_current_span("s") as span:
        line = json.loads(formatter.format(record))

    assert line["message"] == "hello world"
    assert line["service"] == "registry"
    assert line["execution"] == "e1"
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/conflict")
    async def conflict() -> None:
        raise Conflict("task t differs", [{"field": "image"}])

    @app.get("/items/{n}")
    async def item(n: int) -> dict[str, int]:
        return {"n": n}

    return app


def test_errors_have_a_machine_readable_body() -> None:
    client = TestClient(_app())

    conflict = client.get("/conflict")
    missing = client.get("/nowhere")
    invalid = client.get("/items/abc")

    assert conflict.status_code == 409
    assert conflict.json() == {
        "error": {"code": "conflict", "message": "task t differs", "details": [{"field": "image"}]}
    }
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert invalid.status_code == 400
    assert invalid.json()["error"]["details"][0]["field"] == "path.n"

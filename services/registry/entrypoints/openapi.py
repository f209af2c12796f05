"""What the registry adds to its generated OpenAPI document.

The create endpoints read their bodies themselves (JSON or YAML, size-limited
before parsing), so FastAPI does not see their models; ``request_body`` names
them and ``document_request_models`` puts their schemas into the document.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.service.errors import error_responses as _error_responses

_ERRORS: dict[int, str] = {
    400: "Invalid request, identifier or spec, or it does not compile",
    404: "No such entity",
    409: "The identifier is registered with a different spec",
    413: "The body is over the size limit",
    415: "The body is neither JSON nor YAML",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for the error statuses an endpoint answers."""
    return _error_responses(_ERRORS, *statuses)


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra=`` naming ``model`` as the JSON or YAML body."""
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": schema},
                "application/yaml": {"schema": schema},
            },
        }
    }


def document_request_models(app: FastAPI, models: Sequence[type[BaseModel]]) -> None:
    """Add ``models`` (and what they use) to the components of ``app``'s OpenAPI document."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            _, definitions = models_json_schema(
                [(model, "validation") for model in models],
                ref_template="#/components/schemas/{model}",
            )
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in definitions.get("$defs", {}).items():
                schemas.setdefault(name, schema)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

"""The one exception handler of every service: ``ServiceError`` (and the framework's) to HTTP.

``create_service_app`` installs it; a service adds no handler of its own. The
body is always ``{"error": {"code", "message", "details"}}`` (see
``shared.errors``): a ``ServiceError`` answers its own ``status`` and
``code``, FastAPI's request validation is a 400 ``invalid_request`` naming each
field, an unknown route or method keeps its status, a value PostgreSQL refuses
to store (a NUL in a text, a number out of range) is a 400 ``invalid_request``,
and anything unexpected is a 500 ``internal_error`` (logged with its traceback
by the server).

The OpenAPI document says the same: ``error_responses`` documents a route's
error statuses with ``ErrorBody``, and the 422 FastAPI would document for
invalid parameters is the 400 the handler answers.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.errors import InvalidRequest, ServiceError, error_body


class ErrorDetail(BaseModel):
    code: str = Field(examples=["not_found"], description="Machine-readable; clients match on it.")
    message: str
    details: list[dict[str, Any]] = Field(
        default_factory=list,
        description="One item per fault, naming what is at fault: invalid_request "
        "{field, message}; invalid_inputs {input, code, message}; compile_error "
        "{code, node, input, message}; conflict {path, registered, submitted, change}.",
    )


class ErrorBody(BaseModel):
    """Every error a Contrail service answers."""

    error: ErrorDetail


# JSON whatever the route's own media type (a log is text/plain; its errors are not).
_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}


def error_responses(
    descriptions: Mapping[int, str], *statuses: int
) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route answering ``statuses``, described by a service's table."""
    return {
        status: {"description": descriptions[status], "content": _ERROR_CONTENT}
        for status in statuses
    }


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
}


async def _service_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return _answer(exc)


def _answer(error: ServiceError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    cause = exc.__cause__
    if isinstance(cause, ServiceError):  # raised while FastAPI read the body (RequestLimits)
        return await _service_error(request, cause)
    if exc.status_code == 400 and isinstance(cause, RecursionError | ValueError):
        # FastAPI's json.loads failed on something other than syntax: say what.
        problem = _unparsable(cause)
        return _answer(
            InvalidRequest(
                f"the JSON body is refused: {problem}", [{"field": "body", "message": problem}]
            )
        )
    code = _STATUS_CODES.get(exc.status_code, "error")
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


def _unparsable(cause: Exception) -> str:
    if isinstance(cause, RecursionError):
        return "arrays and objects nest too deeply"
    if isinstance(cause, UnicodeDecodeError):
        byte = cause.object[cause.start : cause.start + 1]
        return f"it is not UTF-8 (byte {cause.start} is {byte!r})"
    if "integer string conversion" in str(cause):
        return f"an integer has more than {sys.get_int_max_str_digits()} digits"
    return f"it cannot be parsed: {cause}"


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {
            "field": ".".join(str(part) for part in err.get("loc", ())),
            "message": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        for err in exc.errors()
    ]
    return JSONResponse(
        error_body("invalid_request", "the request is invalid", details), status_code=400
    )


async def _unstorable(_: Request, exc: Exception) -> JSONResponse:
    # PostgreSQL refused a value the request gave (a NUL in a text, a number out of its
    # column's range): the request is at fault, and its transaction stored nothing.
    assert isinstance(exc, asyncpg.DataError)
    if not _client_data(exc):
        raise exc  # the service's own fault: the 500 below, with its traceback
    if isinstance(
        exc, asyncpg.CharacterNotInRepertoireError | asyncpg.UntranslatableCharacterError
    ):
        problem = "a text contains a NUL character (\\u0000), which PostgreSQL cannot store"
    else:
        problem = str(exc).splitlines()[0]
        if len(problem) > 200:
            problem = problem[:200] + "..."
    return _answer(
        InvalidRequest(
            f"a value of the request cannot be stored: {problem}",
            [{"field": "", "message": problem}],
        )
    )


def _client_data(exc: asyncpg.DataError) -> bool:
    """A value the request sent, not a query the service got wrong."""
    return isinstance(
        exc,
        asyncpg.CharacterNotInRepertoireError
        | asyncpg.UntranslatableCharacterError
        | asyncpg.NumericValueOutOfRangeError,
    ) or str(exc).startswith("invalid input for query argument")


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    # Starlette re-raises after answering, so the traceback still reaches the log.
    return JSONResponse(
        error_body("internal_error", f"the service failed: {type(exc).__name__}"),
        status_code=500,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` with the one error body, and document it so."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(asyncpg.DataError, _unstorable)
    app.add_exception_handler(Exception, _unexpected)
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def document_errors(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with ``ErrorBody`` in its components and invalid parameters as a 400."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for model in (ErrorBody, ErrorDetail):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schema.pop("$defs", None)
        schemas.setdefault(model.__name__, schema)
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            if responses.pop("422", None) is not None:
                responses.setdefault(
                    "400", {"description": "Invalid parameters or body", "content": _ERROR_CONTENT}
                )
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document

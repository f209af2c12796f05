"""The one exception handler of every service: ``ServiceError`` (and the framework's) to HTTP.

``create_service_app`` installs it; a service adds no handler of its own. The
body is always ``{"error": {"code", "message", "details"}}`` (see
``shared.errors``): a ``ServiceError`` answers its own ``status`` and
``code``, FastAPI's request validation is a 400 ``invalid_request`` naming each
field, an unknown route or method keeps its status, and anything unexpected is
a 500 ``internal_error`` (logged with its traceback by the server).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.errors import ServiceError, error_body

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
    return JSONResponse(exc.body(), status_code=exc.status)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "error")
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


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


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    # Starlette re-raises after answering, so the traceback still reaches the log.
    return JSONResponse(
        error_body("internal_error", f"the service failed: {type(exc).__name__}"),
        status_code=500,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` with the one error body."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)

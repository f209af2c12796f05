"""What every service refuses before a route sees the request: oversized bodies, unreadable targets.

``RequestLimits`` (installed by ``create_service_app``) answers with the one
error body (``shared.errors``):

- a body over ``max_request_bytes`` (``CONTRAIL_MAX_REQUEST_BYTES``): 413
  ``too_large``, at once when ``Content-Length`` says so, else as soon as the
  streamed bytes pass the limit (a route reading its body gets ``TooLarge``);
- a path or query parameter that is not UTF-8 once percent-decoded, or holds a
  NUL character (PostgreSQL stores no NUL in text): 400 ``invalid_request``
  naming the parameter.

A route keeps its own, smaller limits (the registry's spec size, the
launcher's inputs): this one bounds what any request may cost.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import InvalidRequest, ServiceError, TooLarge


class RequestLimits:
    """ASGI middleware: refuse what no route should read (see the module's docstring)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            check_target(scope.get("raw_path") or scope["path"].encode(), scope["query_string"])
            declared = _content_length(scope)
            if declared is not None and declared > self.max_body_bytes:
                raise body_too_large(self.max_body_bytes, declared)
        except ServiceError as error:
            await JSONResponse(error.body(), status_code=error.status)(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise body_too_large(self.max_body_bytes, received)
            return message

        await self.app(scope, limited, send)


def body_too_large(limit: int, size: int) -> TooLarge:
    return TooLarge(
        f"the request body is over the limit of {limit} bytes "
        f"(CONTRAIL_MAX_REQUEST_BYTES): {size} bytes or more",
        [{"field": "body", "message": f"at most {limit} bytes"}],
    )


def check_target(raw_path: bytes, query_string: bytes) -> None:
    """Refuse a path segment or query parameter that is not UTF-8 or holds a NUL.

    Raises:
        InvalidRequest: naming the segment or parameter (``details[].field``).
    """
    details: list[dict[str, Any]] = []
    for index, segment in enumerate(raw_path.split(b"/")):
        problem = _text_problem(unquote_to_bytes(segment))
        if problem:
            details.append({"field": f"path[{index}]", "message": f"path segment {problem}"})
    for pair in query_string.split(b"&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition(b"=")
        name = unquote_to_bytes(raw_name.replace(b"+", b" "))
        value = unquote_to_bytes(raw_value.replace(b"+", b" "))
        label = name.decode("utf-8", errors="replace").replace("\x00", "\\x00")
        for part, text in (("name", name), ("value", value)):
            problem = _text_problem(text)
            if problem:
                details.append(
                    {"field": f"query.{label}", "message": f"query parameter {part} {problem}"}
                )
    if details:
        first = details[0]
        raise InvalidRequest(f"{first['field']}: {first['message']}", details)


def _text_problem(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"is not UTF-8 (byte {error.start} is {data[error.start : error.start + 1]!r})"
    if "\x00" in text:
        return "contains a NUL character"
    return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None

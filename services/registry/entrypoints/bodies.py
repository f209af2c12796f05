"""Request bodies: read up to the size limit, parsed as JSON or YAML by Content-Type.

The size is checked before anything is parsed (the declared length first, then
the bytes as they stream in). Parsing is ``shared.documents``'s: a malformed
document is named by line and column, YAML aliases are refused, and keys given
twice are kept aside for ``duplicates`` to name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from services.registry.service_layer.errors import (
    InvalidRequest,
    TooLarge,
    UnsupportedMediaType,
)
from shared.documents import Document, DocumentError, parse_json, parse_yaml

ModelT = TypeVar("ModelT", bound=BaseModel)

JSON_MEDIA_TYPES = frozenset({"application/json"})
YAML_MEDIA_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})


async def read_body(request: Request, limit: int) -> bytes:
    """The body's bytes; TooLarge as soon as it is known to exceed ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise _too_large(received, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> TooLarge:
    return TooLarge(
        f"the body is over the limit of {limit} bytes (CONTRAIL_MAX_SPEC_BYTES)"
        + (f": {size} bytes" if size > limit else ""),
        [{"field": "body", "message": f"at most {limit} bytes"}],
    )


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "application/json").split(";")[0].strip().lower()


def parse_document(raw: bytes, media: str) -> Document:
    """Parse ``raw`` as JSON or YAML; InvalidRequest names the line and column at fault."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        message = f"the body is not UTF-8: byte {exc.start} is {raw[exc.start : exc.start + 1]!r}"
        raise InvalidRequest(message, [{"field": "body", "message": message}]) from exc
    if media in JSON_MEDIA_TYPES or media.endswith("+json"):
        return _parsed(parse_json, text)
    if media in YAML_MEDIA_TYPES or media.endswith("+yaml"):
        return _parsed(parse_yaml, text)
    raise UnsupportedMediaType(
        f"Content-Type {media!r} is not supported; send application/json or application/yaml"
    )


def _parsed(parse: Callable[[str], Document], text: str) -> Document:
    try:
        return parse(text)
    except DocumentError as exc:
        detail: dict[str, Any] = {"field": "body", "message": exc.problem}
        if exc.line is not None:
            detail.update(line=exc.line, column=exc.column)
        raise InvalidRequest(str(exc), [detail]) from exc


def validation_details(exc: ValidationError, prefix: str = "") -> list[dict[str, Any]]:
    """Pydantic's errors as ``{field, message, type}``, fields dotted from the body's root."""
    return [
        {
            "field": ".".join(str(part) for part in (prefix, *err["loc"]) if part != ""),
            "message": err["msg"],
            "type": err["type"],
        }
        for err in exc.errors(include_url=False)
    ]


def validated(model: type[ModelT], value: Any, prefix: str = "") -> ModelT:
    """``value`` as ``model``; InvalidRequest naming every field at fault."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        details = validation_details(exc, prefix)
        first = details[0]
        more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
        raise InvalidRequest(
            f"{first['field'] or 'the body'}: {first['message']}{more}", details
        ) from exc

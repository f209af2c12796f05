"""Request bodies: read up to the size limit, parsed as JSON or YAML by Content-Type.

The size is checked before anything is parsed (the declared length first, then
the bytes as they stream in), and a malformed document is named by line and
column. Keys given twice are kept aside, since JSON and YAML parsers silently
keep the last one and a spec must mean one thing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import yaml
from fastapi import Request
from pydantic import BaseModel, ValidationError

from services.registry.domain.json_paths import JsonPath
from services.registry.domain.validation import DuplicateKeys, duplicate_keys_hook
from services.registry.service_layer.errors import (
    InvalidRequest,
    TooLarge,
    UnsupportedMediaType,
)

ModelT = TypeVar("ModelT", bound=BaseModel)

JSON_MEDIA_TYPES = frozenset({"application/json"})
YAML_MEDIA_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})


@dataclass
class Document:
    """A parsed body and the paths of the keys it gave twice."""

    value: Any
    duplicates: list[JsonPath] = field(default_factory=list)


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
        return _parse_json(text)
    if media in YAML_MEDIA_TYPES or media.endswith("+yaml"):
        return _parse_yaml(text)
    raise UnsupportedMediaType(
        f"Content-Type {media!r} is not supported; send application/json or application/yaml"
    )


def _parse_json(text: str) -> Document:
    hook = duplicate_keys_hook()
    try:
        value = json.loads(text, object_pairs_hook=hook)
    except json.JSONDecodeError as exc:
        message = f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        raise InvalidRequest(
            message,
            [{"field": "body", "line": exc.lineno, "column": exc.colno, "message": exc.msg}],
        ) from exc
    return Document(value, hook.paths)


def _parse_yaml(text: str) -> Document:
    hook = duplicate_keys_hook()
    loader = _loader_with(hook)
    try:
        value = yaml.load(text, Loader=loader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "malformed YAML"
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        message = f"malformed YAML at line {line}, column {column}: {problem}"
        raise InvalidRequest(
            message, [{"field": "body", "line": line, "column": column, "message": problem}]
        ) from exc
    except yaml.YAMLError as exc:
        message = f"malformed YAML: {exc}"
        raise InvalidRequest(message, [{"field": "body", "message": str(exc)}]) from exc
    return Document(value, hook.paths)


def _loader_with(hook: DuplicateKeys) -> type[yaml.SafeLoader]:
    """A SafeLoader that builds mappings through ``hook`` and refuses aliases.

    Mappings are built from their pairs, as json.loads does, so that keys given
    twice are seen. Aliases (``*name``) are refused: a spec has no need of them,
    and a few nested ones expand into billions of items once validated.
    """

    class Loader(yaml.SafeLoader):
        def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
            if self.check_event(yaml.AliasEvent):
                event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]
                mark = cast("yaml.Mark", event.start_mark)
                raise yaml.composer.ComposerError(
                    None, None, "aliases (*name) are not accepted in specs", mark
                )
            return super().compose_node(parent, index)

    def construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        loader.flatten_mapping(node)
        pairs = [
            (loader.construct_object(key, deep=True), loader.construct_object(value, deep=True))
            for key, value in node.value
        ]
        return hook(pairs)

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return Loader


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

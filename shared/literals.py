"""The literal type system that the SDK, the registry and the launcher share.

A ``LiteralType`` describes a value; a *literal* is the value itself as JSON,
interpreted against its type:

| type        | JSON literal                                              |
|-------------|-----------------------------------------------------------|
| none        | ``null``                                                  |
| bool, int, float, str | the JSON scalar (an int is accepted for a float)|
| bytes       | base64 string                                             |
| datetime    | ISO 8601 string with a UTC offset                         |
| duration    | number of seconds                                         |
| enum        | one of its values (a string)                              |
| list[T]     | JSON array of T literals                                  |
| dict[str,T] | JSON object of T literals                                 |
| union       | a literal of the first variant that accepts it            |
| record      | JSON object valid against the record's JSON Schema        |
| file, dir   | ``{"uri": "s3://..."}`` (a blob in S3)                    |

Optional[T] is ``union[T, none]``. Everything here is pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Type(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


SimpleKindName = Literal["none", "bool", "int", "float", "str", "bytes", "datetime", "duration"]


class SimpleType(_Type):
    kind: SimpleKindName


class EnumType(_Type):
    kind: Literal["enum"] = "enum"
    name: str = ""
    values: tuple[str, ...] = Field(min_length=1)


class ListType(_Type):
    kind: Literal["list"] = "list"
    item: LiteralType


class DictType(_Type):
    """``dict[str, T]``: keys are always strings."""

    kind: Literal["dict"] = "dict"
    value: LiteralType


class UnionType(_Type):
    kind: Literal["union"] = "union"
    variants: tuple[LiteralType, ...] = Field(min_length=2)


class RecordType(_Type):
    """A dataclass or pydantic model, carried with its JSON Schema."""

    kind: Literal["record"] = "record"
    name: str
    json_schema: dict[str, Any]


class BlobType(_Type):
    """A file or a directory stored in S3."""

    kind: Literal["file", "directory"]
    format: str = ""


LiteralType = Annotated[
    SimpleType | EnumType | ListType | DictType | UnionType | RecordType | BlobType,
    Field(discriminator="kind"),
]

for _model in (ListType, DictType, UnionType):
    _model.model_rebuild()

NONE = SimpleType(kind="none")
BOOL = SimpleType(kind="bool")
INT = SimpleType(kind="int")
FLOAT = SimpleType(kind="float")
STR = SimpleType(kind="str")
BYTES = SimpleType(kind="bytes")
DATETIME = SimpleType(kind="datetime")
DURATION = SimpleType(kind="duration")


def optional(t: LiteralType) -> UnionType:
    """``Optional[t]``."""
    return UnionType(variants=(t, NONE))


def is_optional(t: LiteralType) -> bool:
    """Whether ``None`` is a value of ``t``."""
    return t == NONE or (isinstance(t, UnionType) and any(is_optional(v) for v in t.variants))


def render(t: LiteralType) -> str:
    """A short, Python-like spelling of ``t`` for error messages."""
    match t:
        case SimpleType():
            return t.kind
        case EnumType():
            return t.name or f"enum[{', '.join(t.values)}]"
        case ListType():
            return f"list[{render(t.item)}]"
        case DictType():
            return f"dict[str, {render(t.value)}]"
        case UnionType():
            non_none = [v for v in t.variants if v != NONE]
            if len(non_none) == 1 and len(t.variants) == 2:
                return f"optional[{render(non_none[0])}]"
            return " | ".join(render(v) for v in t.variants)
        case RecordType():
            return t.name
        case BlobType():
            return t.kind if not t.format else f"{t.kind}[{t.format}]"


def can_assign(source: LiteralType, target: LiteralType) -> bool:
    """Whether every value of ``source`` is a value of ``target`` (for bindings)."""
    if source == target:
        return True
    if isinstance(target, UnionType):
        if isinstance(source, UnionType):
            return all(can_assign(v, target) for v in source.variants)
        return any(can_assign(source, v) for v in target.variants)
    match source, target:
        case SimpleType(kind="int"), SimpleType(kind="float"):
            return True
        case ListType(), ListType():
            return can_assign(source.item, target.item)
        case DictType(), DictType():
            return can_assign(source.value, target.value)
        case EnumType(), EnumType():
            return set(source.values) <= set(target.values)
        case EnumType(), SimpleType(kind="str"):
            return True
        case RecordType(), RecordType():
            return source.json_schema == target.json_schema
        case BlobType(), BlobType():
            same_format = not target.format or source.format == target.format
            return source.kind == target.kind and same_format
    return False


# --- values -------------------------------------------------------------------

_JSON_SCHEMA_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "object": dict,
    "array": list,
}


def value_errors(t: LiteralType, value: Any, path: str = "") -> list[str]:
    """What is wrong with ``value`` as a literal of ``t``: empty when it is valid.

    Each message starts with the path of the offending part (``[2].name: ...``).
    """
    where = f"{path}: " if path else ""

    def wrong(expected: str) -> list[str]:
        return [f"{where}expected {expected}, got {_describe(value)}"]

    match t:
        case SimpleType(kind="none"):
            return [] if value is None else wrong("null")
        case SimpleType(kind="bool"):
            return [] if isinstance(value, bool) else wrong("bool")
        case SimpleType(kind="int"):
            ok = isinstance(value, int) and not isinstance(value, bool)
            return [] if ok else wrong("int")
        case SimpleType(kind="float") | SimpleType(kind="duration"):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            return [] if ok else wrong("a number" if t.kind == "float" else "seconds (a number)")
        case SimpleType(kind="str"):
            return [] if isinstance(value, str) else wrong("str")
        case SimpleType(kind="bytes"):
            if isinstance(value, str):
                try:
                    base64.b64decode(value, validate=True)
                    return []
                except (binascii.Error, ValueError):
                    pass
            return wrong("base64-encoded bytes")
        case SimpleType(kind="datetime"):
            if isinstance(value, str):
                try:
                    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
                except ValueError:
                    return wrong("an ISO 8601 datetime")
                return [] if parsed.tzinfo is not None else wrong("a datetime with a UTC offset")
            return wrong("an ISO 8601 datetime")
        case EnumType():
            return [] if value in t.values else wrong(f"one of {', '.join(t.values)}")
        case ListType():
            if not isinstance(value, list):
                return wrong(render(t))
            return [
                e
                for i, item in enumerate(value)
                for e in value_errors(t.item, item, f"{path}[{i}]")
            ]
        case DictType():
            if not isinstance(value, dict):
                return wrong(render(t))
            return [
                e
                for key, item in value.items()
                for e in value_errors(t.value, item, f"{path}.{key}" if path else str(key))
            ]
        case UnionType():
            if any(not value_errors(v, value, path) for v in t.variants):
                return []
            return wrong(render(t))
        case RecordType():
            if not isinstance(value, dict):
                return wrong(f"a {t.name} object")
            return _schema_errors(t.json_schema, value, path, t.json_schema.get("$defs", {}))
        case BlobType():
            uri = value.get("uri") if isinstance(value, dict) else None
            if isinstance(uri, str) and uri:
                return []
            return wrong(f'a {t.kind} ({{"uri": "s3://..."}})')
    raise AssertionError(f"unhandled literal type {t!r}")


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _schema_errors(
    schema: dict[str, Any], value: Any, path: str, defs: dict[str, Any]
) -> list[str]:
    """A small JSON Schema check: types, required and nested properties, refs and anyOf.

    Enough to name what is wrong in a record input; the SDK validates fully
    with pydantic when it rebuilds the value.
    """
    where = f"{path}: " if path else ""
    if "$ref" in schema:
        ref = schema["$ref"].rsplit("/", 1)[-1]
        return _schema_errors(defs.get(ref, {}), value, path, defs)
    if "anyOf" in schema:
        options = [_schema_errors(option, value, path, defs) for option in schema["anyOf"]]
        return [] if any(not o for o in options) else options[0]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}expected one of {schema['enum']}, got {_describe(value)}"]
    expected = schema.get("type")
    if isinstance(expected, str):
        if expected == "null":
            return [] if value is None else [f"{where}expected null, got {_describe(value)}"]
        python_type = _JSON_SCHEMA_TYPES.get(expected)
        bad_bool = isinstance(value, bool) and expected in ("integer", "number")
        if python_type is not None and (not isinstance(value, python_type) or bad_bool):
            return [f"{where}expected {expected}, got {_describe(value)}"]
    errors: list[str] = []
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                errors.append(f"{path + '.' if path else ''}{name}: is required")
        properties = schema.get("properties", {})
        for name, sub in properties.items():
            if name in value:
                errors += _schema_errors(sub, value[name], f"{path}.{name}" if path else name, defs)
        # a record names its fields: an unknown one is a typo, never silently dropped
        if properties and schema.get("additionalProperties") in (None, False):
            fields = ", ".join(properties)
            errors += [
                f"{path + '.' if path else ''}{name}: no such field (fields: {fields})"
                for name in value
                if name not in properties
            ]
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            errors += _schema_errors(schema["items"], item, f"{path}[{i}]", defs)
    return errors

"""The type engine: Python annotations to literal types, and values to literals and back.

``literal_type_of`` maps an annotation to a ``shared.literals.LiteralType`` (at
decoration time, so that an annotation it can't map fails early);
``to_literal`` and ``from_literal`` convert values both ways, checking them on
the way. Literals are the JSON values described in ``shared.literals``.

Unions are untagged: a union's literal is read back as its first variant that
accepts it. A union whose later variant could never be read back (``str |
datetime``) is refused; other overlaps (two records with the same fields, a
``str`` that looks like a datetime in ``datetime | str``) read back as the
earlier variant, so order variants from the most to the least specific.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import functools
import inspect
import json
import math
import types
import typing
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, NewType, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, RootModel, TypeAdapter, ValidationError
from pydantic.errors import PydanticUserError
from pydantic_core import PydanticSerializationError

from contrail.errors import ContrailError
from contrail.files import Directory, File
from shared.literals import (
    BOOL,
    BYTES,
    DATETIME,
    DURATION,
    FLOAT,
    INT,
    NONE,
    STR,
    BlobType,
    DictType,
    EnumType,
    ListType,
    LiteralType,
    RecordType,
    SimpleType,
    UnionType,
    can_assign,
    render,
    value_errors,
)

__all__ = [
    "TypeEngineError",
    "from_literal",
    "literal_type_of",
    "python_type_of",
    "to_literal",
]


class TypeEngineError(ContrailError, TypeError):
    """An annotation or a value the engine cannot map; the message says which and why."""


class _AnnotationError(TypeEngineError):
    """An annotation without a literal type; ``annotation`` is the part at fault."""

    def __init__(self, annotation: Any, why: str) -> None:
        super().__init__(f"{_name(annotation)}: {why}")
        self.annotation = annotation


_SIMPLE: dict[Any, SimpleType] = {
    type(None): NONE,
    bool: BOOL,
    int: INT,
    float: FLOAT,
    str: STR,
    bytes: BYTES,
    datetime: DATETIME,
    timedelta: DURATION,
}

# The JSON types that stand for themselves, with the literals each accepts.
_JSON_SCALARS: dict[Any, type | tuple[type, ...]] = {
    bool: bool,
    int: int,
    float: (int, float),
    str: str,
}

# Annotations that have no literal type, with what to write instead.
_HINTS: dict[Any, str] = {
    list: "name the item type: use list[int], not list",
    dict: "name the value type: use dict[str, int], not dict",
    tuple: "tuples have no literal type; use list[T] or a dataclass",
    set: "sets have no literal type; use list[T]",
    frozenset: "sets have no literal type; use list[T]",
    Any: "Any has no literal type; name the type",
    object: "object has no literal type; name the type",
}


# --- annotations to literal types ---------------------------------------------


def literal_type_of(annotation: Any) -> LiteralType:
    """The literal type of a Python annotation.

    Supported: ``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes``,
    ``datetime.datetime``, ``datetime.timedelta``, ``enum.Enum`` subclasses with
    string values, ``list[T]``, ``dict[str, T]``, ``Optional[T]`` and unions,
    dataclasses and pydantic models (records), ``File`` and ``Directory``, and
    ``Annotated[T, ...]`` or ``NewType`` over any of these.

    Raises:
        TypeEngineError: the annotation (or a part of it) has no literal type;
            the message names it and says what to write instead.
    """
    try:
        return _type_of(annotation)
    except _AnnotationError as error:
        if error.annotation is annotation:
            raise
        raise TypeEngineError(f"{error} (in {_name(annotation)})") from None


def _type_of(annotation: Any) -> LiteralType:
    annotation = _unwrap(annotation)
    if annotation is None or annotation is type(None):
        return NONE
    origin = get_origin(annotation)
    if _is_union(annotation):
        return _union_type(annotation)
    if origin is list:
        (item,) = get_args(annotation) or (None,)
        if item is None:
            raise _cannot(annotation, _HINTS[list])
        return ListType(item=_type_of(item))
    if origin is dict:
        args = get_args(annotation)
        if not args:
            raise _cannot(annotation, _HINTS[dict])
        key, value = args
        if _unwrap(key) is not str:
            raise _cannot(annotation, f"keys must be str; use dict[str, {_name(value)}]")
        return DictType(value=_type_of(value))
    if origin is not None:
        raise _cannot(annotation, _hint_for_origin(origin))
    return _type_of_class(annotation)


def _type_of_class(annotation: Any) -> LiteralType:
    if isinstance(annotation, str | typing.ForwardRef):
        raise _cannot(
            annotation,
            "an unresolved forward reference; resolve annotations with "
            "typing.get_type_hints(fn, include_extras=True)",
        )
    if annotation is inspect.Parameter.empty:
        raise _AnnotationError(annotation, "every input and output needs a type annotation")
    if isinstance(annotation, TypeVar):
        raise _cannot(annotation, "a type variable; name a concrete type")
    if _is_hinted(annotation):
        raise _cannot(annotation, _HINTS[annotation])
    if not isinstance(annotation, type):
        raise _cannot(annotation, "not a type")
    if annotation in _SIMPLE:
        return _SIMPLE[annotation]
    if issubclass(annotation, File):
        return BlobType(kind="file")
    if issubclass(annotation, Directory):
        return BlobType(kind="directory")
    if issubclass(annotation, enum.Enum):
        return _enum_type(annotation)
    if issubclass(annotation, tuple) and hasattr(annotation, "_fields"):
        raise _cannot(
            annotation,
            "a NamedTuple is not a literal type; as a return annotation each field is "
            "one output, as a value use a dataclass",
        )
    if issubclass(annotation, RootModel):
        raise _cannot(annotation, "RootModel has no literal type; use its root type")
    if dataclasses.is_dataclass(annotation) or issubclass(annotation, BaseModel):
        return _record(annotation)[1]
    for base, hint in _HINTS.items():
        if base not in (Any, object) and issubclass(annotation, base):
            raise _cannot(annotation, hint)
    if issubclass(annotation, date):
        raise _cannot(annotation, "use datetime.datetime (timezone-aware)")
    raise _cannot(annotation, "not a dataclass or a pydantic model; decorate it with @dataclass")


def _union_type(annotation: Any) -> LiteralType:
    variants: list[LiteralType] = []
    for arg in get_args(annotation):
        t = _type_of(arg)
        for v in t.variants if isinstance(t, UnionType) else (t,):
            if v not in variants:
                variants.append(v)
    # None goes last, so that ``None | T`` and ``Optional[T]`` are the same type.
    if NONE in variants:
        variants.remove(NONE)
        variants.append(NONE)
    for i, earlier in enumerate(variants):
        for later in variants[i + 1 :]:
            if _shadows(earlier, later):
                raise _cannot(
                    annotation,
                    f"{render(later)} literals would be read back as {render(earlier)}; "
                    f"put {render(later)} before {render(earlier)}",
                )
    if len(variants) == 1:
        return variants[0]
    return UnionType(variants=tuple(variants))


def _shadows(earlier: LiteralType, later: LiteralType) -> bool:
    """Whether every literal of ``later`` is also a literal of ``earlier``."""
    if can_assign(later, earlier):
        return True
    if earlier == STR:
        return later in (BYTES, DATETIME)
    if isinstance(earlier, DictType) and isinstance(later, BlobType):
        return can_assign(STR, earlier.value)
    numbers = (INT, FLOAT, DURATION)
    return earlier in (FLOAT, DURATION) and later in numbers


def _enum_type(cls: type[enum.Enum]) -> EnumType:
    values = [member.value for member in cls]
    if not values:
        raise _cannot(cls, "an enum needs at least one member")
    if not all(isinstance(v, str) for v in values):
        raise _cannot(cls, "enum values must be str (an enum's literal is its value)")
    return EnumType(name=cls.__qualname__, values=tuple(values))


@functools.cache
def _record(cls: type) -> tuple[TypeAdapter[Any], RecordType]:
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(cls)
        schema = adapter.json_schema()
    except PydanticUserError as error:
        if error.code == "class-not-fully-defined":
            why = "a field's type is not defined where the class is; define it at module level"
        else:
            why = error.message.split(". ", 1)[0].split("\n", 1)[0]
        raise _cannot(cls, f"pydantic cannot describe it: {why}") from None
    if schema.get("type") != "object" and "$ref" not in schema:
        raise _cannot(cls, "a record's literal must be a JSON object")
    return adapter, RecordType(name=f"{cls.__module__}.{cls.__qualname__}", json_schema=schema)


def _is_hinted(annotation: Any) -> bool:
    try:
        return annotation in _HINTS
    except TypeError:  # unhashable
        return False


def _hint_for_origin(origin: Any) -> str:
    if origin is typing.Literal:
        return "use an enum.Enum for a fixed set of strings"
    if origin is tuple:
        return _HINTS[tuple]
    if origin in (set, frozenset):
        return _HINTS[set]
    if isinstance(origin, type) and origin.__module__ == "collections.abc":
        if origin.__name__ in ("Mapping", "MutableMapping"):
            return "use dict[str, T]"
        if origin.__name__ in ("Sequence", "MutableSequence", "Iterable", "Collection"):
            return "use list[T]"
        if origin.__name__ == "Callable":
            return "a callable has no literal type"
    return "not a literal type"


# --- values to literals ---------------------------------------------------------


def to_literal(value: Any, annotation: Any) -> Any:
    """The JSON literal of ``value`` as a value of ``annotation``.

    The value is checked, not coerced: ``bool`` is not an ``int`` (an ``int`` is
    accepted for a ``float``), datetimes must be timezone-aware (they are written
    in UTC), records must be instances of their class.

    Raises:
        TypeEngineError: the annotation has no literal type, or the value does not
            match it; the message gives the path into nested values
            (``[2].name: expected int, got str 'a'``).
    """
    literal_type_of(annotation)
    return _to(value, annotation, "")


def _to(value: Any, annotation: Any, path: str) -> Any:
    annotation = _unwrap(annotation)
    if type(annotation) is type and annotation in _JSON_SCALARS:
        return _to_scalar(value, annotation, path)
    if annotation is None or annotation is type(None):
        if value is not None:
            raise _mismatch(path, "none", value)
        return None
    if _is_union(annotation):
        return _union_apply(_to, value, annotation, path)
    origin = get_origin(annotation)
    if origin is list:
        if not isinstance(value, list):
            raise _mismatch(path, render(_type_of(annotation)), value)
        (item,) = get_args(annotation)
        return [_to(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _mismatch(path, render(_type_of(annotation)), value)
        item = get_args(annotation)[1]
        literal = {}
        for key, v in value.items():
            if not isinstance(key, str):
                raise _mismatch(path, f"str keys in {render(_type_of(annotation))}", key)
            literal[key] = _to(v, item, _key_path(path, key))
        return literal
    return _to_scalar(value, annotation, path)


def _to_scalar(value: Any, cls: type, path: str) -> Any:
    if cls is bool:
        if not isinstance(value, bool):
            raise _mismatch(path, "bool", value)
        return value
    if cls is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _mismatch(path, "int", value)
        return int(value)
    if cls is float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _mismatch(path, "float", value)
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise _mismatch(path, "a finite float (JSON has no nan or inf)", value)
        return number
    if cls is str:
        if not isinstance(value, str):
            raise _mismatch(path, "str", value)
        return str.__str__(value)
    if cls is bytes:
        if not isinstance(value, bytes):
            raise _mismatch(path, "bytes", value)
        return base64.b64encode(value).decode("ascii")
    if cls is datetime:
        if not isinstance(value, datetime):
            raise _mismatch(path, "datetime", value)
        if value.utcoffset() is None:
            raise _mismatch(
                path, "a timezone-aware datetime", value, "; pass tzinfo=timezone.utc", "naive "
            )
        return value.astimezone(UTC).isoformat()
    if cls is timedelta:
        if not isinstance(value, timedelta):
            raise _mismatch(path, "duration (a timedelta)", value)
        return value.total_seconds()
    if issubclass(cls, File | Directory):
        if not isinstance(value, cls):
            hint = f"; wrap it: {cls.__name__}(path)" if isinstance(value, str) else ""
            raise _mismatch(path, render(_type_of(cls)), value, hint)
        return {"uri": value.uri}
    if issubclass(cls, enum.Enum):
        if not isinstance(value, cls):
            raise _mismatch(path, render(_type_of(cls)), value)
        return value.value
    return _to_record(value, cls, path)


def _to_record(value: Any, cls: type, path: str) -> Any:
    adapter, record_type = _record(cls)
    if not isinstance(value, cls):
        raise _mismatch(path, render(record_type), value)
    try:
        literal = adapter.dump_python(value, mode="json", by_alias=True, warnings=False)
    except PydanticSerializationError as error:
        raise TypeEngineError(
            f"{_where(path)}cannot write {render(record_type)}: {error}"
        ) from None
    # Dataclasses don't check their fields: read the literal back to catch what's wrong.
    _from_record(literal, cls, path)
    return literal


# --- literals to values ---------------------------------------------------------


def from_literal(literal: Any, annotation: Any) -> Any:
    """The Python value of ``annotation`` that ``literal`` stands for (inverse of ``to_literal``).

    Records are rebuilt and validated with pydantic; files and directories with
    a ``file://`` URI come back as local paths.

    Raises:
        TypeEngineError: the annotation has no literal type, or the literal is not
            a valid literal of it; the message gives the path into nested values.
    """
    literal_type_of(annotation)
    return _from(literal, annotation, "")


def _from(literal: Any, annotation: Any, path: str) -> Any:
    annotation = _unwrap(annotation)
    if type(annotation) is type and annotation in _JSON_SCALARS:
        # The common case, without building a literal type per item.
        ok = isinstance(literal, _JSON_SCALARS[annotation]) and (
            annotation is bool or not isinstance(literal, bool)
        )
        if not ok:
            raise _mismatch(path, annotation.__name__, literal)
        return float(literal) if annotation is float else literal
    if _is_union(annotation):
        return _union_apply(_from, literal, annotation, path)
    origin = get_origin(annotation)
    if origin is list:
        if not isinstance(literal, list):
            raise _mismatch(path, render(_type_of(annotation)), literal)
        (item,) = get_args(annotation)
        return [_from(v, item, f"{path}[{i}]") for i, v in enumerate(literal)]
    if origin is dict:
        if not isinstance(literal, dict):
            raise _mismatch(path, render(_type_of(annotation)), literal)
        item = get_args(annotation)[1]
        return {k: _from(v, item, _key_path(path, k)) for k, v in literal.items()}
    literal_type = _type_of(annotation)
    if isinstance(literal_type, RecordType):
        return _from_record(literal, annotation, path)
    _check(literal_type, literal, path)
    match literal_type:
        case SimpleType(kind="none"):
            return None
        case SimpleType(kind="float"):
            return float(literal)
        case SimpleType(kind="bytes"):
            return base64.b64decode(literal, validate=True)
        case SimpleType(kind="datetime"):
            return datetime.fromisoformat(literal)
        case SimpleType(kind="duration"):
            return timedelta(seconds=literal)
        case EnumType():
            return annotation(literal)
        case BlobType():
            return annotation.from_uri(literal["uri"])
    return literal


def _from_record(literal: Any, cls: type, path: str) -> Any:
    adapter, record_type = _record(cls)
    _check(record_type, literal, path)
    try:
        return adapter.validate_json(json.dumps(literal))
    except ValidationError as error:
        messages = []
        for e in error.errors(include_url=False):
            where = path
            for part in e["loc"]:
                where = f"{where}[{part}]" if isinstance(part, int) else _key_path(where, part)
            messages.append(f"{_where(where)}{e['msg'][0].lower()}{e['msg'][1:]}")
        raise TypeEngineError("; ".join(messages)) from None


# --- literal types to annotations ---------------------------------------------


def python_type_of(t: LiteralType) -> Any:
    """An annotation for a literal type that comes from elsewhere (a remote entity).

    For display and loose checks: records become ``dict[str, Any]``, enums
    ``str``, blobs ``File`` or ``Directory``; the rest map back exactly.
    """
    match t:
        case SimpleType():
            return next(cls for cls, simple in _SIMPLE.items() if simple == t)
        case EnumType():
            return str
        case ListType():
            return list[python_type_of(t.item)]  # type: ignore[misc]
        case DictType():
            return dict[str, python_type_of(t.value)]  # type: ignore[misc]
        case UnionType():
            return Union[tuple(python_type_of(v) for v in t.variants)]  # noqa: UP007
        case RecordType():
            return dict[str, Any]
        case BlobType():
            return File if t.kind == "file" else Directory
    raise AssertionError(f"unhandled literal type {t!r}")


# --- shared pieces ----------------------------------------------------------------


def _unwrap(annotation: Any) -> Any:
    """The annotation without ``Annotated`` metadata and ``NewType`` names."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        elif isinstance(annotation, NewType):
            annotation = annotation.__supertype__
        else:
            return annotation


def _is_union(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType)


def _union_apply(
    convert: Callable[[Any, Any, str], Any], value: Any, annotation: Any, path: str
) -> Any:
    """``convert`` with the first variant of the union that accepts ``value``."""
    variants = get_args(annotation)
    non_none = [v for v in variants if _unwrap(v) not in (None, type(None))]
    if value is not None and len(non_none) == 1:
        # Optional[T]: T's own message says more than "expected optional[T]".
        return convert(value, non_none[0], path)
    for variant in sorted(variants, key=lambda v: _unwrap(v) in (None, type(None))):
        try:
            return convert(value, variant, path)
        except TypeEngineError:
            continue
    raise _mismatch(path, render(_type_of(annotation)), value)


def _check(t: LiteralType, literal: Any, path: str) -> None:
    errors = value_errors(t, literal, path)
    if errors:
        raise TypeEngineError("; ".join(errors))


def _cannot(annotation: Any, why: str) -> TypeEngineError:
    return _AnnotationError(annotation, why)


def _mismatch(
    path: str, expected: str, value: Any, hint: str = "", qualifier: str = ""
) -> TypeEngineError:
    return TypeEngineError(
        f"{_where(path)}expected {expected}, got {qualifier}{_describe(value)}{hint}"
    )


def _where(path: str) -> str:
    return f"{path}: " if path else ""


def _key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _describe(value: Any) -> str:
    if value is None:
        return "None"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _name(annotation: Any) -> str:
    """A short spelling of an annotation for messages: ``int``, ``list[int]``, ``Point``."""
    if annotation is inspect.Parameter.empty:
        return "(no annotation)"
    if annotation is None or annotation is type(None):
        return "None"
    if isinstance(annotation, type) and not get_args(annotation):
        return annotation.__qualname__
    if isinstance(annotation, str):
        return repr(annotation)
    return repr(annotation).replace("typing.", "").replace("datetime.", "")

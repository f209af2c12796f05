"""JSON and YAML documents, read one way everywhere: the registry's bodies, spec files, config.

Both parsers keep the keys a document gives twice (a plain parser silently
keeps the last value, and a spec must mean one thing): ``Document.duplicates``
lists their paths, ``unique_keys`` refuses them. YAML is read safely
(plain data only) and without aliases (``*name``): a spec has no need of them,
and a few nested ones expand into billions of items. A document that does not
parse is a ``DocumentError`` naming the line and column; so is one nested
deeper than ``MAX_NESTING``, an integer longer than Python converts, or a
number that is not finite (a service answers these with a 400, never a crash).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, cast

import yaml

from shared.json_paths import JsonPath, render_path

MAX_NESTING = 100
"""Arrays and objects nest at most this deep in a document (a spec needs a few levels)."""


class DocumentError(ValueError):
    """A document that does not parse, or gives a key twice; the message names the place.

    ``line`` and ``column`` (from 1) are None when the parser gave no position.
    """

    def __init__(self, message: str, problem: str, line: int | None, column: int | None) -> None:
        super().__init__(message)
        self.problem = problem
        self.line = line
        self.column = column


@dataclass
class Document:
    """A parsed document and the path of every key it gave twice."""

    value: Any
    duplicates: list[JsonPath] = field(default_factory=list)


class DuplicateKeys:
    """An ``object_pairs_hook`` (for ``json.loads``) that records the keys given twice.

    The mapping it builds keeps the last value of a duplicate key, as
    ``json.loads`` alone does. Use a fresh one for each document; ``paths``
    are complete when the document is an object.
    """

    def __init__(self) -> None:
        # Duplicates found inside objects not yet placed in their parent, by the object's
        # id: the parser holds each object until its parent is built, which claims them.
        self._pending: dict[int, list[JsonPath]] = {}

    def __call__(self, pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
        built: dict[Any, Any] = {}
        found: list[JsonPath] = []
        for key, value in pairs:
            if key in built:
                found.append((key,))
            found.extend((key, *rest) for rest in self._claim(value))
            built[key] = value
        if found:
            self._pending[id(built)] = found
        return built

    def _claim(self, value: Any) -> list[JsonPath]:
        if not self._pending:
            return []
        if isinstance(value, dict):
            return self._pending.pop(id(value), [])
        if isinstance(value, list):
            return [(i, *rest) for i, item in enumerate(value) for rest in self._claim(item)]
        return []

    @property
    def paths(self) -> list[JsonPath]:
        """The path of every key given twice, in document order (a key given three times
        is listed twice)."""
        return [path for paths in self._pending.values() for path in paths]


def parse_json(text: str) -> Document:
    """One JSON document.

    Raises:
        DocumentError: not valid JSON (naming line and column).
    """
    hook = DuplicateKeys()
    try:
        value = json.loads(text, object_pairs_hook=hook)
    except json.JSONDecodeError as exc:
        raise DocumentError(
            f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            exc.msg,
            exc.lineno,
            exc.colno,
        ) from exc
    except RecursionError:
        raise _too_deep() from None
    except ValueError:  # an integer longer than Python converts
        raise _too_long("JSON") from None
    check_values(value)
    return Document(value, hook.paths)


def check_values(value: Any, limit: int = MAX_NESTING) -> None:
    """Refuse ``value`` if its arrays and objects nest deeper than ``limit``, or if it holds
    a number that is not finite (``1e400``, ``NaN``, ``.inf``: JSON has none). Iterative.

    Raises:
        DocumentError: naming which.
    """
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            if isinstance(item, float) and not math.isfinite(item):
                problem = f"the number {item} is not finite (too large, or not a number)"
                raise DocumentError(f"the document is refused: {problem}", problem, None, None)
            continue
        if depth > limit:
            raise _too_deep(limit)
        pending.extend((child, depth + 1) for child in children)


def _too_deep(limit: int = MAX_NESTING) -> DocumentError:
    problem = f"arrays and objects nest deeper than the limit of {limit} levels"
    return DocumentError(f"the document is refused: {problem}", problem, None, None)


def _too_long(kind: str) -> DocumentError:
    problem = f"an integer has more than {sys.get_int_max_str_digits()} digits"
    return DocumentError(f"not valid {kind}: {problem}", problem, None, None)


def parse_yaml(text: str) -> Document:
    """One YAML document (an empty text is ``None``).

    Raises:
        DocumentError: not valid YAML, an alias, or more than one document.
    """
    loader = _Loader(text)
    try:
        value = loader.get_single_data()
    except yaml.YAMLError as exc:
        raise _yaml_error(exc) from exc
    except RecursionError:
        raise _too_deep() from None
    except ValueError:  # an integer longer than Python converts
        raise _too_long("YAML") from None
    finally:
        loader.dispose()
    check_values(value)
    return Document(value, loader.duplicates.paths)


def parse_yaml_stream(text: str) -> list[Document]:
    """Every document of a YAML stream (``---`` between them), empty ones left out.

    Raises:
        DocumentError: not valid YAML, or an alias.
    """
    loader = _Loader(text)
    documents: list[Document] = []
    try:
        while loader.check_data():  # type: ignore[no-untyped-call]
            loader.duplicates = DuplicateKeys()
            value = loader.get_data()
            check_values(value)
            if value is not None:
                documents.append(Document(value, loader.duplicates.paths))
    except yaml.YAMLError as exc:
        raise _yaml_error(exc) from exc
    except RecursionError:
        raise _too_deep() from None
    except ValueError as exc:
        if isinstance(exc, DocumentError):
            raise
        raise _too_long("YAML") from None
    finally:
        loader.dispose()
    return documents


def unique_keys(document: Document) -> Any:
    """The document's value, if it gives no key twice.

    Raises:
        DocumentError: a key given twice, naming its path (``spec.inputs.x``).
    """
    if document.duplicates:
        path = document.duplicates[0]
        problem = f"key {str(path[-1])!r} is given twice ({render_path(path)})"
        raise DocumentError(problem, problem, None, None)
    return document.value


def _yaml_error(exc: yaml.YAMLError) -> DocumentError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "not valid YAML"
        if mark is not None:
            line, column = mark.line + 1, mark.column + 1
            message = f"not valid YAML at line {line}, column {column}: {problem}"
            return DocumentError(message, problem, line, column)
        return DocumentError(f"not valid YAML: {problem}", problem, None, None)
    return DocumentError(f"not valid YAML: {exc}", str(exc), None, None)


class _Loader(yaml.SafeLoader):
    """A SafeLoader that refuses aliases and builds mappings through ``DuplicateKeys``."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates = DuplicateKeys()

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]
            mark = cast("yaml.Mark", event.start_mark)
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not accepted", mark)
        return super().compose_node(parent, index)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    pairs = []
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, Hashable):
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                "found an unhashable key",
                key_node.start_mark,
            )
        pairs.append((key, loader.construct_object(value_node, deep=True)))
    return loader.duplicates(pairs)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

"""Checks of what arrives before it is a spec: identifiers, and keys given twice in JSON.

``Node.inputs`` and the other maps of a spec are JSON objects, so a key given
twice (an input bound twice) is lost by a plain ``json.loads``, which keeps the
last value. ``shared.documents`` records such keys while parsing and
``duplicate_key_errors`` turns them into errors that name the node and input.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from services.registry.domain.errors import CompileError, ErrorCode
from shared.identifiers import NAME_PATTERN
from shared.json_paths import JsonPath, render_path
from shared.specs import ENTITY_NAME_PATTERN, VERSION_PATTERN

_IDENTIFIER_RULES: tuple[tuple[str, str, str], ...] = (
    (
        "project",
        NAME_PATTERN,
        "1 to 128 lower-case letters, digits, '_', '.' or '-', starting and ending with a "
        "letter or digit",
    ),
    (
        "domain",
        NAME_PATTERN,
        "1 to 128 lower-case letters, digits, '_', '.' or '-', starting and ending with a "
        "letter or digit",
    ),
    (
        "name",
        ENTITY_NAME_PATTERN,
        "1 to 255 letters, digits, '_', '.' or '-', starting with a letter or '_'",
    ),
    (
        "version",
        VERSION_PATTERN,
        "1 to 128 letters, digits, '_', '.' or '-', starting with a letter, digit or '_'",
    ),
)


def identifier_errors(project: str, domain: str, name: str, version: str) -> list[str]:
    """One message per invalid part of an identifier, naming the part and the rule it breaks.

    Empty when the identifier is valid. Never raises.
    """
    errors: list[str] = []
    for (part, pattern, rule), value in zip(
        _IDENTIFIER_RULES, (project, domain, name, version), strict=True
    ):
        if not isinstance(value, str) or re.fullmatch(pattern, value) is None:
            errors.append(f"{part} {value!r} is not valid: it must be {rule}")
    return errors


def duplicate_key_errors(document: Any, paths: Iterable[JsonPath]) -> list[CompileError]:
    """Errors for keys given twice in ``document`` (a registration body or a bare spec).

    An input bound twice on a node (``...nodes[i].inputs.x``, also in branch
    cases) is ``twice_bound_input`` naming the node and the input; so is a
    workflow output bound twice and a launch plan input given twice among its
    default or fixed inputs. Any other key given twice is ``duplicate_key``.
    Never raises.
    """
    errors: list[CompileError] = []
    for path in paths:
        errors.append(_duplicate_key_error(document, path))
    return errors


def _duplicate_key_error(document: Any, path: JsonPath) -> CompileError:
    where = render_path(path)
    key = str(path[-1]) if path else ""
    parent = path[:-1]
    container = parent[-1] if parent else None
    holder = parent[:-1]
    if container == "inputs" and _is_node_path(holder):
        node = _lookup(document, holder)
        node_id = node.get("id") if isinstance(node, dict) else None
        node_id = node_id if isinstance(node_id, str) else None
        return CompileError(
            ErrorCode.TWICE_BOUND_INPUT,
            f"input '{key}' of node {node_id or render_path(holder)} is bound twice ({where})",
            node=node_id,
            input=key,
        )
    if container == "outputs" and holder in ((), ("spec",)):
        return CompileError(
            ErrorCode.TWICE_BOUND_INPUT,
            f"workflow output '{key}' is bound twice ({where})",
            input=key,
        )
    if container in ("default_inputs", "fixed_inputs") and holder in ((), ("spec",)):
        return CompileError(
            ErrorCode.TWICE_BOUND_INPUT,
            f"launch plan input '{key}' is given twice in {container} ({where})",
            input=key,
        )
    if container in ("inputs", "outputs") and holder and holder[-1] == "interface":
        kind = "input" if container == "inputs" else "output"
        return CompileError(
            ErrorCode.DUPLICATE_KEY,
            f"{kind} '{key}' is declared twice in the interface ({where})",
            input=key,
        )
    return CompileError(ErrorCode.DUPLICATE_KEY, f"key '{key}' is given twice ({where})")


def _is_node_path(path: JsonPath) -> bool:
    """Whether ``path`` addresses a node: ``nodes[i]``, a branch case's ``then`` or an
    ``otherwise``."""
    if len(path) >= 2 and path[-2] == "nodes" and isinstance(path[-1], int):
        return True
    return bool(path) and path[-1] in ("then", "otherwise")


def _lookup(document: Any, path: JsonPath) -> Any:
    current = document
    for part in path:
        in_list = isinstance(part, int) and isinstance(current, list) and 0 <= part < len(current)
        in_dict = isinstance(part, str) and isinstance(current, dict) and part in current
        if not (in_list or in_dict):
            return None
        current = current[part]
    return current

"""What differs between a registered spec and one submitted under the same identifier.

The registry answers a re-registration with a different spec by a conflict
that lists these differences, so that the user sees what changed without
diffing two JSON documents by hand.
"""

from __future__ import annotations

from typing import Any

from shared.json_paths import JsonPath, render_path


def spec_differences(registered: dict[str, Any], submitted: dict[str, Any]) -> list[dict[str, Any]]:
    """The leaves where two JSON documents differ, in a deterministic order.

    Each difference is ``{"path", "registered", "submitted", "change"}``:
    ``path`` is spelled like ``interface.inputs.name.type.kind`` (list items as
    ``nodes[2]``); ``change`` is ``"changed"``, ``"added"`` (only in the
    submitted spec; ``registered`` is then null) or ``"removed"`` (only in the
    registered one; ``submitted`` is null). Objects are compared key by key in
    sorted order, lists item by item; values of different JSON types (``1`` and
    ``1.0``, ``1`` and ``true``) differ. Empty when the documents are equal.
    Never raises.
    """
    differences: list[dict[str, Any]] = []
    _compare(registered, submitted, (), differences)
    return differences


def _compare(old: Any, new: Any, path: JsonPath, out: list[dict[str, Any]]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(old.keys() | new.keys(), key=str):
            here = (*path, key)
            if key not in new:
                out.append(_difference(here, old[key], None, "removed"))
            elif key not in old:
                out.append(_difference(here, None, new[key], "added"))
            else:
                _compare(old[key], new[key], here, out)
        return
    if isinstance(old, list) and isinstance(new, list):
        for i in range(max(len(old), len(new))):
            if i >= len(new):
                out.append(_difference((*path, i), old[i], None, "removed"))
            elif i >= len(old):
                out.append(_difference((*path, i), None, new[i], "added"))
            else:
                _compare(old[i], new[i], (*path, i), out)
        return
    if type(old) is not type(new) or old != new:
        out.append(_difference(path, old, new, "changed"))


def _difference(path: JsonPath, registered: Any, submitted: Any, change: str) -> dict[str, Any]:
    return {
        "path": render_path(path),
        "registered": registered,
        "submitted": submitted,
        "change": change,
    }

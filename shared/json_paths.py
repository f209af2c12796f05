"""Paths into JSON documents, and how they are spelled for people.

A path is a tuple of object keys and array indexes; it reads
``interface.inputs.name.type.kind`` or ``nodes[2].inputs.x``, with keys that are
not plain names quoted (``labels["team.name"]``).
"""

from __future__ import annotations

import json
import re

JsonPath = tuple[str | int, ...]

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")


def render_path(path: JsonPath) -> str:
    """``("nodes", 2, "inputs", "x")`` as ``nodes[2].inputs.x``; the empty path as ``$``."""
    if not path:
        return "$"
    spelled: list[str] = []
    for part in path:
        if isinstance(part, int):
            spelled.append(f"[{part}]")
        elif _PLAIN_KEY.fullmatch(part):
            spelled.append(f".{part}" if spelled else part)
        else:
            spelled.append(f"[{json.dumps(part, ensure_ascii=False)}]")
    return "".join(spelled)

"""Cache keys of task outputs.

A task with ``cache`` on is run at most once per key; later runs take the
outputs stored under the key. The key is the sha256 (hex) of the canonical JSON
of the task's project, domain and name, its ``cache_version``, its interface,
and its resolved inputs. The task's version is not part of it: re-registering
the same task (new code, same interface) keeps its cache until the
``cache_version`` changes, as in Flyte. Project and domain are, so that two
projects with a task of the same name never share outputs.

Inputs are normalized by their declared types first, so that equal values give
equal keys: an int given for a float is a float, and a datetime is spelled in
UTC.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from shared.literals import NONE, DictType, ListType, LiteralType, SimpleType, UnionType
from shared.specs import CompiledTask


def cache_key(task: CompiledTask, inputs: dict[str, Any]) -> str:
    """The cache key of running ``task`` on ``inputs`` (its resolved input literals)."""
    interface = task.spec.interface
    normalized = {
        name: _normalize(interface.inputs[name].type, value) if name in interface.inputs else value
        for name, value in inputs.items()
    }
    document = {
        "project": task.identifier.project,
        "domain": task.identifier.domain,
        "task": task.spec.name,
        "cache_version": task.spec.cache_version,
        "interface": interface.model_dump(mode="json"),
        "inputs": normalized,
    }
    return hashlib.sha256(_canonical(document)).hexdigest()


def _canonical(document: Any) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _normalize(t: LiteralType, value: Any) -> Any:
    match t:
        case SimpleType(kind="float") | SimpleType(kind="duration"):
            if isinstance(value, int) and not isinstance(value, bool):
                return float(value)
        case SimpleType(kind="datetime"):
            if isinstance(value, str):
                try:
                    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
                except ValueError:
                    return value
                if parsed.tzinfo is not None:
                    return parsed.astimezone(UTC).isoformat()
        case ListType():
            if isinstance(value, list):
                return [_normalize(t.item, item) for item in value]
        case DictType():
            if isinstance(value, dict):
                return {key: _normalize(t.value, item) for key, item in value.items()}
        case UnionType():
            non_none = [variant for variant in t.variants if variant != NONE]
            if value is not None and len(non_none) == 1:
                return _normalize(non_none[0], value)
    return value

"""Input values as typed on the command line, read by their type (``run`` and ``launch``).

- ``int``, ``float``, ``str``; ``bool`` as true/false/yes/no/1/0;
- ``datetime`` as ISO 8601 (UTC when no offset is given); a duration as seconds;
- lists, dicts and records (dataclasses, pydantic models) as JSON;
- ``File`` and ``Directory`` as a path or an ``s3://`` URI;
- optionals as ``none`` or a value.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from typing import Any

from contrail.files import Directory, File
from shared.literals import (
    NONE,
    BlobType,
    DictType,
    EnumType,
    ListType,
    LiteralType,
    RecordType,
    SimpleType,
    UnionType,
    render,
)

_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


def literal_of_text(text: str, t: LiteralType) -> Any:
    """The literal of a command-line value for an input of type ``t``.

    Raises:
        ValueError: the text is not a value of ``t``; the message says what is expected.
    """
    match t:
        case SimpleType(kind="str"):
            return text
        case SimpleType(kind="int"):
            try:
                return int(text)
            except ValueError:
                raise ValueError(f"expected an int, got {text!r}") from None
        case SimpleType(kind="float"):
            try:
                return float(text)
            except ValueError:
                raise ValueError(f"expected a number, got {text!r}") from None
        case SimpleType(kind="bool"):
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError(f"expected true or false, got {text!r}")
        case SimpleType(kind="none"):
            if text.lower() in ("none", "null", ""):
                return None
            raise ValueError(f"expected none, got {text!r}")
        case SimpleType(kind="datetime"):
            try:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(
                    f"expected an ISO 8601 datetime such as 2024-05-01T12:00:00Z, got {text!r}"
                ) from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return moment.astimezone(UTC).isoformat()
        case SimpleType(kind="duration"):
            try:
                return float(text)
            except ValueError:
                raise ValueError(f"expected a duration in seconds, got {text!r}") from None
        case SimpleType(kind="bytes"):
            return base64.b64encode(text.encode()).decode("ascii")
        case EnumType():
            if text in t.values:
                return text
            raise ValueError(f"expected one of {', '.join(t.values)}, got {text!r}")
        case ListType() | DictType() | RecordType():
            try:
                return json.loads(text)
            except json.JSONDecodeError as error:
                raise ValueError(f"expected JSON ({render(t)}): {error}") from None
        case BlobType():
            blob = File(text) if t.kind == "file" else Directory(text)
            if not blob.is_remote and not os.path.exists(blob.path):
                raise ValueError(f"no such {t.kind}: {text}")
            return {"uri": blob.uri}
        case UnionType():
            if NONE in t.variants and text.lower() in ("none", "null"):
                return None
            problems = []
            for variant in t.variants:
                if variant == NONE:
                    continue
                try:
                    return literal_of_text(text, variant)
                except ValueError as error:
                    problems.append(str(error))
            raise ValueError("; ".join(problems))
    raise ValueError(f"can't read {render(t)} from the command line")

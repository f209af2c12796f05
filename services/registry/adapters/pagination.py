"""Keyset page tokens: the opaque form of "rows older than this id"."""

from __future__ import annotations

import base64
import binascii
import json


class InvalidPageToken(ValueError):
    """The token was not issued by a previous page."""


def encode_token(before_id: int) -> str:
    raw = json.dumps({"before": before_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        before = json.loads(raw)["before"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise InvalidPageToken(f"page token {token!r} is not one this API issued") from exc
    if not isinstance(before, int) or isinstance(before, bool) or before < 1:
        raise InvalidPageToken(f"page token {token!r} is not one this API issued")
    return before

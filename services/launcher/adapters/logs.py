"""What workers store in S3 for the engine: an attempt's stdout and stderr (under its
``log_uri``) and its outputs when too large for a report (``outputs_uri``)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from shared.errors import InvalidRequest
from shared.s3 import ObjectNotFound, ObjectStore


class ForeignLogUri(InvalidRequest):
    """A log URI outside Contrail's bucket (400 ``invalid_request``)."""

    def __init__(self, uri: str) -> None:
        super().__init__(f"log URI outside the bucket: {uri}")


def log_key(store: ObjectStore, log_uri: str, stream: str) -> str:
    """The object key of ``stream`` (stdout or stderr) under ``log_uri`` (``s3://bucket/prefix``)."""
    prefix = f"s3://{store.bucket}/"
    if not log_uri.startswith(prefix):
        raise ForeignLogUri(log_uri)
    return f"{log_uri[len(prefix) :].rstrip('/')}/{stream}"


async def read_json_object(store: ObjectStore, uri: str) -> dict[str, Any]:
    """The JSON object stored at ``uri`` (``s3://bucket/key``), e.g. an attempt's outputs."""
    prefix = f"s3://{store.bucket}/"
    if not uri.startswith(prefix):
        raise ForeignLogUri(uri)
    data = await asyncio.to_thread(store.get, uri[len(prefix) :])
    return dict(json.loads(data))


async def read_log(store: ObjectStore, log_uri: str, stream: str) -> bytes | None:
    """The stream's bytes so far, or None when the worker has stored none yet."""
    key = log_key(store, log_uri, stream)
    try:
        return await asyncio.to_thread(store.get, key)
    except ObjectNotFound:
        return None

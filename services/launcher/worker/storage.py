"""Where a worker puts what an attempt leaves behind in S3: its logs and large outputs.

Layout, under the one bucket (``s3://<bucket>/``)::

    logs/<project>/<domain>/<execution name>/<node path>/<attempt>/stdout
    logs/<project>/<domain>/<execution name>/<node path>/<attempt>/stderr
    outputs/<project>/<domain>/<execution name>/<node path>/<attempt>/outputs.json
    outputs/<project>/<domain>/<execution name>/<node path>/<attempt>/files/<path>

A report's ``log_uri`` is the ``logs/.../<attempt>`` prefix; its ``outputs_uri``
the ``outputs.json`` object (JSON literals by output name), used instead of
inline ``outputs`` when they are too large for a Kafka record. A ``File`` or
``Directory`` output that the task wrote in its working folder (a
``{"uri": "file:///..."}`` literal) is uploaded under ``files/`` and its
literal rewritten to the ``s3://`` URI.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from shared.dispatch import AttemptDispatch
from shared.s3 import ObjectStore

log = logging.getLogger(__name__)

LOG_NAMES = ("stdout", "stderr")
_TEXT = "text/plain; charset=utf-8"
_BINARY = "application/octet-stream"


def attempt_prefix(dispatch: AttemptDispatch) -> str:
    """``<project>/<domain>/<execution name>/<node path>/<attempt>``."""
    e = dispatch.execution
    return f"{e.project}/{e.domain}/{e.name}/{dispatch.node_path}/{dispatch.attempt}"


def logs_key(dispatch: AttemptDispatch) -> str:
    return f"logs/{attempt_prefix(dispatch)}"


def outputs_key(dispatch: AttemptDispatch) -> str:
    return f"outputs/{attempt_prefix(dispatch)}/outputs.json"


def files_key(dispatch: AttemptDispatch) -> str:
    return f"outputs/{attempt_prefix(dispatch)}/files"


class OutputFileError(ValueError):
    """A ``file://`` output can't be stored: outside the attempt's folder, or missing."""


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` → ``(bucket, key)``; ``ValueError`` for anything else."""
    scheme, sep, rest = uri.partition("://")
    bucket, _, key = rest.partition("/")
    if scheme != "s3" or not sep or not bucket or not key:
        raise ValueError(f"{uri!r} is not an s3://<bucket>/<key> URI")
    return bucket, key


class AttemptStorage:
    """Uploads of one worker's attempts to S3 (boto3 calls run in threads)."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def uri(self, key: str) -> str:
        return f"s3://{self.store.bucket}/{key}"

    async def upload_logs(self, prefix: str, stdout: Path, stderr: Path) -> None:
        """Copy both log files to ``<prefix>/stdout`` and ``<prefix>/stderr`` (empty ones: not)."""
        await asyncio.gather(
            *(
                asyncio.to_thread(self._upload_file, f"{prefix}/{name}", path, _TEXT, True)
                for name, path in zip(LOG_NAMES, (stdout, stderr), strict=True)
            )
        )

    def _upload_file(
        self, key: str, path: Path, content_type: str = _BINARY, skip_empty: bool = False
    ) -> None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            data = b""
        if not data and skip_empty:
            # A log never stored reads as empty, and most attempts print nothing.
            return
        self.store.put(key, data, content_type=content_type)

    async def follow_logs(self, prefix: str, stdout: Path, stderr: Path, every: float) -> None:
        """Copy the logs every ``every`` seconds while they grow, until cancelled.

        Failures are logged and retried at the next tick: the final upload is the one that counts.
        """
        sizes: dict[Path, int] = {}
        while True:
            await asyncio.sleep(every)
            grown = False
            for path in (stdout, stderr):
                with contextlib.suppress(OSError):
                    size = os.stat(path).st_size
                    if size != sizes.get(path, 0):
                        sizes[path] = size
                        grown = True
            if not grown:
                continue
            try:
                await self.upload_logs(prefix, stdout, stderr)
            except Exception:
                log.warning("could not copy a running attempt's logs", exc_info=True)

    async def put_outputs(self, key: str, data: bytes) -> str:
        """Store an attempt's outputs (JSON) and return their ``s3://`` URI."""
        await asyncio.to_thread(self.store.put, key, data, "application/json")
        return self.uri(key)

    async def store_local_blobs(self, outputs: Any, root: Path, key_prefix: str) -> Any:
        """``outputs`` with each local ``{"uri": "file://..."}`` under ``root`` stored in S3.

        Raises:
            OutputFileError: a ``file://`` literal names a path outside ``root`` or that
                doesn't exist (the task must write its output files in its working folder).
        """
        if isinstance(outputs, list):
            return [await self.store_local_blobs(v, root, key_prefix) for v in outputs]
        if not isinstance(outputs, dict):
            return outputs
        uri = outputs.get("uri")
        if len(outputs) == 1 and isinstance(uri, str) and uri.startswith("file://"):
            return {"uri": await self._store_blob(uri, root, key_prefix)}
        return {k: await self.store_local_blobs(v, root, key_prefix) for k, v in outputs.items()}

    async def _store_blob(self, uri: str, root: Path, key_prefix: str) -> str:
        return await asyncio.to_thread(self._store_blob_sync, uri, root, key_prefix)

    def _store_blob_sync(self, uri: str, root: Path, key_prefix: str) -> str:
        path = Path(unquote(urlsplit(uri).path)).resolve()
        root = root.resolve()
        if not path.is_relative_to(root):
            raise OutputFileError(
                f"output {uri} is outside the attempt's working folder; "
                "write output files under the task's current directory"
            )
        if not path.exists():
            raise OutputFileError(f"output {uri} does not exist")
        key = f"{key_prefix}/{path.relative_to(root).as_posix()}"
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                self._upload_file(f"{key}/{file.relative_to(path).as_posix()}", file)
        else:
            self._upload_file(key, path)
        return self.uri(key)

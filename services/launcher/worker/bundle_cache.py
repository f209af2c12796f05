"""Code bundles on a worker: fetched from S3 once per digest, unpacked into a shared cache.

A bundle URI is ``s3://<bucket>/bundles/<project>/<domain>/<sha256>/<file>``:
the key names the digest of the tarball's bytes, so a folder unpacked for a
digest never changes and every worker of a machine may share it
(``unpack_bundle`` is atomic across processes). A worker downloads a digest it
does not have yet once, however many attempts of it arrive together.

Each use refreshes a folder's modification time (at most once a minute), and
``purge`` removes the folders nobody used for a while, so the cache holds the
bundles in use rather than every bundle ever run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import time
from collections.abc import Collection
from pathlib import Path

from services.launcher.worker.bundles import BundleError, unpack_bundle
from services.launcher.worker.storage import parse_s3_uri
from shared.s3 import ObjectNotFound, ObjectStore

_DIGEST = re.compile(r"^(?:sha256:)?([0-9a-fA-F]{64})$")
_FOLDER = re.compile(r"^[0-9a-f]{64}$")
_TOUCH_EVERY_SECONDS = 60.0


class BundleUnavailable(Exception):
    """A code bundle can't be fetched or unpacked; the message names the URI and why."""

    def __init__(self, uri: str, reason: str) -> None:
        super().__init__(f"code bundle {uri} is unavailable: {reason}")
        self.uri = uri
        self.reason = reason


def bundle_digest(uri: str) -> str:
    """The sha256 a bundle URI names: the path segment of its key that is one."""
    _, key = parse_s3_uri(uri)
    for segment in reversed(key.split("/")):
        match = _DIGEST.match(segment)
        if match:
            return match.group(1).lower()
    raise ValueError(f"{uri!r} names no sha256 digest in its key")


class BundleCache:
    """Unpacked code bundles under ``cache_dir/<sha256>``, fetched from the store on a miss."""

    def __init__(self, store: ObjectStore, cache_dir: Path) -> None:
        self._store = store
        self._dir = cache_dir
        self._fetching: dict[str, asyncio.Lock] = {}
        self._touched: dict[str, float] = {}

    @property
    def no_bundle_dir(self) -> Path:
        """An empty folder standing for "no bundle": the task imports from the worker's path."""
        path = self._dir / "no-bundle"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def folder_of(self, digest: str) -> Path:
        """Where the bundle of ``digest`` is (or would be) unpacked."""
        return self._dir / digest

    async def folder(self, uri: str) -> Path:
        """The unpacked folder of the bundle at ``uri``, downloading it on the first call.

        Raises:
            BundleUnavailable: the URI is malformed or names another bucket, the object
                is missing or unreadable, or the tarball doesn't unpack (wrong digest, unsafe).
        """
        try:
            bucket, key = parse_s3_uri(uri)
            digest = bundle_digest(uri)
        except ValueError as error:
            raise BundleUnavailable(uri, str(error)) from None
        if bucket != self._store.bucket:
            raise BundleUnavailable(
                uri, f"this worker reads bucket {self._store.bucket!r}, not {bucket!r}"
            )
        target = self._dir / digest
        if target.is_dir():
            self._touch(digest, target)
            return target
        lock = self._fetching.setdefault(digest, asyncio.Lock())
        async with lock:
            if target.is_dir():
                self._touch(digest, target)
                return target
            try:
                folder = await asyncio.to_thread(self._fetch, key, digest)
                self._touch(digest, folder)
                return folder
            except ObjectNotFound:
                raise BundleUnavailable(uri, "no such object in S3") from None
            except BundleError as error:
                raise BundleUnavailable(uri, str(error)) from None
            except Exception as error:  # S3 unreachable, disk full: the engine retries
                raise BundleUnavailable(uri, f"{type(error).__name__}: {error}") from None
            finally:
                self._fetching.pop(digest, None)

    def _touch(self, digest: str, folder: Path) -> None:
        """Mark ``folder`` as used now (its mtime), at most once a minute per digest."""
        now = time.monotonic()
        if now - self._touched.get(digest, -_TOUCH_EVERY_SECONDS) < _TOUCH_EVERY_SECONDS:
            return
        self._touched[digest] = now
        with contextlib.suppress(OSError):  # another worker purged it: it is fetched again
            os.utime(folder)

    def purge(self, idle_seconds: float, keep: Collection[Path] = ()) -> list[str]:
        """Remove the bundles unused for ``idle_seconds``, except the folders in ``keep``.

        A folder is first renamed away (atomically), so no worker ever finds a
        half-removed bundle. Returns the digests removed.
        """
        cutoff = time.time() - idle_seconds
        kept = {Path(k).resolve() for k in keep}
        trash = self._dir / ".trash"
        removed: list[str] = []
        try:
            entries = list(self._dir.iterdir())
        except FileNotFoundError:
            return removed
        for folder in entries:
            if not _FOLDER.match(folder.name) or folder.resolve() in kept:
                continue
            try:
                if folder.stat().st_mtime >= cutoff:
                    continue
                trash.mkdir(exist_ok=True)
                doomed = trash / f"{folder.name}-{os.getpid()}"
                folder.rename(doomed)
            except OSError:
                continue  # used, renamed or removed meanwhile
            shutil.rmtree(doomed, ignore_errors=True)
            self._touched.pop(folder.name, None)
            removed.append(folder.name)
        return removed

    def _fetch(self, key: str, digest: str) -> Path:
        data = self._store.get(key)
        downloads = self._dir / ".downloads"
        downloads.mkdir(parents=True, exist_ok=True)
        tarball = downloads / f"{digest}-{os.getpid()}.tgz"
        try:
            tarball.write_bytes(data)
            return unpack_bundle(tarball, self._dir, digest)
        finally:
            with contextlib.suppress(OSError):
                tarball.unlink()

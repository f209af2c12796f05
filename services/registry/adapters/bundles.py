"""Code bundles in S3: presigned uploads pinned to their content, presigned downloads.

An upload URL is signed together with the object's SHA-256 checksum and its
length, so S3 (and MinIO) refuse any other bytes at a digest's key: a PUT
without the ``x-amz-checksum-sha256`` header, or with other bytes, is a 4xx.
boto3 is synchronous; call these through ``asyncio.to_thread``.
"""

from __future__ import annotations

from shared.s3 import ObjectStore, PresignedUpload

UPLOAD_EXPIRES_SECONDS = 3600
DOWNLOAD_EXPIRES_SECONDS = 3600


class BundleStore:
    """The registry's view of the bucket."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    @property
    def bucket(self) -> str:
        return self._store.bucket

    def exists(self, key: str) -> bool:
        return self._store.exists(key)

    def presigned_upload(self, key: str, sha256: bytes, size: int) -> PresignedUpload:
        """A PUT URL that accepts only the ``size`` bytes whose SHA-256 is ``sha256``."""
        return self._store.presigned_upload(key, sha256, size, UPLOAD_EXPIRES_SECONDS)

    def presigned_download(self, key: str) -> str:
        return self._store.presigned_get(key, expires_seconds=DOWNLOAD_EXPIRES_SECONDS)

"""The S3 store: one bucket, objects by key, presigned URLs.

boto3 is synchronous; async callers wrap calls in ``asyncio.to_thread``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from botocore.client import Config
from botocore.exceptions import ClientError

from shared.settings import InfraSettings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def _client(settings: InfraSettings, endpoint: str) -> S3Client:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=settings.s3_access_key,
        aws_secret_access_key=settings.s3_secret_key.get_secret_value(),
        region_name=settings.s3_region,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            connect_timeout=3,
            read_timeout=30,
            retries={"max_attempts": 2, "mode": "standard"},
        ),
    )


@dataclass(frozen=True)
class PresignedUpload:
    url: str
    headers: dict[str, str]
    """Headers the client must send with the PUT exactly as given (they are signed)."""


class ObjectNotFound(KeyError):
    """No object is stored under the key."""


class ObjectStore:
    """Contrail's bucket in S3 (MinIO on the local stack)."""

    def __init__(self, settings: InfraSettings) -> None:
        self.bucket = settings.s3_bucket
        self._client = _client(settings, settings.s3_endpoint)
        # Presigned URLs name the address that their holders (the CLI, a
        # browser) reach, which in containers is not the services' own.
        self._signer = (
            _client(settings, settings.s3_public_endpoint)
            if settings.s3_public_endpoint
            else self._client
        )

    def ensure_bucket(self) -> None:
        """Create the bucket unless it exists."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                raise
            self._client.create_bucket(Bucket=self.bucket)

    def check(self) -> None:
        """Raise unless the bucket is reachable."""
        self._client.head_bucket(Bucket=self.bucket)

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self._client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise ObjectNotFound(key) from exc
            raise
        return response["Body"].read()

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return False
            raise
        return True

    def presigned_put(self, key: str, expires_seconds: int = 3600) -> str:
        """A URL through which anyone holding it may PUT the object."""
        return self._signer.generate_presigned_url(
            "put_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=expires_seconds,
        )

    def presigned_upload(
        self, key: str, sha256: bytes, size: int, expires_seconds: int = 3600
    ) -> PresignedUpload:
        """A PUT URL that accepts only the ``size`` bytes whose SHA-256 is ``sha256``.

        S3 (and MinIO) refuse a PUT without the checksum header, or with other bytes.
        """
        checksum = base64.b64encode(sha256).decode()
        url = self._signer.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ChecksumSHA256": checksum,
                "ContentLength": size,
            },
            ExpiresIn=expires_seconds,
        )
        return PresignedUpload(
            url, {"x-amz-checksum-sha256": checksum, "content-length": str(size)}
        )

    def presigned_get(self, key: str, expires_seconds: int = 3600) -> str:
        """A URL through which anyone holding it may GET the object."""
        return self._signer.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=expires_seconds,
        )

"""The data proxy: where a client uploads a code bundle, and how it reads objects back.

A bundle's key is addressed by its SHA-256 digest, and its upload URL is signed
with that checksum and the declared size, so S3 stores nothing at the key but
the bytes the digest names.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from services.registry.adapters.bundles import BundleStore
from services.registry.service_layer.errors import InvalidRequest, NotFound, TooLarge

_DIGEST = re.compile(r"^[0-9a-fA-F]{64}$")
_FILENAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,254}$")


@dataclass(frozen=True)
class UploadLocation:
    uri: str
    upload_url: str
    headers: dict[str, str]
    exists: bool


def bundle_key(project: str, domain: str, digest: str, filename: str) -> str:
    return f"bundles/{project}/{domain}/{digest}/{filename}"


async def upload_location(
    bundles: BundleStore,
    *,
    max_bytes: int,
    project: str,
    domain: str,
    digest: str,
    size: int,
    filename: str,
) -> UploadLocation:
    """Where to PUT the bundle whose SHA-256 is ``digest``, or ``exists`` when it is stored."""
    if not _DIGEST.match(digest):
        message = f"digest {digest!r} is not a SHA-256 in hex (64 characters 0-9a-f)"
        raise InvalidRequest(message, [{"field": "digest", "message": message}])
    if size > max_bytes:
        raise TooLarge(
            f"a bundle of {size} bytes is over the limit of {max_bytes} bytes "
            "(CONTRAIL_MAX_BUNDLE_BYTES)",
            [{"field": "size", "message": f"at most {max_bytes}"}],
        )
    if not _FILENAME.match(filename):
        message = f"filename {filename!r} must be one path segment of letters, digits, '_.-'"
        raise InvalidRequest(message, [{"field": "filename", "message": message}])
    digest = digest.lower()
    key = bundle_key(project, domain, digest, filename)
    exists = await asyncio.to_thread(bundles.exists, key)
    # Signed even when the object exists: the URL can store nothing but the same bytes.
    upload = bundles.presigned_upload(key, bytes.fromhex(digest), size)
    return UploadLocation(
        uri=f"s3://{bundles.bucket}/{key}",
        upload_url=upload.url,
        headers=upload.headers,
        exists=exists,
    )


async def download_url(bundles: BundleStore, uri: str) -> str:
    """A presigned GET of the object at ``uri`` (``s3://<bucket>/<key>`` in Contrail's bucket)."""
    parts = urlsplit(uri)
    key = parts.path.lstrip("/")
    # S3 answers a key with '..' segments with an error of its own: refuse it here.
    dots = {"", ".", ".."} & set(key.split("/"))
    if parts.scheme != "s3" or parts.netloc != bundles.bucket or dots:
        message = (
            f"uri {uri!r} is not s3://{bundles.bucket}/<key> "
            "(a key has no empty, '.' or '..' segment)"
        )
        raise InvalidRequest(message, [{"field": "uri", "message": message}])
    if not await asyncio.to_thread(bundles.exists, key):
        raise NotFound(f"no object is stored at {uri}")
    return bundles.presigned_download(key)

"""The data proxy through the gateway, against the real MinIO: S3 refuses other bytes."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from shared.s3 import ObjectStore
from shared.settings import RegistrySettings, StackSettings
from tests.auth import auth_headers
from tests.integration.registry_support import new_project

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(stack: StackSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, timeout=30, headers=auth_headers()
    ) as client:
        yield client


def _bundle() -> bytes:
    return b"a tarball " + uuid.uuid4().bytes * 64


async def _s3(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """A request to a presigned S3 URL: without the API's credential, as the CLI sends it."""
    async with httpx.AsyncClient(timeout=30) as s3:
        return await s3.request(method, url, **kwargs)


async def _location(
    client: httpx.AsyncClient, content: bytes, project: str, **overrides: Any
) -> httpx.Response:
    request = {
        "project": project,
        "domain": "development",
        "digest": hashlib.sha256(content).hexdigest(),
        "size": len(content),
        "filename": "bundle.tgz",
        **overrides,
    }
    return await client.post("/api/v1/data_proxy/upload", json=request)


def _key(uri: str, bucket: str) -> str:
    prefix = f"s3://{bucket}/"
    assert uri.startswith(prefix)
    return uri.removeprefix(prefix)


async def test_a_bundle_is_uploaded_by_digest_and_then_exists(
    client: httpx.AsyncClient, stack: StackSettings
) -> None:
    project = new_project()
    content = _bundle()
    digest = hashlib.sha256(content).hexdigest()

    first = await _location(client, content, project)
    location = first.json()
    put = await _s3("PUT", location["upload_url"], content=content, headers=location["headers"])
    second = await _location(client, content, project)
    download = await client.get("/api/v1/data_proxy/download", params={"uri": location["uri"]})
    fetched = await _s3("GET", download.json()["url"])

    assert first.status_code == 200, first.text
    assert location["uri"] == (
        f"s3://{stack.s3_bucket}/bundles/{project}/development/{digest}/bundle.tgz"
    )
    assert location["exists"] is False
    assert "x-amz-checksum-sha256" in location["headers"]
    assert put.status_code == 200, put.text
    assert second.json()["exists"] is True
    assert second.json()["uri"] == location["uri"]
    assert download.status_code == 200
    assert fetched.content == content


async def test_s3_refuses_other_bytes_at_a_digest(
    client: httpx.AsyncClient, stack: StackSettings
) -> None:
    project = new_project()
    content = _bundle()
    location = (await _location(client, content, project)).json()
    other = bytes(reversed(content))  # same size, other digest
    store = ObjectStore(stack)

    with_headers = await _s3(
        "PUT", location["upload_url"], content=other, headers=location["headers"]
    )
    without_headers = await _s3("PUT", location["upload_url"], content=other)

    assert 400 <= with_headers.status_code < 500, with_headers.text
    assert 400 <= without_headers.status_code < 500, without_headers.text
    assert not store.exists(_key(location["uri"], stack.s3_bucket))


async def test_s3_refuses_bytes_of_another_size_than_declared(
    client: httpx.AsyncClient, stack: StackSettings
) -> None:
    content = _bundle()
    location = (await _location(client, content, new_project())).json()
    headers = {k: v for k, v in location["headers"].items() if k.lower() != "content-length"}

    response = await _s3("PUT", location["upload_url"], content=content + b"!", headers=headers)

    assert 400 <= response.status_code < 500, response.text
    assert not ObjectStore(stack).exists(_key(location["uri"], stack.s3_bucket))


async def test_a_bundle_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    limit = RegistrySettings().max_bundle_bytes

    response = await _location(client, b"x", new_project(), size=limit + 1)

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


@pytest.mark.parametrize("digest", ["abc", "g" * 64, "0" * 63, "0" * 65])
async def test_a_digest_that_is_not_sha256_hex_is_400(
    client: httpx.AsyncClient, digest: str
) -> None:
    response = await _location(client, b"x", new_project(), digest=digest)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["details"][0]["field"] == "digest"


async def test_an_invalid_project_is_named(client: httpx.AsyncClient) -> None:
    response = await _location(client, b"x", "Not Valid")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_identifier"


@pytest.mark.parametrize("filename", ["../escape.tgz", "dir/bundle.tgz", ""])
async def test_a_filename_that_is_not_one_segment_is_400(
    client: httpx.AsyncClient, filename: str
) -> None:
    response = await _location(client, b"x", new_project(), filename=filename)

    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == "filename"


async def test_downloads_are_of_contrails_bucket_only(client: httpx.AsyncClient) -> None:
    foreign = await client.get(
        "/api/v1/data_proxy/download", params={"uri": "s3://someone-else/key"}
    )
    missing = await client.get(
        "/api/v1/data_proxy/download",
        params={"uri": f"s3://{StackSettings().s3_bucket}/bundles/{uuid.uuid4().hex}"},
    )

    assert foreign.status_code == 400
    assert missing.status_code == 404

"""The S3 store on the real MinIO."""

from __future__ import annotations

import uuid

import httpx
import pytest

from shared.s3 import ObjectNotFound, ObjectStore
from shared.settings import StackSettings

pytestmark = pytest.mark.integration


@pytest.fixture
def store(stack: StackSettings) -> ObjectStore:
    store = ObjectStore(stack)
    store.ensure_bucket()
    return store


def test_put_then_get_returns_the_same_bytes(store: ObjectStore) -> None:
    key = f"tests/{uuid.uuid4().hex}"
    store.put(key, b"\x00payload\xff")

    assert store.get(key) == b"\x00payload\xff"
    assert store.exists(key)


def test_a_missing_object_is_named(store: ObjectStore) -> None:
    key = f"tests/{uuid.uuid4().hex}"
    with pytest.raises(ObjectNotFound, match=key):
        store.get(key)
    assert not store.exists(key)


def test_presigned_urls_let_a_plain_http_client_upload_and_download(store: ObjectStore) -> None:
    key = f"tests/{uuid.uuid4().hex}.tgz"

    put = httpx.put(store.presigned_put(key), content=b"bundle bytes", timeout=10)
    get = httpx.get(store.presigned_get(key), timeout=10)

    assert put.status_code == 200, put.text
    assert get.status_code == 200
    assert get.content == b"bundle bytes"


def test_public_endpoint_names_the_address_in_presigned_urls(stack: StackSettings) -> None:
    public = stack.model_copy(update={"s3_public_endpoint": "http://s3.example.test:9000"})

    url = ObjectStore(public).presigned_put("tests/x")

    assert url.startswith("http://s3.example.test:9000/")

"""``Remote`` over a fake transport: requests it sends, errors it raises."""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Callable, Sequence

import httpx
import pytest

from contrail.remote import (
    Conflict,
    InvalidRequest,
    NotFound,
    Remote,
    RemoteError,
    ServerError,
    ServerUnavailable,
    TooLarge,
)
from shared.identifiers import Identifier, ResourceType
from shared.literals import SimpleType
from shared.specs import TaskSpec, TypedInterface, Variable

Handler = Callable[[httpx.Request], httpx.Response]


def _remote(handler: Handler) -> Remote:
    return Remote("http://registry.test", transport=httpx.MockTransport(handler))


def _error(status: int, code: str, message: str, details: Sequence[object] = ()) -> Handler:
    body = {"error": {"code": code, "message": message, "details": list(details)}}
    return lambda request: httpx.Response(status, json=body)


TASK = TaskSpec(
    name="workflows.example.say_hello",
    interface=TypedInterface(outputs={"o0": Variable(type=SimpleType(kind="str"))}),
)
IDENTIFIER = Identifier(
    resource_type=ResourceType.TASK,
    project="flytesnacks",
    domain="development",
    name=TASK.name,
    version="v1",
)


def test_register_posts_identifier_and_spec() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = json.loads(request.content)
        return httpx.Response(
            201, json={"identifier": body["identifier"], "digest": "d", "created": True}
        )

    registration = _remote(handler).register_task(IDENTIFIER, TASK)
    assert registration.created
    assert registration.identifier == IDENTIFIER
    assert seen[0].url == "http://registry.test/api/v1/tasks"
    body = json.loads(seen[0].content)
    assert body["identifier"] == {
        "project": "flytesnacks",
        "domain": "development",
        "name": TASK.name,
        "version": "v1",
    }
    assert body["spec"]["name"] == TASK.name


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (400, "compile_error", InvalidRequest),
        (400, "invalid_identifier", InvalidRequest),
        (404, "not_found", NotFound),
        (409, "conflict", Conflict),
        (413, "too_large", TooLarge),
        (500, "internal", ServerError),
        (502, "", ServerUnavailable),
        (418, "teapot", RemoteError),
    ],
)
def test_statuses_become_specific_errors(status: int, code: str, kind: type[RemoteError]) -> None:
    details = [{"path": "retries", "registered": 0, "submitted": 1}]
    remote = _remote(_error(status, code, "it went wrong", details))
    with pytest.raises(kind) as caught:
        remote.get_task("p", "d", "n", "v")
    assert caught.value.status == status
    assert caught.value.details == details
    if status != 502:
        assert caught.value.code == code
        assert caught.value.message == "it went wrong"


def test_a_gateway_page_without_json_still_gives_an_error() -> None:
    remote = _remote(lambda request: httpx.Response(404, text="<html>404 Not Found</html>"))
    with pytest.raises(NotFound, match="404"):
        remote.get_project("nope")


def test_unreachable_endpoint_names_it() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    remote = Remote(f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(ServerUnavailable) as caught:
        remote.list_projects()
    assert f"http://127.0.0.1:{port}" in str(caught.value)


def test_list_follows_pages_up_to_the_limit() -> None:
    pages = {
        None: (["v3", "v2"], "t1"),
        "t1": (["v1"], None),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("token")
        versions, next_token = pages[token]
        assert request.url.params["include_spec"] == "true"
        items = [
            {
                "identifier": {"project": "p", "domain": "d", "name": "t", "version": v},
                "digest": "x",
                "created_at": "2025-01-01T00:00:00Z",
            }
            for v in versions
        ]
        return httpx.Response(200, json={"items": items, "next_token": next_token})

    remote = _remote(handler)
    every = remote.list_entities(ResourceType.TASK, "p", "d", include_spec=True)
    assert [e.identifier.version for e in every] == ["v3", "v2", "v1"]
    assert every[0].identifier.resource_type is ResourceType.TASK
    two = remote.list_entities(ResourceType.TASK, "p", "d", limit=2, include_spec=True)
    assert [e.identifier.version for e in two] == ["v3", "v2"]


def test_upload_puts_with_the_given_headers_unless_it_exists() -> None:
    content = b"bundle bytes"
    digest = hashlib.sha256(content).hexdigest()
    puts: list[httpx.Request] = []
    exists = {"value": False}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            body = json.loads(request.content)
            assert body["digest"] == digest
            assert body["size"] == len(content)
            return httpx.Response(
                200,
                json={
                    "uri": f"s3://contrail/bundles/p/d/{digest}/bundle.tgz",
                    "upload_url": "http://s3.test/put-here?sig=1",
                    "headers": {"x-amz-checksum-sha256": "abc="},
                    "exists": exists["value"],
                },
            )
        puts.append(request)
        return httpx.Response(200)

    remote = _remote(handler)
    upload = remote.upload("p", "d", content)
    assert upload.uploaded
    assert upload.uri.endswith(f"{digest}/bundle.tgz")
    assert puts[0].url == "http://s3.test/put-here?sig=1"
    assert puts[0].headers["x-amz-checksum-sha256"] == "abc="
    assert puts[0].content == content
    exists["value"] = True
    assert not remote.upload("p", "d", content).uploaded
    assert len(puts) == 1


def test_a_refused_upload_says_why() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(
                200, json={"uri": "s3://b/k", "upload_url": "http://s3.test/k", "headers": {}}
            )
        return httpx.Response(400, text="<Error><Message>checksum mismatch</Message></Error>")

    with pytest.raises(RemoteError, match="checksum mismatch"):
        _remote(handler).upload("p", "d", b"x")


def test_launch_plan_state() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/launch_plans/p/d/lp/v1/activate"
        return httpx.Response(
            200,
            json={
                "identifier": {"project": "p", "domain": "d", "name": "lp", "version": "v1"},
                "digest": "x",
                "state": "ACTIVE",
            },
        )

    entity = _remote(handler).activate_launch_plan("p", "d", "lp", "v1")
    assert entity.state == "ACTIVE"
    assert entity.identifier.resource_type is ResourceType.LAUNCH_PLAN

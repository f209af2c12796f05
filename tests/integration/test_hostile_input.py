"""Hostile input through the gateway: each refused with a clear 4xx, nothing stored in part.

Bodies over the limits, invalid UTF-8 and NUL characters in names, deeply
nested JSON, huge integers, path-traversal names, and code bundles whose
members would leave their folder. Each answer is the one error body
(``{"error": {"code", "message", "details"}}``) naming the fault, and the
project's rows (registry, launcher, notifier) and outbox stay empty. The
requests Schemathesis found (``test_api_fuzz.py``) are kept here as they failed.
"""

from __future__ import annotations

import hashlib
import io
import json
import socket
import tarfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from shared.identifiers import ResourceType
from shared.literals import STR
from shared.settings import StackSettings
from shared.specs import CodeLocation
from tests.auth import auth_headers
from tests.integration.launcher_support import one_task_workflow, open_launcher
from tests.integration.registry_support import (
    Registry,
    body,
    launch_plan,
    new_project,
    open_db,
    open_registry,
    outbox_events,
    stored_rows,
    task_spec,
)

pytestmark = pytest.mark.integration

NOTHING = {"tasks": 0, "workflows": 0, "launch_plans": 0, "projects": 0}
JSON = {"content-type": "application/json"}
SAY_HELLO = "wf.say_hello"


@pytest.fixture
async def client(stack: StackSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, timeout=60, headers=auth_headers()
    ) as client:
        yield client


@pytest.fixture
async def db(stack: StackSettings) -> AsyncIterator[asyncpg.Connection]:
    async with open_db(stack) as conn:
        yield conn


def refused(response: httpx.Response, status: int, code: str, *words: str) -> dict[str, Any]:
    """The one error body with ``status`` and ``code``, its message naming each of ``words``."""
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    for word in words:
        assert word in error["message"], error
    return error


async def nothing_stored(db: asyncpg.Connection, project: str) -> None:
    """No row of ``project`` in the registry, the launcher or the notifier, and no event."""
    assert await stored_rows(db, project) == NOTHING
    assert await outbox_events(db, project) == []
    assert (
        await db.fetchval("SELECT count(*) FROM launcher.executions WHERE project = $1", project)
        == 0
    )
    assert (
        await db.fetchval(
            "SELECT count(*) FROM launcher.outbox "
            "WHERE position($1 in convert_from(value, 'UTF8')) > 0",
            project,
        )
        == 0
    )
    assert (
        await db.fetchval(
            "SELECT count(*) FROM notifier.subscriptions WHERE spec::text LIKE '%' || $1 || '%'",
            project,
        )
        == 0
    )


def task_body(project: str, **spec_changes: Any) -> dict[str, Any]:
    document = body(project, SAY_HELLO, "v1", task_spec(SAY_HELLO))
    document["spec"].update(spec_changes)
    return document


# --- bodies over the size limit ------------------------------------------------------------

OVER_THE_SERVICE_LIMIT = 16 * 1024 * 1024 + 1  # CONTRAIL_MAX_REQUEST_BYTES' default, plus one


@pytest.mark.parametrize(
    ("path", "make_body"),
    [
        (
            "/api/v1/executions",
            lambda project: {
                "project": project,
                "domain": "development",
                "launch_plan": {"name": "wf.hello"},
                "inputs": {"name": "x" * OVER_THE_SERVICE_LIMIT},
            },
        ),
        (
            "/api/v1/subscriptions",
            lambda project: {"project": project, "name": "x" * OVER_THE_SERVICE_LIMIT},
        ),
        (
            "/api/v1/projects",
            lambda project: {"name": project, "description": "x" * OVER_THE_SERVICE_LIMIT},
        ),
    ],
)
async def test_a_body_over_the_service_limit_is_413_and_stores_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, path: str, make_body: Any
) -> None:
    project = new_project()
    response = await client.post(path, content=json.dumps(make_body(project)), headers=JSON)
    error = refused(response, 413, "too_large", "CONTRAIL_MAX_REQUEST_BYTES")
    assert error["details"] == [{"field": "body", "message": "at most 16777216 bytes"}]
    await nothing_stored(db, project)


async def test_a_spec_over_the_registry_limit_is_413_and_stores_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    project = new_project()
    document = task_body(project, description="x" * (4 * 1024 * 1024))
    response = await client.post("/api/v1/tasks", json=document)
    refused(response, 413, "too_large", "CONTRAIL_MAX_SPEC_BYTES")
    await nothing_stored(db, project)


def test_a_body_over_the_gateway_limit_is_413_with_the_error_body(stack: StackSettings) -> None:
    """nginx refuses on the declared length alone (client_max_body_size), before any byte."""
    gateway = urlsplit(stack.gateway_url)
    host, port = gateway.hostname or "127.0.0.1", gateway.port or 80
    request = (
        f"POST /api/v1/executions HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: application/json\r\nContent-Length: 400000000\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((host, port), timeout=30) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert json.loads(payload)["error"]["code"] == "too_large"


# --- invalid UTF-8 and NUL characters -------------------------------------------------------


async def test_a_nul_in_a_project_name_is_400_and_stores_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    project = new_project()
    response = await client.post("/api/v1/projects", json={"name": f"{project}\x00x"})
    refused(response, 400, "invalid_identifier", "project")
    await nothing_stored(db, project)
    assert (
        await db.fetchval(
            "SELECT count(*) FROM registry.projects WHERE name LIKE $1", f"{project}%"
        )
        == 0
    )


async def test_a_nul_in_a_project_description_is_400_and_stores_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """It passed validation and PostgreSQL refused it: a 500 before."""
    project = new_project()
    response = await client.post(
        "/api/v1/projects", json={"name": project, "description": "a\x00b"}
    )
    refused(response, 400, "invalid_request", "cannot be stored", "NUL character")
    await nothing_stored(db, project)


async def test_a_nul_in_a_task_spec_is_400_and_stores_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    project = new_project()
    response = await client.post("/api/v1/tasks", json=task_body(project, description="a\x00b"))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] in ("invalid_request", "invalid_spec"), response.text
    await nothing_stored(db, project)


@pytest.mark.parametrize("path", ["/api/v1/tasks", "/api/v1/executions", "/api/v1/subscriptions"])
async def test_a_body_that_is_not_utf8_is_400_naming_the_byte(
    client: httpx.AsyncClient, db: asyncpg.Connection, path: str
) -> None:
    project = new_project()
    raw = json.dumps(task_body(project)).encode().replace(SAY_HELLO.encode(), b"wf.say_\xffhello")
    response = await client.post(path, content=raw, headers=JSON)
    refused(response, 400, "invalid_request", "not UTF-8", "\\xff")
    await nothing_stored(db, project)


@pytest.mark.parametrize(
    ("target", "field"),
    [
        # Found by Schemathesis: 500s (PostgreSQL refuses a NUL in a text parameter).
        (
            "/api/v1/workflows?version=%1F%C2%A6&project=branch"
            "&domain=%F3%8A%A2%8C%C2%9EP%14%00%F0%B5%B7%9Cs&limit=333&include_spec=false",
            "query.domain",
        ),
        (
            "/api/v1/deliveries?rule=%0A%C2%A2%10%00Z%0D&status=sent&limit=148&execution=q",
            "query.rule",
        ),
        ("/api/v1/usage/summary?project=a%00b", "query.project"),
        ("/api/v1/executions?project=a%00b&domain=development", "query.project"),
        ("/api/v1/tasks?project=%ff&domain=development", "query.project"),
        ("/api/v1/tasks/p%ffx/development/wf.x/v1", "path[4]"),
        ("/api/v1/executions/p%ff/development/e1", "path[4]"),
        ("/api/v1/deliveries/%ff", "path[4]"),
    ],
)
async def test_a_nul_or_invalid_utf8_in_the_target_is_400_naming_it(
    client: httpx.AsyncClient, target: str, field: str
) -> None:
    error = refused(await client.get(target), 400, "invalid_request")
    assert error["details"][0]["field"] == field, error
    assert "NUL" in error["message"] or "not UTF-8" in error["message"], error


async def test_a_nul_in_a_path_segment_is_refused_by_the_gateway(client: httpx.AsyncClient) -> None:
    """nginx refuses a NUL in the path itself (a plain 400, before any service)."""
    response = await client.get("/api/v1/projects/a%00b")
    assert response.status_code == 400


# --- deeply nested JSON ----------------------------------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    "path", ["/api/v1/tasks", "/api/v1/projects", "/api/v1/executions", "/api/v1/subscriptions"]
)
async def test_json_nested_100k_levels_is_400_not_a_recursion_error(
    client: httpx.AsyncClient, path: str
) -> None:
    error = refused(await client.post(path, content=DEEP, headers=JSON), 400, "invalid_request")
    assert "nest" in error["message"], error


async def test_a_spec_nested_deeper_than_the_limit_is_400_and_stores_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """Deep enough to parse, too deep for a spec: the registry's limit (100 levels) names it."""
    project = new_project()
    text = json.dumps(task_body(project, description="@"))
    raw = text.replace('"@"', "[" * 500 + "]" * 500)
    response = await client.post("/api/v1/tasks", content=raw, headers=JSON)
    refused(response, 400, "invalid_request", "nest deeper than the limit of 100 levels")
    await nothing_stored(db, project)


# --- huge integers ---------------------------------------------------------------------------

HUGE = "1" + "0" * 5000  # 10**5000


async def test_a_huge_integer_in_a_spec_is_400_and_stores_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    project = new_project()
    raw = json.dumps(task_body(project, retries="@")).replace('"@"', HUGE)
    response = await client.post("/api/v1/tasks", content=raw, headers=JSON)
    refused(response, 400, "invalid_request", "more than 4300 digits")
    await nothing_stored(db, project)


async def test_a_huge_integer_literal_in_launch_inputs_is_400_and_stores_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    project = new_project()
    launch = {"project": project, "domain": "development", "launch_plan": {"name": "wf.hello"}}
    raw = json.dumps({**launch, "inputs": {"n": "@"}}).replace('"@"', HUGE)
    response = await client.post("/api/v1/executions", content=raw, headers=JSON)
    refused(response, 400, "invalid_request", "more than 4300 digits")
    await nothing_stored(db, project)


async def test_an_integer_out_of_range_in_a_numeric_field_is_400(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    project = new_project()
    response = await client.post("/api/v1/tasks", json=task_body(project, retries=10**30))
    refused(response, 400, "invalid_request", "retries")
    await nothing_stored(db, project)
    for target in (
        f"/api/v1/executions?limit={HUGE}",
        f"/api/v1/tasks?project=p&domain=d&limit={10**30}",
    ):
        error = refused(await client.get(target), 400, "invalid_request")
        assert error["details"][0]["field"] == "query.limit", error


def subscription(project: str, **changes: Any) -> dict[str, Any]:
    channel = {"kind": "webhook", "target": "http://127.0.0.1:9/hook"}
    return {"project": project, "phases": ["FAILED"], "channels": [channel], **changes}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        # Accepted before: a digest window of 10**30 s would have broken the notifier's ingest.
        ("digest_seconds", 10**30),
        ("failures_in_a_row", 10**30),
        ("name", "a\x00b"),
        ("labels", {"team\x00": "x"}),
    ],
)
async def test_a_subscription_with_a_huge_number_or_a_nul_is_400_and_stores_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, field: str, value: Any
) -> None:
    project = new_project()
    response = await client.post(
        "/api/v1/subscriptions", json=subscription(project, **{field: value})
    )
    error = refused(response, 400, "invalid_request")
    assert field in json.dumps(error) or "NUL character" in error["message"], error
    await nothing_stored(db, project)


async def test_a_non_finite_number_in_a_spec_is_400(client: httpx.AsyncClient) -> None:
    project = new_project()
    raw = json.dumps(task_body(project, timeout_seconds="@")).replace('"@"', "1e400")
    response = await client.post("/api/v1/tasks", content=raw, headers=JSON)
    refused(response, 400, "invalid_request", "not finite")


# --- path traversal --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../x", "..", "a/../../b", "%2e%2e%2f", "..%2fx"])
async def test_a_traversal_name_is_refused_and_stores_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, name: str
) -> None:
    project = new_project()
    response = await client.post("/api/v1/projects", json={"name": name})
    refused(response, 400, "invalid_identifier", "project")
    document = task_body(project)
    document["identifier"]["name"] = document["spec"]["name"] = name
    refused(await client.post("/api/v1/tasks", json=document), 400, "invalid_identifier", "name")
    await nothing_stored(db, project)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/projects/%2e%2e%2f%2e%2e%2fregistry%2fhealthz",
        "/api/v1/tasks/..%2f..%2fx/development/n/v1",
        "/api/v1/executions/%2e%2e/%2e%2e/x",
    ],
)
async def test_a_traversal_in_the_path_reaches_nothing_but_a_4xx(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["code"] in (
        "not_found",
        "invalid_identifier",
        "invalid_request",
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("project", "../x"),
        ("domain", "..%2f"),
        ("filename", "../bundle.tgz"),
        ("filename", "a/b.tgz"),
    ],
)
async def test_a_traversal_in_a_data_proxy_key_is_400(
    client: httpx.AsyncClient, field: str, value: str
) -> None:
    request = {
        "project": new_project(),
        "domain": "development",
        "digest": hashlib.sha256(b"x").hexdigest(),
        "size": 1,
        "filename": "bundle.tgz",
        field: value,
    }
    response = await client.post("/api/v1/data_proxy/upload", json=request)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["details"][0]["field"].endswith(field), response.text


async def test_a_download_outside_the_bucket_layout_is_refused(client: httpx.AsyncClient) -> None:
    for uri in (
        "s3://contrail/../../etc/passwd",
        "s3://other-bucket/bundles/x",
        "file:///etc/passwd",
    ):
        response = await client.get("/api/v1/data_proxy/download", params={"uri": uri})
        assert 400 <= response.status_code < 500, (uri, response.text)
        assert response.json()["error"]["code"], response.text


# --- code bundles with members that leave their folder -----------------------------------------


def _tarball(member: tarfile.TarInfo, content: bytes = b"") -> bytes:
    """A gzipped tar with a good module and one hostile ``member``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        good = b"def say_hello(name: str) -> str:\n    return 'hello ' + name\n"
        info = tarfile.TarInfo("hostile_tasks.py")
        info.size = len(good)
        tar.addfile(info, io.BytesIO(good))
        member.size = len(content)
        tar.addfile(member, io.BytesIO(content) if content else None)
    return buffer.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


MARK = uuid.uuid4().hex[:12]

HOSTILE = {
    "dotdot": (_member(f"../../../../../../tmp/contrail-hostile-{MARK}-dotdot"), "'..' component"),
    "absolute": (_member(f"/tmp/contrail-hostile-{MARK}-absolute"), "absolute path"),
    "symlink": (_member("escape", tarfile.SYMTYPE, "/etc"), "outside the archive root"),
    "hardlink": (
        _member("passwd", tarfile.LNKTYPE, "../../../../etc/passwd"),
        "outside the archive root",
    ),
}


async def _upload(client: httpx.AsyncClient, project: str, content: bytes) -> str:
    request = {
        "project": project,
        "domain": "development",
        "digest": hashlib.sha256(content).hexdigest(),
        "size": len(content),
        "filename": "bundle.tgz",
    }
    response = await client.post("/api/v1/data_proxy/upload", json=request)
    assert response.status_code == 200, response.text
    location = response.json()
    if not location["exists"]:
        async with httpx.AsyncClient(timeout=30) as s3:
            put = await s3.put(location["upload_url"], content=content, headers=location["headers"])
            assert put.status_code == 200, put.text
    uri: str = location["uri"]
    return uri


async def _register_with_bundle(registry: Registry, project: str, bundle: str) -> None:
    task = task_spec(SAY_HELLO, {"name": STR}, {"o0": STR}).model_copy(
        update={
            "code": CodeLocation(module="hostile_tasks", function="say_hello", bundle=bundle),
            "image": None,
        }
    )
    await registry.ok(ResourceType.TASK, project, "v1", task)
    await registry.ok(
        ResourceType.WORKFLOW, project, "v1", one_task_workflow("wf.hello", SAY_HELLO)
    )
    await registry.ok(ResourceType.LAUNCH_PLAN, project, "v1", launch_plan("wf.hello", "wf.hello"))


@pytest.mark.parametrize("kind", list(HOSTILE))
async def test_a_bundle_with_a_member_leaving_its_folder_fails_the_attempt_naming_it(
    stack: StackSettings, client: httpx.AsyncClient, kind: str
) -> None:
    """The worker refuses the bundle before extracting anything; the execution fails saying why."""
    member, problem = HOSTILE[kind]
    project = new_project()
    bundle = await _upload(client, project, _tarball(member, b"owned\n"))
    async with open_registry(stack) as registry:
        await _register_with_bundle(registry, project, bundle)
    async with open_launcher(stack) as launcher:
        execution = await launcher.launch(project, launch_plan={"name": "wf.hello"})
        ended = await launcher.wait(execution, ("FAILED", "SUCCEEDED"), timeout=90)
    assert ended["phase"] == "FAILED", ended
    error = ended["error"]
    assert error["code"] == "BundleUnavailable", error
    assert member.name in error["message"], error
    assert problem in error["message"], error
    escaped = [Path(f"/tmp/contrail-hostile-{MARK}-{kind}") for kind in ("dotdot", "absolute")]
    assert not [path for path in escaped if path.exists()]

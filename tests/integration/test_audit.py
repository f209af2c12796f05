"""The audit log on the real stack: registrations, a launch and an abort each appear once in
``GET /api/v1/audit`` through the gateway, with their actor, action and project; an
identical re-registration adds nothing."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest

from shared.identifiers import ResourceType
from shared.settings import StackSettings
from tests.auth import auth_headers, new_token
from tests.eventually import eventually_async
from tests.integration.launcher_support import (
    TERMINAL,
    code_task,
    hello_task,
    open_launcher,
    register_one_task,
)
from tests.integration.registry_support import new_project, open_registry


async def _actor(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> str:
    """Whom the stack takes the credential in ``headers`` (else the client's) for."""
    response = await client.get("/api/v1/auth/whoami", headers=headers)
    assert response.status_code == 200, response.text
    name: str = response.json()["name"]
    return name


def _urn(project: str, execution: dict[str, Any]) -> str:
    return f"urn:contrail:execution:{project}:development:{execution['name']}"


async def _audit(client: httpx.AsyncClient, **query: Any) -> list[dict[str, Any]]:
    """Every entry matching ``query``, newest first, read page by page."""
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        params = {**query, "limit": 2, **({"token": token} if token else {})}
        response = await client.get("/api/v1/audit", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        token = page["next_token"]
        if token is None:
            return items


async def test_registrations_a_launch_and_an_abort_are_audited_once_each(
    stack: StackSettings,
) -> None:
    project = new_project()
    async with open_registry(stack) as registry:
        actor = await _actor(registry.client)
        await register_one_task(registry, project, function="nap")
        again = await registry.register(
            ResourceType.TASK, project, "v1", hello_task(function="nap")
        )
        assert again.status_code == 200, again.text
        # Audited after the re-registration, by the same relay, on the same partition: once
        # it is in the log, an entry of the re-registration would be too.
        marker = code_task("say_hello", "wf.marker")
        await registry.ok(ResourceType.TASK, project, "v1", marker)

    async with open_launcher(stack) as launcher:
        # A 60 s nap: still running when it is aborted.
        execution = await launcher.launch(
            project, launch_plan={"name": "wf.hello"}, inputs={"name": "x-600"}
        )
        url = f"/api/v1/executions/{execution['execution_id']}"
        response = await launcher.client.post(f"{url}/abort", json={"cause": "audit test"})
        assert response.status_code == 202, response.text
        await launcher.wait(execution, TERMINAL, timeout=30)
        # Aborting what has ended changes nothing: no second entry.
        response = await launcher.client.post(f"{url}/abort", json={"cause": "twice"})
        assert response.status_code == 202, response.text
        # Audited after it, by the same relay, on the same partition: a marker again.
        response = await launcher.client.post(f"{url}/relaunch", json={})
        assert response.status_code == 201, response.text
        relaunched = response.json()["execution"]
        second = f"/api/v1/executions/{relaunched['execution_id']}/abort"
        response = await launcher.client.post(second, json={"cause": "the marker"})
        assert response.status_code == 202, response.text

    urn = _urn(project, execution)
    marker_urn = f"urn:contrail:task:{project}:development:wf.marker:v1"

    def complete(entries: list[dict[str, Any]]) -> bool:
        found = {(e["action"], e["resource"]) for e in entries}
        markers = {("register", marker_urn), ("abort", _urn(project, relaunched))}
        return markers <= found

    async with httpx.AsyncClient(
        base_url=stack.gateway_url, timeout=30, headers=auth_headers()
    ) as client:
        entries = await eventually_async(
            lambda: _audit(client, project=project),
            complete,
            timeout=30,
            what=f"the audit log of {project}",
        )

    assert Counter(e["action"] for e in entries) == {
        "project.create": 1,
        "register": 4,  # the task, the workflow, the launch plan, the marker
        "launch": 1,
        "relaunch": 1,
        "abort": 2,  # the execution's first abort (not its second), the relaunched one's
    }, entries
    assert {e["actor"] for e in entries} == {actor}
    assert {e["project"] for e in entries} == {project}
    assert len({e["id"] for e in entries}) == len(entries)
    times = [e["time"] for e in entries if e["source"] == "/contrail/registry"]
    assert times == sorted(times, reverse=True), "newest first"
    [abort] = [e for e in entries if e["action"] == "abort" and e["resource"] == urn]
    assert (abort["resource"], abort["details"], abort["source"]) == (
        urn,
        {"cause": "audit test"},
        "/contrail/launcher",
    )
    [launch] = [e for e in entries if e["action"] == "launch"]
    assert launch["details"]["launch_plan"].startswith(f"urn:contrail:launch_plan:{project}:")
    [relaunch] = [e for e in entries if e["action"] == "relaunch"]
    assert relaunch["details"]["source"] == urn
    registered = {e["resource"] for e in entries if e["action"] == "register"}
    assert f"urn:contrail:task:{project}:development:wf.say_hello:v1" in registered

    async with httpx.AsyncClient(
        base_url=stack.gateway_url, timeout=30, headers=auth_headers()
    ) as client:
        aborts = await _audit(client, project=project, action="abort", actor=actor)
        assert [e["id"] for e in aborts] == [e["id"] for e in entries if e["action"] == "abort"]
        assert await _audit(client, project=project, since="2999-01-01T00:00:00Z") == []


async def test_reading_the_audit_log_needs_admin_on_its_project(stack: StackSettings) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        if await _actor(client, auth_headers()) == "anonymous":
            pytest.skip("access control is off on this stack")
        project = new_project()
        admin = {"Authorization": f"Bearer {new_token(project, 'admin')}"}
        launcher = {"Authorization": f"Bearer {new_token(project, 'launcher')}"}
        other = {"Authorization": f"Bearer {new_token(new_project(), 'admin')}"}

        async def status(headers: dict[str, str], **query: str) -> int:
            response = await client.get("/api/v1/audit", params=query, headers=headers)
            return response.status_code

        assert await status(admin, project=project) == 200
        assert await status(admin, project=project, domain="development") == 200
        assert await status(admin) == 403  # every project's entries: admin on * only
        assert await status(launcher, project=project) == 403
        assert await status(other, project=project) == 403
        assert await status({}, project=project) == 401
        assert await status(auth_headers()) == 200  # the stack's admin holds *

"""The console URL that launches and alerts print answers with the execution's page."""

from __future__ import annotations

import pytest

from shared.settings import StackSettings
from tests.integration.launcher_support import TERMINAL, open_launcher, register_one_task
from tests.integration.registry_support import new_project, open_registry

pytestmark = pytest.mark.integration


async def test_the_printed_url_shows_the_failed_execution(stack: StackSettings) -> None:
    project = new_project()
    async with open_registry(stack) as registry:
        await register_one_task(registry, project, function="always_fails")
    async with open_launcher(stack) as launcher:
        execution = await launcher.launch(project, launch_plan={"name": "wf.hello"})
        done = await launcher.wait(execution, TERMINAL)
        assert done["phase"] == "FAILED"
        # The URL the API answers is the one printed by launches and alerts.
        assert done["url"].startswith(stack.gateway_url.rstrip("/") + "/console/projects/")
        page = await launcher.client.get(done["url"])
    assert page.status_code == 200, page.text[:500]
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert f"Execution {project}/development/{execution['name']}" in html
    assert '<span class="FAILED">FAILED</span>' in html
    assert "no luck for world" in html  # the error's message
    assert "<code>n0</code>" in html
    assert "wf.say_hello" in html
    assert f"contrail get execution {execution['name']} -p {project} -d development --watch" in html


async def test_an_unknown_execution_is_a_404(stack: StackSettings) -> None:
    async with open_launcher(stack) as launcher:
        page = await launcher.client.get(
            "/console/projects/nope/domains/development/executions/missing"
        )
    assert page.status_code == 404
    assert page.json()["error"]["code"] == "not_found"

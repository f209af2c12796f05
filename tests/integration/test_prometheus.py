"""Each service exposes its own counters and latencies on /metrics, in Prometheus's text
format, through OpenTelemetry's Prometheus exporter; the metrics service counts the events
it applies. (Operators' metrics, apart from usage accounting.)"""

from __future__ import annotations

import re

import httpx
import pytest

from shared.settings import (
    LauncherSettings,
    MetricsSettings,
    NotifierSettings,
    RegistrySettings,
    ServiceSettings,
    StackSettings,
)
from tests.auth import auth_headers
from tests.eventually import eventually_async
from tests.integration.launcher_support import open_launcher
from tests.integration.registry_support import new_project, open_registry
from tests.integration.usage_support import TERMINAL, register_mix

pytestmark = pytest.mark.integration

SERVICES: dict[str, ServiceSettings] = {
    "registry": RegistrySettings(),
    "launcher": LauncherSettings(),
    "notifier": NotifierSettings(),
    "metrics": MetricsSettings(),
}


def _value(text: str, metric: str) -> float:
    """The sum of a metric's samples (0 when it has none yet)."""
    pattern = re.compile(rf"^{metric}(?:\{{[^}}]*\}})? ([0-9.e+-]+)$", re.M)
    return sum(float(v) for v in pattern.findall(text))


@pytest.mark.parametrize("service", list(SERVICES))
async def test_a_service_exposes_its_counters_and_latencies(
    stack: StackSettings, service: str
) -> None:
    settings = SERVICES[service]
    async with httpx.AsyncClient(timeout=10, headers=auth_headers()) as client:
        ping = await client.get(f"{stack.gateway_url}/api/v1/{service}/openapi.json")
        assert ping.status_code == 200

        async def scrape() -> httpx.Response:
            return await client.get(f"http://127.0.0.1:{settings.port}/metrics")

        response = await eventually_async(
            scrape,
            lambda r: _value(r.text, "http_server_duration_milliseconds_count") > 0,
            timeout=10,
            what=f"{service}'s HTTP latencies on /metrics",
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert f'service_name="{service}"' in response.text


async def test_the_metrics_service_counts_the_events_it_applies(stack: StackSettings) -> None:
    url = f"http://127.0.0.1:{MetricsSettings().port}/metrics"
    async with httpx.AsyncClient(timeout=10, headers=auth_headers()) as client:
        before = _value((await client.get(url)).text, "contrail_metrics_events_applied_total")
        project = new_project()
        async with open_registry(stack) as registry:
            await register_mix(registry, project)
        async with open_launcher(stack) as launcher:
            execution = await launcher.launch(
                project, launch_plan={"name": "wf.ok"}, inputs={"name": project}
            )
            await launcher.wait(execution, TERMINAL, timeout=60)

        async def applied() -> float:
            return _value((await client.get(url)).text, "contrail_metrics_events_applied_total")

        # At least QUEUED, RUNNING, SUCCEEDED of the execution and of its attempt.
        await eventually_async(
            applied, lambda now: now >= before + 6, timeout=20, what="events applied counted"
        )
        text = (await client.get(url)).text
    assert _value(text, "contrail_metrics_batch_seconds_count") > 0

"""Resource accounting on the real stack: a known mix of executions (successes, a failure,
a retry, a cache hit, an out-of-memory kill, a map), every measure of the usage API checked
against the attempts the launcher's API reports; bad queries answered 400."""

from __future__ import annotations

import uuid

import pytest

from services.metrics.domain.pricing import GB, HOUR
from services.metrics.domain.sketch import RELATIVE_ACCURACY, exact_quantile
from shared.settings import StackSettings
from tests.integration.launcher_support import open_launcher
from tests.integration.registry_support import new_project, open_registry
from tests.integration.usage_support import (
    Expected,
    Usage,
    expected_from_api,
    open_usage,
    register_mix,
    run_mix,
)

pytestmark = pytest.mark.integration

EXACT = 1e-9
"""Sums of floats are compared to this relative tolerance (their order of addition differs)."""


def check_totals(row: dict[str, object], expected: Expected) -> None:
    for name in Expected.COUNTS:
        assert row[name] == getattr(expected, name), name
    assert row["wall_hours"] == pytest.approx(expected.wall_seconds / HOUR, rel=EXACT)
    assert row["cpu_hours"] == pytest.approx(expected.cpu_seconds / HOUR, rel=EXACT)
    assert row["cpu_hours_reserved"] == pytest.approx(
        expected.cpu_reserved_seconds / HOUR, rel=EXACT
    )
    assert row["memory_gb_hours"] == pytest.approx(
        expected.memory_byte_seconds / GB / HOUR, rel=EXACT
    )
    assert row["memory_gb_hours_reserved"] == pytest.approx(
        expected.memory_reserved_byte_seconds / GB / HOUR, rel=EXACT
    )
    assert row["cost"] == pytest.approx(expected.cost, rel=EXACT)


async def test_every_measure_matches_the_attempts_the_launcher_reports(
    stack: StackSettings,
) -> None:
    project = new_project()
    run = uuid.uuid4().hex[:8]
    async with open_registry(stack) as registry:
        await register_mix(registry, project)
    async with open_launcher(stack) as launcher:
        executions = await run_mix(launcher, project, {"run": run})
        expected = await expected_from_api(launcher, project, executions)

    # The mix is what it says: each kind of execution happened.
    assert expected.cache_hits == 1
    assert expected.oom_kills == 1
    assert expected.retries >= 1
    assert expected.failed >= 2
    assert expected.by_workflow["wf.map"]["attempts"] == 3

    async with open_usage(stack) as client:
        usage = Usage(client)
        row = await usage.wait_totals(project, expected)
        check_totals(row, expected)
        assert row["failure_rate"] == pytest.approx(expected.failed / expected.executions)
        assert row["cache_hit_rate"] is not None
        assert row["cpu_efficiency"] == pytest.approx(
            expected.cpu_seconds / expected.cpu_reserved_seconds, rel=EXACT
        )
        exact = exact_quantile(expected.durations, 0.9)
        assert abs(row["execution_duration_p90"] - exact) <= RELATIVE_ACCURACY * exact

        # The label filter finds the same executions; grouping by workflow splits them.
        labelled = await usage.summary(project=project, since="1d", label=f"run={run}")
        check_totals(labelled["items"][0], expected)
        by_workflow = await usage.summary(project=project, since="1d", group_by="workflow")
        counts = {
            item["workflow"]: {"executions": item["executions"], "attempts": item["attempts"]}
            for item in by_workflow["items"]
        }
        assert counts == expected.by_workflow
        assert by_workflow["prices"]["currency"]
        assert by_workflow["freshness"]["newest_event_at"] is not None

        # Grouped by task and day, paged one row at a time: the pages add up to the totals.
        attempts, token, pages = 0, None, 0
        while True:
            params = {"project": project, "since": "1d", "group_by": "task", "time": "day"}
            body = await usage.summary(**params, page_size=1, **({"token": token} if token else {}))
            attempts += sum(item["attempts"] for item in body["items"])
            pages += 1
            token = body["next_token"]
            if token is None:
                break
        assert attempts == expected.attempts
        assert pages >= 5

        top = await usage.get("top", project=project, since="1d", by="failures", n=2)
        assert top.status_code == 200, top.text
        assert {item["workflow"] for item in top.json()["items"]} <= {"wf.fail", "wf.oom"}

        advice = await usage.get("rightsizing", project=project, since="1d")
        assert advice.status_code == 200, advice.text
        killed = advice.json()["oom_killed"]
        assert [(k["task"], k["oom_kills"]) for k in killed] == [("t.oom", 1)]
        over = {(a["task"], a["resource"]) for a in advice.json()["overprovisioned"]}
        assert ("t.item", "memory_bytes") in over

        raw = await usage.get("attempts", project=project, since="1d", page_size=1000)
        assert raw.status_code == 200, raw.text
        assert len(raw.json()["items"]) == expected.attempts


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"group_by": "colour"}, "group_by"),
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
        ({"page_size": 100000}, "page_size"),
        ({"time": "fortnight"}, "time"),
        ({"since": "yesterday"}, "since"),
        ({"token": "not-a-token"}, "token"),
    ],
)
async def test_bad_queries_get_a_400_naming_the_parameter(
    stack: StackSettings, params: dict[str, str | int], field: str
) -> None:
    async with open_usage(stack) as client:
        response = await client.get("/api/v1/usage/summary", params=params)
    assert response.status_code == 400, response.text
    fields = [detail["field"] for detail in response.json()["error"]["details"]]
    assert any(name.split(".")[-1] == field for name in fields), fields

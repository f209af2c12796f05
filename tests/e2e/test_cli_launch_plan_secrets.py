"""A launch plan's webhook secret, end to end with the real `contrail` command and the stack's
own notifier: registered from a project's code, shown as **** by the CLI, sealed in the
registry's row, and still used, in plaintext, when an execution of the plan fails."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from contrail.demo.layout import Layout
from shared.settings import StackSettings
from tests.e2e.test_cli_notifications import contrail, launched
from tests.eventually import eventually
from tests.integration.notifier_support import Receiver

pytestmark = pytest.mark.integration


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


MODULE = """\
from contrail import LaunchPlan, Webhook, task, workflow


@task
def load(rows: int) -> int:
    if rows < 0:
        raise ValueError(f"boom: cannot load {{rows}} rows")
    return rows


@workflow
def nightly_etl(rows: int = -1) -> int:
    return load(rows=rows)


paged = LaunchPlan.get_or_create(
    nightly_etl,
    "secretflows.alerting.paged",
    notifications=[Webhook(phases=["FAILED"], url="{url}")],
)
"""


async def stored_row(stack: StackSettings, project: str) -> str:
    conn = await asyncpg.connect(stack.pg_dsn)
    try:
        row: str | None = await conn.fetchval(
            "SELECT row_to_json(lp)::text FROM registry.launch_plans lp WHERE project = $1",
            project,
        )
    finally:
        await conn.close()
    assert row is not None
    return row


def test_a_webhook_secret_is_masked_sealed_and_still_reaches_the_receiver(
    stack: StackSettings, tmp_path: Path, receiver: Receiver
) -> None:
    project = f"sealed-{uuid.uuid4().hex[:8]}"
    marker = uuid.uuid4().hex
    url = f"{receiver.url}/hook/{marker}?token=tok{marker}"
    code = tmp_path / "code" / "secretflows"
    code.mkdir(parents=True)
    (code / "__init__.py").write_text("")
    (code / "alerting.py").write_text(MODULE.format(url=url))
    home = tmp_path / "home"
    home.mkdir()

    contrail(stack, home, "create", "project", project)
    registered = contrail(stack, home, "register", code, "--project", project)
    assert marker not in registered.stdout + registered.stderr

    where = ("-p", project, "-d", "development", "-o", "json")
    listed = contrail(stack, home, "get", "launchplans", "secretflows.alerting.paged", *where)
    [item] = json.loads(listed.stdout)
    version = item["identifier"]["version"]
    shown = contrail(
        stack, home, "get", "launchplans", "secretflows.alerting.paged", "-v", version, *where
    ).stdout
    assert marker not in shown
    assert json.loads(shown)["spec"]["notifications"][0]["recipients"] == ["****"]

    row = asyncio.run(stored_row(stack, project))
    assert "enc:v1:" in row
    assert marker not in row

    name = launched(
        contrail(
            stack,
            home,
            "launch",
            "secretflows.alerting.paged",
            "-p",
            project,
            "-d",
            "development",
        ).stdout
    )
    [hook] = eventually(
        lambda: [r for r in receiver.requests if r.path.startswith("/hook/")],
        timeout=90,
        what="the launch plan's webhook at the receiver",
    )
    assert hook.path == f"/hook/{marker}?token=tok{marker}"
    assert hook.json()["contrail"]["subject"]["execution"] == name

    deliveries = contrail(
        stack, home, "get", "deliveries", name, "-p", project, "-d", "development", "-o", "json"
    ).stdout
    [delivery] = json.loads(deliveries)
    assert delivery["status"] in ("sent", "SENT")
    assert marker not in deliveries
    notifier_log = Layout.of(stack).log("notifier").read_text(errors="replace")
    assert marker not in notifier_log

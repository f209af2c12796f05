"""The README's alerts, as a new user follows them with the real `contrail` command:
subscribe an address to the failures of a workflow, launch an execution that fails, read
the alert in Mailpit, see the delivery SENT; then stop Mailpit, launch another failing
execution, start Mailpit again: that alert arrives too, once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from shared.settings import StackSettings
from tests.eventually import eventually
from tests.integration.resilience_support import kill, restore
from tests.mailpit import Mailpit

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CONTRAIL = REPO / ".venv" / "bin" / "contrail"
EXAMPLES = REPO / "examples" / "workflows"


def contrail(
    stack: StackSettings, home: Path, *args: str | Path
) -> subprocess.CompletedProcess[str]:
    config = home / "config.yaml"
    config.touch()
    environment = {
        **os.environ,
        "CONTRAIL_CONFIG": str(config),
        "CONTRAIL_ENDPOINT": stack.gateway_url,
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    done = subprocess.run(
        [str(CONTRAIL), *map(str, args)],
        cwd=home,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def launched(output: str) -> str:
    for line in output.splitlines():
        if line.startswith("Launched execution "):
            return line.split()[2]
    raise AssertionError(output)


def alert_of(inbox: Mailpit, to: str, subject: str) -> list[Any]:
    return [e for e in inbox.by_subject(subject) if to in e.to]


@pytest.mark.skipif(
    os.environ.get("CONTRAIL_TEST_STACK", "local").lower() != "local",
    reason="stops the local stack's Mailpit",
)
def test_a_new_user_subscribes_and_gets_every_failure_once(
    stack: StackSettings, tmp_path: Path
) -> None:
    project = f"alert-{uuid.uuid4().hex[:8]}"
    address = f"you-{project}@example.com"
    contrail(stack, tmp_path, "create", "project", project)
    contrail(stack, tmp_path, "register", EXAMPLES, "--project", project)
    created = contrail(
        stack,
        tmp_path,
        "create",
        "subscription",
        "--email",
        address,
        "--project",
        project,
        "--workflow",
        "workflows.alerting.*",
        "--phase",
        "FAILED",
    )
    assert "Subscribed: sub-" in created.stdout
    listed = contrail(stack, tmp_path, "get", "subscriptions", "-o", "json")
    assert any(s["spec"]["project"] == project for s in json.loads(listed.stdout))

    def deliveries(name: str) -> list[dict[str, Any]]:
        out = contrail(
            stack,
            tmp_path,
            "get",
            "deliveries",
            name,
            "-p",
            project,
            "-d",
            "development",
            "-o",
            "json",
        ).stdout
        return [d for d in json.loads(out) if d["target"] == address]

    with Mailpit(stack.mailpit_url) as inbox:
        first = launched(
            contrail(
                stack,
                tmp_path,
                "launch",
                "workflows.alerting.nightly",
                "-p",
                project,
                "-d",
                "development",
            ).stdout
        )
        subject = f"[contrail] FAILED: {project}/development/{first}"
        [email] = eventually(
            lambda: alert_of(inbox, address, subject), timeout=60, what=f"{subject} to {address}"
        )
        text = inbox.message(email.id).text
        assert "ValueError: boom: cannot load -1 rows" in text
        assert f"/executions/{first}" in text
        assert f"contrail get execution {first} -p {project} -d development" in text
        eventually(lambda: deliveries(first), lambda d: d and d[0]["status"] == "sent")
        table = contrail(
            stack, tmp_path, "get", "deliveries", first, "-p", project, "-d", "development"
        ).stdout
        assert "SENT" in table

        kill("mailpit", signal.SIGTERM)
        try:
            second = launched(
                contrail(
                    stack,
                    tmp_path,
                    "launch",
                    "workflows.alerting.nightly",
                    "-p",
                    project,
                    "-d",
                    "development",
                ).stdout
            )
            eventually(
                lambda: deliveries(second),
                lambda d: bool(d) and d[0]["status"] == "failed",
                timeout=90,
                what="the second alert failing while Mailpit is down",
            )
        finally:
            asyncio.run(restore())
        subject2 = f"[contrail] FAILED: {project}/development/{second}"
        eventually(
            lambda: alert_of(inbox, address, subject2), timeout=120, what=f"{subject2} after"
        )
        eventually(lambda: deliveries(second), lambda d: d[0]["status"] == "sent", timeout=60)
        assert len(alert_of(inbox, address, subject2)) == 1
        assert len(alert_of(inbox, address, subject)) == 1


def test_subscriptions_are_tested_paused_resumed_and_deleted_from_the_cli(
    stack: StackSettings, tmp_path: Path
) -> None:
    address = f"cli-{uuid.uuid4().hex[:8]}@example.com"
    created = contrail(
        stack,
        tmp_path,
        "create",
        "subscription",
        "--email",
        address,
        "--project",
        "nothing-*",
        "-o",
        "json",
    )
    [subscription] = json.loads(created.stdout)
    sid = subscription["id"]
    assert "Paused" not in contrail(stack, tmp_path, "subscription", "pause", sid).stdout
    listed = json.loads(contrail(stack, tmp_path, "get", "subscriptions", "-o", "json").stdout)
    assert [s["paused"] for s in listed if s["id"] == sid] == [True]
    contrail(stack, tmp_path, "subscription", "resume", sid)
    tested = contrail(stack, tmp_path, "subscription", "test", sid).stdout
    assert "Test sent to 1 channel(s)" in tested
    with Mailpit(stack.mailpit_url) as inbox:
        eventually(
            lambda: [e for e in inbox.search(f"to:{address}") if address in e.to],
            timeout=30,
            what="the test alert",
        )
    rule = contrail(stack, tmp_path, "get", "deliveries", "--rule", sid, "-o", "json").stdout
    assert [d["status"] for d in json.loads(rule)] == ["sent"]
    contrail(stack, tmp_path, "subscription", "delete", sid)
    listed = json.loads(contrail(stack, tmp_path, "get", "subscriptions", "-o", "json").stdout)
    assert sid not in [s["id"] for s in listed]

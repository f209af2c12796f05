"""A launch plan's notification secrets on the real stack: sealed in the registry's row and
answers, opened by the notifier only to send.

Registered through the gateway with a Slack webhook URL, a PagerDuty routing key and a
webhook URL; the API's answer and the PostgreSQL row hold none of them; the same plaintext
registers again as unchanged, a different key is a conflict that does not show it; a failed
execution of the plan still reaches a real HTTP receiver on 127.0.0.1 with the real URL and
key, and neither the notifier's API nor its log shows them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from contrail.demo.layout import Layout
from contrail.demo.secrets_key import secrets_key_path
from shared.identifiers import Identifier, ResourceType
from shared.literals import INT, STR
from shared.phases import ExecutionPhase
from shared.sealing import MASK
from shared.settings import StackSettings
from shared.specs import ChannelKind, Notification
from tests.eventually import eventually
from tests.integration.notifier_support import (
    NotifierProcess,
    Receiver,
    deliveries,
    drop_notifier,
    failure_event,
    publish,
)
from tests.integration.registry_support import (
    greeting_workflow,
    launch_plan,
    new_project,
    open_registry,
    task_spec,
)

pytestmark = pytest.mark.integration

TASK, WORKFLOW, LAUNCH_PLAN = ResourceType.TASK, ResourceType.WORKFLOW, ResourceType.LAUNCH_PLAN
SAY_HELLO, LENGTH = "workflows.example.say_hello", "workflows.example.greeting_length"


@pytest.fixture
def secrets_key(stack: StackSettings) -> str:
    path = secrets_key_path(Layout.of(stack))
    assert path.is_file(), f"the stack made no secrets key ({path}): run `contrail demo up`"
    return path.read_text().strip()


@pytest.fixture
async def notifier(
    stack: StackSettings, topic: str, receiver: Receiver, secrets_key: str, tmp_path: Path
) -> AsyncIterator[NotifierProcess]:
    """A notifier of the test's own with the stack's key, Slack and PagerDuty at the receiver."""
    process = NotifierProcess(
        topic,
        {
            "CONTRAIL_SECRETS_KEY": secrets_key,
            "CONTRAIL_SLACK_WEBHOOK_BASE": f"{receiver.url}/slack/services",
            "CONTRAIL_PAGERDUTY_EVENTS_URL": f"{receiver.url}/pagerduty/v2/enqueue",
        },
        tmp_path / "notifier.log",
    )
    process.start()
    yield process
    await drop_notifier(stack, process)


def notifying_plan(slack: str, pagerduty: str, webhook: str) -> object:
    def n(kind: ChannelKind, target: str) -> Notification:
        return Notification(phases=[ExecutionPhase.FAILED], channel=kind, recipients=[target])

    return launch_plan(
        "lp.paged",
        "wf.etl",
        notifications=[
            n(ChannelKind.SLACK, slack),
            n(ChannelKind.PAGERDUTY, pagerduty),
            n(ChannelKind.WEBHOOK, webhook),
        ],
    )


async def test_notification_secrets_are_sealed_at_rest_and_in_answers_and_still_delivered(
    stack: StackSettings, notifier: NotifierProcess, receiver: Receiver
) -> None:
    p = new_project()
    marker = uuid.uuid4().hex
    slack_path = f"T{marker[:8]}/B{marker[8:16]}/slack{marker}"
    slack = f"https://hooks.slack.com/services/{slack_path}"
    pagerduty = f"pd{marker}"
    webhook = f"{receiver.url}/hook/{marker}?token=tok{marker}"
    secrets = (slack_path, pagerduty, webhook, f"slack{marker}", f"tok{marker}")
    spec = notifying_plan(slack, pagerduty, webhook)

    async with open_registry(stack) as registry:
        await registry.ok(TASK, p, "v1", task_spec(SAY_HELLO))
        await registry.ok(TASK, p, "v1", task_spec(LENGTH, {"greeting": STR}, {"o0": INT}))
        await registry.ok(WORKFLOW, p, "v1", greeting_workflow("wf.etl", SAY_HELLO, LENGTH))
        created = await registry.ok(LAUNCH_PLAN, p, "v1", spec)

        # The API's answers: ciphertext only.
        answer = await registry.get(LAUNCH_PLAN, p, "lp.paged", "v1")
        assert answer.status_code == 200, answer.text
        listed = await registry.client.get(
            "/api/v1/launch_plans", params={"project": p, "include_spec": "true"}
        )
        assert listed.status_code == 200, listed.text
        for text in (answer.text, listed.text, json.dumps(created)):
            for secret in secrets:
                assert marker not in text, f"{secret} in an answer"
        recipients = [n["recipients"][0] for n in answer.json()["spec"]["notifications"]]
        assert all(r.startswith("enc:v1:") for r in recipients), recipients

        # The same plaintext again is unchanged; another routing key is a conflict that
        # names the field and shows no key.
        again = await registry.register(LAUNCH_PLAN, p, "v1", spec)
        assert again.status_code == 200, again.text
        assert again.json()["digest"] == created["digest"]
        other = await registry.register(
            LAUNCH_PLAN, p, "v1", notifying_plan(slack, f"other{marker}", webhook)
        )
        assert other.status_code == 409, other.text
        assert marker not in other.text
        assert "enc:v1:" not in other.text
        [difference] = other.json()["error"]["details"]
        assert difference["path"] == "notifications[1].recipients[0]"
        assert (difference["registered"], difference["submitted"]) == (MASK, MASK)

    # At rest: the registry's row holds no plaintext.
    conn = await asyncpg.connect(stack.pg_dsn)
    try:
        row = await conn.fetchval(
            "SELECT row_to_json(lp)::text FROM registry.launch_plans lp "
            "WHERE project = $1 AND name = 'lp.paged'",
            p,
        )
        raw = await conn.fetchval(
            "SELECT spec_bytes FROM registry.launch_plans WHERE project = $1 AND name = 'lp.paged'",
            p,
        )
    finally:
        await conn.close()
    assert row is not None
    assert "enc:v1:" in row
    assert marker not in row
    assert marker.encode() not in bytes(raw)

    # A failed execution of the plan reaches the receiver with the real URL and key.
    plan = Identifier(
        resource_type=LAUNCH_PLAN, project=p, domain="development", name="lp.paged", version="v1"
    )
    await publish(stack, notifier.topic, failure_event(p, "bad1", launch_plan=plan))
    with notifier.api() as api:
        sent = eventually(
            lambda: deliveries(api, status="sent"),
            lambda items: len(items) >= 3,
            timeout=30,
            what="the plan's three deliveries sent",
        )
        answers = api.get("/api/v1/deliveries", params={"execution": f"{p}/development/bad1"})
    assert {d["channel"] for d in sent} == {"slack", "pagerduty", "webhook"}
    requests = eventually(lambda: list(receiver.requests), lambda r: len(r) >= 3, what="3 posts")
    by_path = {r.path.split("?")[0]: r for r in requests}
    assert f"/slack/services/{slack_path}" in by_path, sorted(by_path)
    assert by_path["/pagerduty/v2/enqueue"].json()["routing_key"] == pagerduty
    hook = by_path[f"/hook/{marker}"]
    assert hook.path == f"/hook/{marker}?token=tok{marker}"

    assert marker not in answers.text
    assert marker not in notifier.log.read_text()

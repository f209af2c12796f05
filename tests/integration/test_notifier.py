"""The notifier on the real stack: events on Kafka become emails in Mailpit and requests
at a real HTTP receiver, each recorded once, retried, dead-lettered, and shown by the API.

Each test runs a notifier process of its own (its schema, group and topic), aimed at
Mailpit, at a receiver on 127.0.0.1 and, for Teams (https only), at an HTTPS receiver
with a self-signed certificate that the notifier trusts
(tests/integration/notifier_support.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qsl

import asyncpg
import pytest

from services.notifier.adapters.unit_of_work import postgres_uow_factory
from services.notifier.entrypoints.http import MIGRATIONS
from shared.db import apply_migrations
from shared.db.migrations import service_migrations
from shared.events.topics import NOTIFICATIONS, dead_letter
from shared.identifiers import Identifier, ResourceType
from shared.literals import INT, STR
from shared.phases import ExecutionPhase
from shared.settings import StackSettings
from shared.specs import ChannelKind, Notification
from tests.eventually import eventually, eventually_async
from tests.integration.conftest import Consume, Record
from tests.integration.notifier_support import (
    NotifierProcess,
    Receiver,
    deliveries,
    drop_notifier,
    failure_event,
    publish,
    self_signed_certificate,
)
from tests.integration.registry_support import (
    greeting_workflow,
    launch_plan,
    new_project,
    open_registry,
    task_spec,
)
from tests.integration.resilience_support import kill, restore, wait_gone
from tests.mailpit import Mailpit

pytestmark = pytest.mark.integration

SECRET = "test-webhook-secret"
BOT_TOKEN = "xoxb-1234-5678-abcdefghijkl"
TASK, WORKFLOW = ResourceType.TASK, ResourceType.WORKFLOW
SAY_HELLO = "workflows.example.say_hello"
LENGTH = "workflows.example.greeting_length"


@pytest.fixture
def teams_receiver(tmp_path: Path) -> Iterator[Receiver]:
    """An HTTPS receiver: apprise posts to Teams over https only."""
    r = Receiver(certificate=self_signed_certificate(tmp_path))
    yield r
    r.close()


@pytest.fixture
def inbox(stack: StackSettings) -> Iterator[Mailpit]:
    with Mailpit(stack.mailpit_url) as inbox:
        yield inbox


@pytest.fixture
def notifier_env() -> dict[str, str]:
    """More settings of the test's notifier (a test parametrizes it to change them)."""
    return {}


def new_notifier(
    topic: str,
    receiver: Receiver,
    teams_receiver: Receiver,
    tmp_path: Path,
    notifier_env: dict[str, str],
) -> NotifierProcess:
    """A notifier of the test's own (not started), aimed at the receivers."""
    assert teams_receiver.certificate is not None
    return NotifierProcess(
        topic,
        {
            "CONTRAIL_SLACK_WEBHOOK_BASE": f"{receiver.url}/slack/services",
            "CONTRAIL_PAGERDUTY_EVENTS_URL": f"{receiver.url}/pagerduty/v2/enqueue",
            "CONTRAIL_SLACK_API_URL": f"{receiver.url}/slack-api/{{}}",
            "CONTRAIL_SLACK_BOT_TOKEN": BOT_TOKEN,
            "CONTRAIL_TEAMS_HOST": teams_receiver.host,
            # apprise's requests trusts the receiver's self-signed certificate (its own CA).
            "REQUESTS_CA_BUNDLE": str(teams_receiver.certificate.cert),
            "CONTRAIL_WEBHOOK_SECRET": SECRET,
            "CONTRAIL_NOTIFIER_MAX_ATTEMPTS": "3",
            "CONTRAIL_NOTIFIER_RETRY_FIRST_SECONDS": "0.2",
            "CONTRAIL_NOTIFIER_RETRY_CAP_SECONDS": "1",
            "CONTRAIL_NOTIFIER_LEASE_SECONDS": "5",
            **notifier_env,
        },
        tmp_path / "notifier.log",
    )


@pytest.fixture
async def notifier(
    stack: StackSettings,
    topic: str,
    receiver: Receiver,
    teams_receiver: Receiver,
    tmp_path: Path,
    notifier_env: dict[str, str],
) -> AsyncIterator[NotifierProcess]:
    process = new_notifier(topic, receiver, teams_receiver, tmp_path, notifier_env)
    process.start()
    yield process
    await drop_notifier(stack, process)


def project() -> str:
    return f"n-{uuid.uuid4().hex[:8]}"


def subscribe(notifier: NotifierProcess, body: dict[str, object]) -> str:
    with notifier.api() as api:
        response = api.post("/api/v1/subscriptions", json=body)
    assert response.status_code == 201, response.text
    rule_id: str = response.json()["id"]
    return rule_id


def wait_deliveries(
    notifier: NotifierProcess, count: int, timeout: float = 20.0, **params: str
) -> list[dict[str, object]]:
    with notifier.api() as api:
        return eventually(
            lambda: deliveries(api, **params),
            lambda items: len(items) >= count,
            timeout=timeout,
            what=f"{count} deliveries {params}",
        )


async def test_a_failure_emails_the_subscriber_once_with_the_error_and_the_link(
    stack: StackSettings, notifier: NotifierProcess, inbox: Mailpit
) -> None:
    p = project()
    address = f"oncall-{p}@example.com"
    rule = subscribe(
        notifier,
        {
            "project": p,
            "workflow": "wf.*",
            "phases": ["FAILED"],
            "channels": [{"kind": "email", "target": address}],
        },
    )
    event = failure_event(p, "exec1")
    await publish(stack, notifier.topic, event)

    [delivery] = wait_deliveries(notifier, 1, status="sent", execution=f"{p}/development/exec1")
    assert delivery["rule_id"] == rule
    assert delivery["channel"] == "email"
    [email] = await inbox.wait_for_async(message_id=f"{delivery['id']}@contrail")
    assert email.to == [address]
    assert email.subject == f"[contrail] FAILED: {p}/development/exec1"
    content = inbox.message(email.id)
    assert "ValueError: boom" in content.text
    assert 'File "wf.py", line 3' in content.text
    assert f"/console/projects/{p}/domains/development/executions/exec1" in content.text
    assert f"contrail get execution exec1 -p {p} -d development" in content.text
    assert "Workflow: wf.etl @ v1" in content.text
    assert "Duration: 4.2 s" in content.text
    headers = inbox.headers(email.id)
    assert headers["X-Contrail-Delivery-Id"] == [delivery["id"]]
    assert headers["Message-Id"] == [f"<{delivery['id']}@contrail>"]

    # The same event again (a Kafka redelivery), and another event of the same
    # execution and phase: nothing more is delivered.
    again = failure_event(p, "exec1", seq=6)
    await publish(stack, notifier.topic, event, again, failure_event(p, "exec2"))
    wait_deliveries(notifier, 2, status="sent", rule=rule)
    with notifier.api() as api:
        executions = sorted(d["execution"] for d in deliveries(api, rule=rule))
    assert executions == [f"{p}/development/exec1", f"{p}/development/exec2"]
    assert len(inbox.by_message_id(f"{delivery['id']}@contrail")) == 1


async def test_webhook_slack_and_pagerduty_requests_are_signed_and_keyed(
    stack: StackSettings, notifier: NotifierProcess, receiver: Receiver
) -> None:
    p = project()
    subscribe(
        notifier,
        {
            "project": p,
            "phases": ["FAILED"],
            "recovered": True,
            "labels": {"team": "data"},
            "channels": [
                {"kind": "webhook", "target": f"{receiver.url}/hook?x=1"},
                {"kind": "slack", "target": f"{receiver.url}/T000/B000/XXXX"},
                {"kind": "pagerduty", "target": "routing-key-123"},
                {"kind": "slack", "target": "#alerts"},
            ],
        },
    )
    await publish(
        stack,
        notifier.topic,
        failure_event(p, "other", labels={"team": "web"}),  # labels do not match
        failure_event(p, "e1", labels={"team": "data"}),
    )
    items = wait_deliveries(notifier, 4, status="sent")
    assert {d["execution"] for d in items} == {f"{p}/development/e1"}
    by_channel = {d["channel"]: d for d in items}
    requests = eventually(lambda: list(receiver.requests), lambda r: len(r) >= 4, what="4 posts")
    by_path = {r.path.split("?")[0]: r for r in requests}

    hook = by_path["/hook"]
    expected = "sha256=" + hmac.new(SECRET.encode(), hook.body, hashlib.sha256).hexdigest()
    assert hook.headers["x-contrail-signature"] == expected
    assert hook.headers["idempotency-key"] == by_channel["webhook"]["id"]
    body = hook.json()
    assert body["title"] == f"[contrail] FAILED: {p}/development/e1"
    assert body["contrail"]["subject"]["error"]["message"] == "ValueError: boom"
    assert body["contrail"]["delivery_id"] == by_channel["webhook"]["id"]

    slack = by_path["/slack/services/T000/B000/XXXX"]
    assert "ValueError: boom" in json.dumps(slack.json())

    bot = by_path["/slack-api/chat.postMessage"]
    assert bot.headers["authorization"] == f"Bearer {BOT_TOKEN}"
    assert bot.json()["channel"] == "#alerts"
    assert "ValueError: boom" in json.dumps(bot.json())

    pd = by_path["/pagerduty/v2/enqueue"].json()
    assert pd["routing_key"] == "routing-key-123"
    assert pd["event_action"] == "trigger"
    assert pd["dedup_key"] == by_channel["pagerduty"]["id"]

    # The first success after the failure resolves the incident it opened.
    await publish(
        stack,
        notifier.topic,
        failure_event(p, "e2", phase=ExecutionPhase.SUCCEEDED, labels={"team": "data"}),
    )
    eventually(lambda: list(receiver.requests), lambda r: len(r) >= 8, what="the recovery posts")
    resolves = [r.json() for r in receiver.requests if r.path.startswith("/pagerduty")]
    assert resolves[-1] == {
        "routing_key": "routing-key-123",
        "event_action": "resolve",
        "dedup_key": by_channel["pagerduty"]["id"],
    }
    # Secrets and URL paths are not in the API's answers.
    with notifier.api() as api:
        listed = api.get("/api/v1/subscriptions").text
    assert "routing-key-123" not in listed
    assert "XXXX" not in listed
    logged = notifier.log.read_text()
    assert "routing-key-123" not in logged
    assert "XXXX" not in logged
    assert SECRET not in logged
    assert BOT_TOKEN not in logged


TEAMS_WORKFLOW = "a1b2c3d4e5f64a7b8c9d0e1f2a3b4c5d"
TEAMS_SIG = "KODuebWbDGYFr0z0eu-6Rj8aUKz7108W3wrNJZxFE5A"
CONSOLE = "https://contrail.example"


@pytest.mark.parametrize("notifier_env", [{"CONTRAIL_CONSOLE_URL": CONSOLE}])
async def test_a_teams_alert_is_an_adaptive_card_posted_over_https(
    stack: StackSettings, notifier: NotifierProcess, teams_receiver: Receiver
) -> None:
    p = project()
    # A Teams (Workflows) webhook URL as Teams gives it; CONTRAIL_TEAMS_HOST sends it to
    # the test's HTTPS receiver instead, whose certificate the notifier trusts.
    target = (
        f"https://prod-00.westus.logic.azure.com:443/workflows/{TEAMS_WORKFLOW}"
        "/triggers/manual/paths/invoke?api-version=2016-06-01"
        f"&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={TEAMS_SIG}"
    )
    rule = subscribe(
        notifier,
        {"project": p, "phases": ["FAILED"], "channels": [{"kind": "teams", "target": target}]},
    )
    await publish(stack, notifier.topic, failure_event(p, "e1"))
    [delivery] = wait_deliveries(notifier, 1, status="sent", rule=rule)
    assert delivery["channel"] == "teams"
    [request] = eventually(
        lambda: list(teams_receiver.requests), lambda r: len(r) >= 1, what="the Teams post"
    )
    assert request.method == "POST"
    path, _, query = request.path.partition("?")
    assert path == f"/workflows/{TEAMS_WORKFLOW}/triggers/manual/paths/invoke"
    assert dict(parse_qsl(query)) == {
        "api-version": "2016-06-01",
        "sp": "/triggers/manual/run",
        "sv": "1.0",
        "sig": TEAMS_SIG,
    }
    assert request.headers["content-type"] == "application/json"
    assert request.headers["host"] == teams_receiver.host
    body = request.json()
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    # apprise's failure icon, then the title and the body (the default Teams template).
    assert [(b["type"], b.get("id")) for b in card["body"]] == [
        ("Image", None),
        ("TextBlock", "title"),
        ("TextBlock", "body"),
    ]
    blocks = {block.get("id"): block for block in card["body"]}
    assert blocks[None]["altText"] == "failure"
    assert blocks["title"]["text"] == f"[contrail] FAILED: {p}/development/e1"
    assert blocks["body"]["text"] == (
        f"Execution e1 ({p}/development) is FAILED.\n"
        "Workflow: wf.etl @ v1\n"
        "Launch plan: -\n"
        "Duration: 4.2 s\n"
        "Error: USER UserError: ValueError: boom\n"
        "Traceback (tail):\n"
        '  File "wf.py", line 3, in t\n'
        "ValueError: boom\n"
        f"Open: {CONSOLE}/console/projects/{p}/domains/development/executions/e1\n"
        f"Or run: contrail get execution e1 -p {p} -d development"
    )
    # The webhook's signature is a secret: not in the API's answers, nor in the log.
    with notifier.api() as api:
        assert TEAMS_SIG not in api.get(f"/api/v1/subscriptions/{rule}").text
        assert TEAMS_SIG not in api.get("/api/v1/deliveries", params={"rule": rule}).text
    assert TEAMS_SIG not in notifier.log.read_text()


async def test_a_receiver_that_always_refuses_makes_the_delivery_dead_on_the_dlq(
    stack: StackSettings, notifier: NotifierProcess, receiver: Receiver, consume: Consume
) -> None:
    receiver.status = 400
    p = project()
    rule = subscribe(
        notifier,
        {
            "project": p,
            "phases": ["FAILED"],
            "channels": [{"kind": "webhook", "target": f"{receiver.url}/x"}],
        },
    )
    await publish(stack, notifier.topic, failure_event(p, "e1"))
    [dead] = wait_deliveries(notifier, 1, status="dead", rule=rule)
    assert dead["attempts"] == 3
    assert "did not accept" in str(dead["last_error"])
    assert len(receiver.requests) == 3
    delivery = str(dead["id"])

    def about(record: Record) -> bool:
        return bool(json.loads(record.value)["data"]["delivery_id"] == delivery)

    records = await consume(dead_letter(NOTIFICATIONS), until=lambda rs: any(about(r) for r in rs))
    [record] = [r for r in records if about(r)]
    assert record.key == f"{p}/development/e1".encode()
    assert json.loads(record.value)["type"] == "contrail.notification.dead"
    outcomes = await consume(
        NOTIFICATIONS,
        until=lambda rs: sum(about(r) for r in rs) >= 3,
    )
    types = [json.loads(r.value)["type"] for r in outcomes if about(r)]
    assert types == [
        "contrail.notification.failed",
        "contrail.notification.failed",
        "contrail.notification.dead",
    ]

    # Retried by hand once the receiver accepts: sent.
    receiver.status = 200
    with notifier.api() as api:
        response = api.post(f"/api/v1/deliveries/{dead['id']}/retry")
        assert response.status_code == 200, response.text
        again = api.post(f"/api/v1/deliveries/{dead['id']}/retry")
        assert again.status_code == 409
    wait_deliveries(notifier, 1, status="sent", rule=rule)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"phases": ["FAILED"], "channels": [{"kind": "email", "target": "not-an-address"}]},
            "body.channels.0.target",
        ),
        (
            {"phases": ["FAILED"], "channels": [{"kind": "webhook", "target": "ftp://x"}]},
            "body.channels.0.target",
        ),
        (
            {"phases": ["EXPLODED"], "channels": [{"kind": "email", "target": "a@b.io"}]},
            "body.phases",
        ),
        (
            {
                "phases": ["FAILED"],
                "template": "ok\n{{ subject.nope.deeper }}",
                "channels": [{"kind": "email", "target": "a@b.io"}],
            },
            "template",
        ),
        (
            {
                "phases": ["FAILED"],
                "channels": [{"kind": "webhook", "target": "https://evil.example/x"}],
            },
            "channels.0.target",
        ),
        (
            {
                "phases": ["FAILED"],
                "digest_seconds": 0,
                "channels": [{"kind": "email", "target": "a@b.io"}],
            },
            "body.digest_seconds",
        ),
    ],
)
def test_bad_subscriptions_are_refused_naming_the_field(
    notifier: NotifierProcess, body: dict[str, object], field: str
) -> None:
    with notifier.api() as api:
        response = api.post("/api/v1/subscriptions", json=body)
    assert response.status_code == 400, response.text
    details = response.json()["error"]["details"]
    assert field in [d["field"] for d in details], details
    if field == "template":
        assert details[0]["line"] == 2


async def test_the_notifier_killed_mid_burst_loses_no_alert(
    stack: StackSettings, notifier: NotifierProcess, receiver: Receiver
) -> None:
    p = project()
    rule = subscribe(
        notifier,
        {
            "project": p,
            "phases": ["FAILED"],
            "channels": [{"kind": "webhook", "target": f"{receiver.url}/k"}],
        },
    )
    events = [failure_event(p, f"e{i}") for i in range(60)]
    await publish(stack, notifier.topic, *events[:30])
    eventually(lambda: len(receiver.requests), lambda n: n >= 1, what="the first alerts")
    notifier.kill()
    await publish(stack, notifier.topic, *events[30:])
    notifier.start()
    items = wait_deliveries(notifier, 60, timeout=60, rule=rule)
    assert len(items) == 60  # one delivery per execution, despite the replay
    eventually(
        lambda: {r.headers["idempotency-key"] for r in receiver.requests},
        lambda keys: keys == {d["id"] for d in items},
        timeout=60,
        what="every alert at the receiver",
    )
    keys = [r.headers["idempotency-key"] for r in receiver.requests]
    duplicates = {k for k in keys if keys.count(k) > 1}
    # Only a send the notifier had not recorded when it died may go out twice.
    assert len(duplicates) <= 50, duplicates  # at most one claimed batch (send_batch=50)


async def emailing_launch_plan(stack: StackSettings, p: str, address: str) -> Identifier:
    """Register ``lp.nightly`` (of ``wf.etl``) in project ``p``, emailing ``address`` on
    failure; its identifier."""
    async with open_registry(stack) as registry:
        await registry.ok(TASK, p, "v1", task_spec(SAY_HELLO))
        await registry.ok(TASK, p, "v1", task_spec(LENGTH, {"greeting": STR}, {"o0": INT}))
        await registry.ok(WORKFLOW, p, "v1", greeting_workflow("wf.etl", SAY_HELLO, LENGTH))
        notification = Notification(
            phases=[ExecutionPhase.FAILED], channel=ChannelKind.EMAIL, recipients=[address]
        )
        spec = launch_plan("lp.nightly", "wf.etl", notifications=[notification])
        await registry.ok(ResourceType.LAUNCH_PLAN, p, "v1", spec)
    return Identifier(
        resource_type=ResourceType.LAUNCH_PLAN,
        project=p,
        domain="development",
        name="lp.nightly",
        version="v1",
    )


async def test_a_launch_plans_notifications_apply_to_its_executions(
    stack: StackSettings, notifier: NotifierProcess, inbox: Mailpit
) -> None:
    p = new_project()
    address = f"lp-{p}@example.com"
    plan = await emailing_launch_plan(stack, p, address)
    await publish(
        stack,
        notifier.topic,
        failure_event(p, "ok1", phase=ExecutionPhase.SUCCEEDED, launch_plan=plan),
        failure_event(p, "bad1", launch_plan=plan),
    )
    [delivery] = wait_deliveries(notifier, 1, status="sent")
    assert delivery["rule_id"] == f"lp:{p}/development/lp.nightly@v1#0"
    assert delivery["execution"] == f"{p}/development/bad1"
    [email] = await inbox.wait_for_async(message_id=f"{delivery['id']}@contrail")
    assert email.to == [address]
    assert "Launch plan: lp.nightly @ v1" in inbox.message(email.id).text


async def test_a_new_notifier_alerts_nothing_from_before_its_installation(
    stack: StackSettings,
    topic: str,
    receiver: Receiver,
    teams_receiver: Receiver,
    tmp_path: Path,
    inbox: Mailpit,
) -> None:
    """Deployed on a topic with history, a notifier (new schema, new group, so it reads
    from the earliest offset) consumes that history silently and alerts what follows."""
    p = new_project()
    address = f"new-{p}@example.com"
    plan = await emailing_launch_plan(stack, p, address)
    old = failure_event(p, "old", launch_plan=plan)
    await publish(stack, topic, old)  # before the notifier is installed
    process = new_notifier(topic, receiver, teams_receiver, tmp_path, {})
    process.start()
    try:
        new = failure_event(p, "new", launch_plan=plan)
        await publish(stack, topic, new)
        [delivery] = wait_deliveries(process, 1, status="sent")
        assert delivery["execution"] == f"{p}/development/new"
        conn = await asyncpg.connect(stack.pg_dsn)
        try:
            query = f'SELECT event_id FROM "{process.schema}".consumed_events'

            async def consumed() -> set[str]:
                return {r["event_id"] for r in await conn.fetch(query)}

            # The old event was read, in the transaction that would have made its delivery.
            await eventually_async(
                consumed, lambda ids: {old.id, new.id} <= ids, timeout=20, what="both consumed"
            )
        finally:
            await conn.close()
        with process.api() as api:
            assert [d["id"] for d in deliveries(api)] == [delivery["id"]]
        [email] = await inbox.wait_for_async(message_id=f"{delivery['id']}@contrail")
        assert [e.id for e in inbox.search(f"to:{address}")] == [email.id]
    finally:
        await drop_notifier(stack, process)


@pytest.mark.parametrize(
    "notifier_env",
    [{"CONTRAIL_NOTIFIER_MAX_ATTEMPTS": "100", "CONTRAIL_NOTIFIER_RETRY_CAP_SECONDS": "2"}],
)
async def test_an_alert_sent_while_smtp_is_down_arrives_once_when_it_is_back(
    stack: StackSettings, notifier: NotifierProcess, inbox: Mailpit
) -> None:
    p = project()
    address = f"down-{p}@example.com"
    subscribe(
        notifier,
        {"project": p, "phases": ["FAILED"], "channels": [{"kind": "email", "target": address}]},
    )
    kill("mailpit", signal.SIGTERM)
    try:
        await wait_gone("mailpit")
        await publish(stack, notifier.topic, failure_event(p, "e1"), failure_event(p, "e2"))
        failing = wait_deliveries(notifier, 2, status="failed", timeout=30)
        assert all("email" in str(d["last_error"]) for d in failing)
    finally:
        await restore()
    sent = wait_deliveries(notifier, 2, status="sent", timeout=60)
    for delivery in sent:
        await inbox.wait_for_async(message_id=f"{delivery['id']}@contrail", timeout=30)
    emails = inbox.search(f"to:{address}")
    assert sorted(e.subject for e in emails) == [
        f"[contrail] FAILED: {p}/development/e1",
        f"[contrail] FAILED: {p}/development/e2",
    ]


async def test_a_digest_sends_one_message_per_window_listing_every_match(
    stack: StackSettings, notifier: NotifierProcess, receiver: Receiver
) -> None:
    p = project()
    rule = subscribe(
        notifier,
        {
            "project": p,
            "phases": ["FAILED"],
            "digest_seconds": 3,
            "channels": [{"kind": "webhook", "target": f"{receiver.url}/digest"}],
        },
    )
    names = [f"e{i}" for i in range(40)]
    await publish(stack, notifier.topic, *(failure_event(p, n) for n in names))
    wanted = {f"{p}/development/{n}" for n in names}

    def listed() -> list[str]:
        return [
            f"{item['project']}/{item['domain']}/{item['execution']}"
            for r in receiver.requests
            for item in r.json()["contrail"]["items"]
        ]

    eventually(listed, lambda got: set(got) == wanted, timeout=30, what="every execution")
    assert sorted(listed()) == sorted(wanted)  # each once
    with notifier.api() as api:
        digests = deliveries(api, rule=rule)
    assert all(d["digest"] for d in digests)
    assert len(receiver.requests) == len(digests)
    assert len(digests) <= 3  # 40 events published within a few seconds: a window or two


async def test_a_paused_subscription_is_silent_and_a_test_send_reaches_it(
    stack: StackSettings, notifier: NotifierProcess, receiver: Receiver
) -> None:
    p = project()
    hook = {"kind": "webhook", "target": f"{receiver.url}/paused"}
    paused = subscribe(notifier, {"project": p, "phases": ["FAILED"], "channels": [hook]})
    live = subscribe(notifier, {"project": p, "phases": ["FAILED"], "channels": [hook]})
    with notifier.api() as api:
        response = api.patch(f"/api/v1/subscriptions/{paused}", json={"paused": True})
        assert response.json()["paused"] is True
    await publish(stack, notifier.topic, failure_event(p, "e1"))
    wait_deliveries(notifier, 1, status="sent", rule=live)
    with notifier.api() as api:
        assert deliveries(api, rule=paused) == []
        tested = api.post(f"/api/v1/subscriptions/{paused}/test")
        assert tested.status_code == 202, tested.text
        [test_id] = tested.json()["deliveries"]
    eventually(
        lambda: [r.headers.get("idempotency-key") for r in receiver.requests],
        lambda keys: test_id in keys,
        what="the test send",
    )
    with notifier.api() as api:
        assert api.delete(f"/api/v1/subscriptions/{paused}").status_code == 204
        assert api.get(f"/api/v1/subscriptions/{paused}").status_code == 404


async def test_a_restarted_kafka_broker_loses_no_alert_and_sends_none_twice(
    stack: StackSettings, notifier: NotifierProcess, receiver: Receiver
) -> None:
    p = project()
    rule = subscribe(
        notifier,
        {
            "project": p,
            "phases": ["FAILED"],
            "channels": [{"kind": "webhook", "target": f"{receiver.url}/kafka"}],
        },
    )
    await publish(stack, notifier.topic, *(failure_event(p, f"a{i}") for i in range(20)))
    wait_deliveries(notifier, 20, status="sent", rule=rule)
    try:
        # One kill: other sessions share this broker.
        kill("kafka", signal.SIGKILL)
        await wait_gone("kafka")
    finally:
        await restore()
    await publish(stack, notifier.topic, *(failure_event(p, f"b{i}") for i in range(20)))
    items = wait_deliveries(notifier, 40, status="sent", rule=rule, timeout=90)
    assert len(items) == 40
    keys = [r.headers["idempotency-key"] for r in receiver.requests]
    assert sorted(keys) == sorted(str(d["id"]) for d in items)  # each alert once


async def test_old_event_ids_and_dedup_keys_are_forgotten_and_recent_ones_kept(
    stack: StackSettings, pool: asyncpg.Pool, test_schema: str
) -> None:
    conn = await asyncpg.connect(stack.pg_dsn)
    try:
        await apply_migrations(conn, test_schema, service_migrations(MIGRATIONS, "notifier"))
    finally:
        await conn.close()
    uow = postgres_uow_factory(pool)
    async with uow() as u:
        assert await u.consumed.record(["old", "new"]) == {"old", "new"}
        assert await u.alerted.claim(["old-key", "new-key"]) == {"old-key", "new-key"}
        await u.commit()
    await pool.execute(
        "UPDATE consumed_events SET consumed_at = now() - interval '20 days' WHERE event_id = 'old'"
    )
    await pool.execute(
        "UPDATE alerted SET alerted_at = now() - interval '20 days' WHERE key = 'old-key'"
    )
    async with uow() as u:
        assert await u.consumed.forget(14 * 24) == 1
        assert await u.alerted.forget(14 * 24) == 1
        await u.commit()
    async with uow() as u:
        assert await u.consumed.record(["old", "new"]) == {"old"}
        assert await u.alerted.claim(["old-key", "new-key"]) == {"old-key"}
        await u.commit()


def test_subscriptions_are_listed_a_page_at_a_time_and_replaced(notifier: NotifierProcess) -> None:
    hook = {"kind": "email", "target": "pages@example.com"}
    ids = [
        subscribe(notifier, {"name": f"s{i}", "phases": ["FAILED"], "channels": [hook]})
        for i in range(3)
    ]
    with notifier.api() as api:
        seen: list[str] = []
        token = None
        while True:
            params = {"limit": "1", **({"token": token} if token else {})}
            page = api.get("/api/v1/subscriptions", params=params).json()
            seen += [s["id"] for s in page["items"]]
            token = page["next_token"]
            if token is None:
                break
        assert seen == list(reversed(ids))  # newest first
        bad = api.get("/api/v1/subscriptions", params={"token": "nope"})
        assert bad.status_code == 400
        assert bad.json()["error"]["details"][0]["field"] == "token"
        replaced = api.put(
            f"/api/v1/subscriptions/{ids[0]}",
            json={"name": "renamed", "phases": ["TIMED_OUT"], "channels": [hook]},
        )
        assert replaced.status_code == 200, replaced.text
        got = api.get(f"/api/v1/subscriptions/{ids[0]}").json()
        assert (got["spec"]["name"], got["spec"]["phases"]) == ("renamed", ["TIMED_OUT"])
        assert api.get("/api/v1/deliveries/00000000-0000-0000-0000-000000000000").status_code == 404
        openapi = api.get("/openapi.json").json()["paths"]
        assert {
            "/api/v1/subscriptions",
            "/api/v1/subscriptions/{subscription_id}",
            "/api/v1/subscriptions/{subscription_id}/test",
            "/api/v1/deliveries",
            "/api/v1/deliveries/{delivery_id}",
            "/api/v1/deliveries/{delivery_id}/retry",
        } <= set(openapi)

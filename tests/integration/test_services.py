"""The four services and the worker, on the real stack and through the gateway."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import uuid

import httpx
import pytest

from shared.events.topics import DISPATCH, dead_letter
from shared.settings import SERVICE_NAMES, StackSettings
from tests.auth import auth_headers
from tests.eventually import eventually
from tests.integration.conftest import Consume

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_every_service_is_ready_through_the_gateway(stack: StackSettings, service: str) -> None:
    response = httpx.get(f"{stack.gateway_url}/api/v1/{service}/readyz", timeout=10)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["service"] == service
    assert body["checks"] == {"postgres": "ok", "kafka": "ok", "s3": "ok"}


def test_the_gateway_answers_unknown_paths_with_a_json_404(stack: StackSettings) -> None:
    response = httpx.get(
        f"{stack.gateway_url}/api/v1/no_such_thing", timeout=10, headers=auth_headers()
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_service_stops_cleanly_on_sigterm(stack: StackSettings) -> None:
    port = _free_port()
    env = {**os.environ, "CONTRAIL_METRICS_PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "services.metrics"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:

        def readyz() -> httpx.Response:
            assert process.poll() is None, f"metrics exited with {process.returncode}"
            return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)

        eventually(
            readyz,
            lambda response: response.status_code == 200,
            timeout=60,
            interval=0.2,
            retry_on=(httpx.TransportError,),
            what="metrics ready",
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert process.stderr is not None
    logs = [
        json.loads(line) for line in process.stderr.read().splitlines() if line.startswith(b"{")
    ]
    messages = [entry["message"] for entry in logs]
    stopping = messages.index("service stopping")
    finished = [i for i, m in enumerate(messages) if m.startswith("Finished server process")]
    assert finished, messages
    assert stopping < finished[0]
    assert all(entry["service"] == "metrics" for entry in logs)


async def test_the_worker_dead_letters_a_malformed_dispatch_with_its_reason(
    stack: StackSettings, consume: Consume
) -> None:
    from aiokafka import AIOKafkaProducer

    marker = uuid.uuid4().hex
    body = json.dumps({"kind": "dispatch", "marker": marker}).encode()
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            DISPATCH, body, key=b"exec-1", headers=[("x-test", marker.encode())]
        )
    finally:
        await producer.stop()

    records = await consume(
        dead_letter(DISPATCH), until=lambda rs: any(r.value == body for r in rs), timeout=30
    )

    mine = [r for r in records if r.value == body]
    assert len(mine) == 1
    assert mine[0].key == b"exec-1"
    assert mine[0].headers["x-test"] == marker.encode()
    reason = mine[0].headers["x-contrail-dlq-reason"].decode()
    assert "not an AttemptDispatch: " in reason, reason
    assert "execution" in reason, reason

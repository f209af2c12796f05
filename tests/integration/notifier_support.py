"""A notifier of the test's own, and what it talks to: a local HTTP receiver, its topic.

Each test starts ``python -m services.notifier`` as a separate process, with
its own schema, consumer group and execution topic, and every vendor endpoint
(Slack, PagerDuty, Teams) aimed at a receiver on 127.0.0.1, so it sees only the
events the test publishes, and can be killed with SIGKILL. Teams is posted to
over https only: its receiver serves TLS with a self-signed certificate made
by the test, which the notifier trusts through ``REQUESTS_CA_BUNDLE``.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from shared.events.catalogue import ErrorKind, ExecutionError, ExecutionPhaseChanged
from shared.events.envelope import CloudEvent, source_of
from shared.identifiers import ExecutionIdentifier, Identifier, ResourceType
from shared.phases import ExecutionPhase
from shared.settings import StackSettings
from tests.auth import auth_headers, service_token
from tests.integration.service_process import ServiceProcess

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for 127.0.0.1 (its own CA) and its key, as PEM files."""

    cert: Path
    key: Path


def self_signed_certificate(directory: Path) -> Certificate:
    """A new key and a certificate for IP 127.0.0.1, valid for a day, made by ``openssl``."""
    cert, key = directory / "receiver-cert.pem", directory / "receiver-key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return Certificate(cert, key)


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records every request and answers ``status``;
    HTTPS when given a ``certificate``."""

    status: int = 200
    requests: list[Request] = field(default_factory=list)
    certificate: Certificate | None = None

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.requests.append(Request(self.command, self.path, headers, body))
                self.send_response(receiver.status)
                if self.path.startswith("/slack/"):  # Slack's webhooks answer a bare "ok"
                    self.send_header("Content-Type", "text/plain")
                    self.end_headers()
                    self.wfile.write(b"ok")
                    return
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"status": "success", "ok": true}')

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self.certificate is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.certificate.cert, self.certificate.key)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        scheme = "http" if self.certificate is None else "https"
        return f"{scheme}://127.0.0.1:{self.server.server_address[1]}"

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class NotifierProcess(ServiceProcess):
    """``python -m services.notifier`` with its own schema, group, topic and endpoints."""

    def __init__(self, topic: str, env: dict[str, str], log: Path) -> None:
        self.topic = topic
        name = uuid.uuid4().hex[:10]
        self.schema = f"notifier_t{name}"
        own = {
            "CONTRAIL_NOTIFIER_SCHEMA": self.schema,
            "CONTRAIL_NOTIFIER_GROUP": f"test-notifier-{name}",
            "CONTRAIL_NOTIFIER_EXECUTIONS_TOPIC": topic,
            "CONTRAIL_NOTIFIER_SEND_INTERVAL_SECONDS": "0.1",
            # the stack's notifier account, for its calls to the registry
            **({"CONTRAIL_SERVICE_TOKEN": token} if (token := service_token("notifier")) else {}),
        }
        super().__init__("notifier", {**own, **env}, log)

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, headers=auth_headers())


async def drop_notifier(stack: StackSettings, process: NotifierProcess) -> None:
    """Stop the test's notifier and drop its schema."""
    process.stop()
    conn = await asyncpg.connect(stack.pg_dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{process.schema}" CASCADE')
    finally:
        await conn.close()


def failure_event(
    project: str,
    name: str,
    *,
    phase: ExecutionPhase = ExecutionPhase.FAILED,
    launch_plan: Identifier | None = None,
    labels: dict[str, str] | None = None,
    seq: int = 5,
) -> CloudEvent[ExecutionPhaseChanged]:
    """An execution event as the launcher publishes it (FAILED with a ValueError by default)."""
    error = None
    if phase is ExecutionPhase.FAILED:
        error = ExecutionError(
            kind=ErrorKind.USER,
            code="UserError",
            message="ValueError: boom",
            traceback_tail='  File "wf.py", line 3, in t\nValueError: boom',
        )
    now = datetime.now(UTC)
    data = ExecutionPhaseChanged(
        execution=ExecutionIdentifier(project=project, domain="development", name=name),
        workflow=Identifier(
            resource_type=ResourceType.WORKFLOW,
            project=project,
            domain="development",
            name="wf.etl",
            version="v1",
        ),
        launch_plan=launch_plan,
        seq=seq,
        labels=labels or {},
        phase=phase,
        error=error,
        queued_at=now,
        started_at=now,
        ended_at=now,
        duration_seconds=4.25,
    )
    return CloudEvent.wrap(data, source=source_of("launcher"), subject=data.execution.urn)


async def publish(stack: StackSettings, topic: str, *events: CloudEvent[Any]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
    await producer.start()
    try:
        for event in events:
            key = event.data.execution.key.encode()
            await producer.send_and_wait(topic, event.to_json(), key=key)
    finally:
        await producer.stop()


def deliveries(api: httpx.Client, **params: str) -> list[dict[str, Any]]:
    response = api.get("/api/v1/deliveries", params={"limit": "500", **params})
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["items"]
    return items

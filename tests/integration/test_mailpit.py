"""The stack's SMTP server: an email sent with smtplib arrives at Mailpit as it was sent.

These tests check the server the notifier sends to, and ``tests.mailpit``, with
which the notifier's tests read what arrived.
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest

from contrail.demo import install, probes
from contrail.demo.components import Mailpit as MailpitComponent
from contrail.demo.layout import Layout
from contrail.demo.pidfiles import PidFiles
from shared.settings import StackSettings
from tests.eventually import NotEventually, eventually
from tests.mailpit import Mailpit, bare_message_id

pytestmark = pytest.mark.integration

SENDER = "contrail@example.com"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def inbox(stack: StackSettings) -> Iterator[Mailpit]:
    with Mailpit(stack.mailpit_url) as inbox:
        yield inbox


@pytest.fixture
def token(inbox: Mailpit) -> Iterator[str]:
    """A word in the subject of every message the test sends; those are deleted afterwards."""
    token = f"contrail-test-{uuid.uuid4().hex[:12]}"
    yield token
    inbox.delete_matching(f"subject:{token}")


def send(
    stack: StackSettings,
    message: EmailMessage,
    recipients: list[str] | None = None,
    login: tuple[str, str] | None = None,
) -> None:
    with smtplib.SMTP(stack.smtp_host, stack.smtp_port, timeout=10) as smtp:
        if login is not None:
            smtp.login(*login)
        smtp.send_message(message, to_addrs=recipients)


def alert(subject: str, body: str = "The execution failed.") -> EmailMessage:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = "oncall@example.com, lead@example.com"
    message["Cc"] = "team@example.com"
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="contrail.test")
    message.set_content(body)
    return message


def test_an_email_arrives_with_its_recipients_subject_body_and_headers(
    stack: StackSettings, inbox: Mailpit, token: str
) -> None:
    subject = f"[contrail] wf FAILED {token}"
    body = "Execution abc123 of wf failed: ValueError: boom\nhttp://console/abc123\n"
    message = alert(subject, body)
    message["X-Contrail-Delivery"] = f"delivery-{token}"
    # Bcc: an envelope recipient that no header names.
    envelope = ["oncall@example.com", "lead@example.com", "team@example.com", "audit@example.com"]

    send(stack, message, envelope)

    [email] = inbox.wait_for(message_id=message["Message-ID"])
    assert email.subject == subject
    assert email.sender == SENDER
    assert email.to == ["oncall@example.com", "lead@example.com"]
    assert email.cc == ["team@example.com"]
    assert email.bcc == ["audit@example.com"]
    assert email.message_id == bare_message_id(message["Message-ID"])

    content = inbox.message(email.id)
    assert content.text.replace("\r\n", "\n") == body
    assert content.email.to == email.to

    headers = inbox.headers(email.id)
    assert headers["Message-Id"] == [message["Message-ID"]]
    assert headers["X-Contrail-Delivery"] == [f"delivery-{token}"]
    assert headers["Subject"] == [subject]
    assert message["Message-ID"].encode() in inbox.raw(email.id)


def test_a_search_by_subject_finds_only_that_subject(
    stack: StackSettings, inbox: Mailpit, token: str
) -> None:
    first, second = alert(f"first {token}"), alert(f"second {token}")
    send(stack, first)
    send(stack, second)

    [found] = inbox.wait_for(subject=f"second {token}")

    assert found.message_id == bare_message_id(second["Message-ID"])
    assert {e.subject for e in inbox.search(f"subject:{token}")} == {
        f"first {token}",
        f"second {token}",
    }


def test_any_login_is_accepted_without_tls(
    stack: StackSettings, inbox: Mailpit, token: str
) -> None:
    # A sender configured with a username and password works against the stack.
    message = alert(f"login {token}")
    send(stack, message, login=("notifier", "any-password"))

    [email] = inbox.wait_for(message_id=message["Message-ID"])
    assert email.subject == f"login {token}"


def test_delete_removes_only_the_messages_named(
    stack: StackSettings, inbox: Mailpit, token: str
) -> None:
    kept, removed = alert(f"kept {token}"), alert(f"removed {token}")
    send(stack, kept)
    send(stack, removed)
    [gone] = inbox.wait_for(message_id=removed["Message-ID"])
    inbox.wait_for(message_id=kept["Message-ID"])

    inbox.delete([gone.id])

    assert inbox.by_message_id(removed["Message-ID"]) == []
    assert [e.subject for e in inbox.by_message_id(kept["Message-ID"])] == [f"kept {token}"]
    with pytest.raises(ValueError, match="every message"):
        inbox.delete([])


def test_mailpit_keeps_its_messages_in_the_stack_database(inbox: Mailpit) -> None:
    # Not a temporary file: the inbox outlives a restart of Mailpit.
    info = inbox.info()
    assert info["Database"].endswith("/mailpit.db")
    assert info["LatestVersion"] == "disabled", "no version check: the stack reaches no network"


async def test_wait_for_async_waits_with_the_event_loop_running(
    stack: StackSettings, inbox: Mailpit, token: str
) -> None:
    message = alert(f"async {token}")
    send(stack, message)

    [email] = await inbox.wait_for_async(subject=f"async {token}")

    assert email.message_id == bare_message_id(message["Message-ID"])


def test_waiting_for_a_message_that_never_came_fails_naming_it(inbox: Mailpit, token: str) -> None:
    missing = make_msgid(domain="contrail.test")

    with pytest.raises(NotEventually, match="Message-ID") as failure:
        inbox.wait_for(message_id=missing, timeout=0.5)

    assert failure.value.last_value == []


def _free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 now, all different (each held until all are chosen)."""
    with contextlib.ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


@pytest.fixture
def own_mailpit(stack: StackSettings, tmp_path: Path) -> Iterator[MailpitComponent]:
    """A second Mailpit, as the stack runs it, on free ports and a home of its own."""
    smtp_port, http_port = _free_ports(2)
    settings = stack.model_copy(
        update={"smtp_port": smtp_port, "mailpit_url": f"http://127.0.0.1:{http_port}"}
    )
    layout = Layout(home=tmp_path / "home", cache=stack.cache_dir.expanduser(), repo=ROOT)
    layout.ensure()
    component = MailpitComponent(settings, layout, PidFiles(layout.run_dir))
    component.prepare()  # the stack's cached build
    yield component
    component.stop(component.grace_seconds)


def test_mailpit_starts_keeps_its_inbox_across_a_restart_and_stops(
    own_mailpit: MailpitComponent,
) -> None:
    settings = own_mailpit.settings
    own_mailpit.start()
    eventually(own_mailpit.probe, timeout=30, what="the second Mailpit to be ready")
    message = alert("kept across a restart")
    send(settings, message)
    with Mailpit(settings.mailpit_url) as inbox:
        inbox.wait_for(message_id=message["Message-ID"])

    pid = own_mailpit.pid()
    assert pid is not None
    assert own_mailpit.stop(own_mailpit.grace_seconds)
    assert own_mailpit.pid() is None
    assert not probes.tcp_open(settings.smtp_host, settings.smtp_port)

    own_mailpit.start()
    eventually(own_mailpit.probe, timeout=30, what="the restarted Mailpit to be ready")
    assert own_mailpit.pid() not in (None, pid)
    with Mailpit(settings.mailpit_url) as inbox:
        [email] = inbox.by_message_id(message["Message-ID"])
    assert email.subject == "kept across a restart"
    assert install.mailpit_binary(own_mailpit.layout).is_file()

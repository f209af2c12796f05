"""The emails that arrived at the stack's Mailpit, read through its HTTP API.

Tests of email notifications check each message as it arrived at the SMTP
server: its recipients, subject, body and headers. ``Mailpit`` reads them::

    from tests.mailpit import Mailpit

    with Mailpit(stack.mailpit_url) as inbox:
        [email] = inbox.wait_for(message_id=delivery_id)      # tests.eventually
        assert email.to == ["oncall@example.com"]
        assert "boom" in inbox.message(email.id).text
        assert inbox.headers(email.id)["Idempotency-Key"] == [delivery_id]
        inbox.delete([email.id])

In an async test, ``await inbox.wait_for_async(...)`` keeps the event loop
running while it waits. The inbox is shared by every test on the stack: find
your messages by a subject or Message-ID of your own, and delete only those
(``delete`` refuses an empty list, which Mailpit takes as "delete everything").

API reference: https://mailpit.axllent.org/docs/api-v1/
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx

from tests.eventually import eventually, eventually_async

_PAGE = 200


def _addresses(value: list[dict[str, str]] | None) -> list[str]:
    return [item["Address"] for item in value or []]


def bare_message_id(message_id: str) -> str:
    """A Message-ID as Mailpit keeps it: without the angle brackets."""
    return message_id.strip().removeprefix("<").removesuffix(">")


@dataclass(frozen=True)
class Email:
    """One message in the inbox, as Mailpit lists it."""

    id: str
    """Mailpit's own id, for ``message``, ``headers``, ``raw`` and ``delete``."""
    message_id: str
    """The Message-ID header, without angle brackets."""
    subject: str
    sender: str
    to: list[str]
    cc: list[str]
    bcc: list[str]
    """Recipients of the SMTP envelope that are in no header."""
    created: datetime
    snippet: str

    @classmethod
    def of(cls, summary: dict[str, Any]) -> Email:
        return cls(
            id=summary["ID"],
            message_id=summary["MessageID"],
            subject=summary["Subject"],
            sender=(summary.get("From") or {}).get("Address", ""),
            to=_addresses(summary.get("To")),
            cc=_addresses(summary.get("Cc")),
            bcc=_addresses(summary.get("Bcc")),
            created=datetime.fromisoformat(summary["Created"]),
            snippet=summary.get("Snippet", ""),
        )


@dataclass(frozen=True)
class Content:
    """A message's parsed content."""

    email: Email
    text: str
    html: str
    reply_to: list[str]
    return_path: str

    @classmethod
    def of(cls, message: dict[str, Any]) -> Content:
        return cls(
            email=Email.of({**message, "Created": message["Date"], "Snippet": ""}),
            text=message.get("Text", ""),
            html=message.get("HTML", ""),
            reply_to=_addresses(message.get("ReplyTo")),
            return_path=message.get("ReturnPath", ""),
        )


def _quoted(value: str) -> str:
    if '"' in value:
        raise ValueError(f"a search term cannot hold a double quote: {value!r}")
    return f'"{value}"'


class Mailpit:
    """A client of Mailpit's API (``/api/v1``)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=f"{self.url}/api/v1", timeout=timeout)

    def __enter__(self) -> Mailpit:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _get(self, path: str, **params: str | int) -> Any:
        response = self._http.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def info(self) -> dict[str, Any]:
        """Mailpit's version, database and message counts."""
        info: dict[str, Any] = self._get("/info")
        return info

    def messages(self, limit: int = _PAGE) -> list[Email]:
        """The newest ``limit`` messages, newest first."""
        return [Email.of(item) for item in self._get("/messages", limit=limit)["messages"]]

    def search(self, query: str, limit: int = _PAGE) -> list[Email]:
        """Messages matching a Mailpit search (``subject:"..." to:x@y``), newest first."""
        found = self._get("/search", query=query, limit=limit)["messages"]
        return [Email.of(item) for item in found]

    def by_subject(self, subject: str) -> list[Email]:
        """Messages whose subject is exactly ``subject`` (Mailpit's search matches parts)."""
        return [e for e in self.search(f"subject:{_quoted(subject)}") if e.subject == subject]

    def by_message_id(self, message_id: str) -> list[Email]:
        """Messages whose Message-ID is ``message_id`` (with or without angle brackets)."""
        wanted = bare_message_id(message_id)
        found = self.search(f"message-id:{_quoted(wanted)}")
        return [e for e in found if e.message_id == wanted]

    def message(self, id: str) -> Content:
        """One message's content: its text and HTML bodies and addresses."""
        return Content.of(self._get(f"/message/{id}"))

    def headers(self, id: str) -> dict[str, list[str]]:
        """One message's headers: each name with every value it has, in order."""
        headers: dict[str, list[str]] = self._get(f"/message/{id}/headers")
        return headers

    def raw(self, id: str) -> bytes:
        """One message's source, as the SMTP server received it."""
        response = self._http.get(f"/message/{id}/raw")
        response.raise_for_status()
        return response.content

    def delete(self, ids: Iterable[str]) -> None:
        """Delete these messages, and only these."""
        wanted = list(ids)
        if not wanted:
            raise ValueError("no message ids: Mailpit would delete every message")
        response = self._http.request("DELETE", "/messages", json={"IDs": wanted})
        response.raise_for_status()

    def delete_matching(self, query: str) -> int:
        """Delete every message a search finds; how many. A test's own word, not everything."""
        if not query.strip():
            raise ValueError("an empty search finds every message")
        deleted = 0
        for _ in range(1000):  # pages of _PAGE: bounded, in case a delete did nothing
            found = self.search(query)
            if not found:
                return deleted
            self.delete(email.id for email in found)
            deleted += len(found)
        raise AssertionError(f"messages matching {query!r} are still there after deleting")

    def _waiting(
        self, subject: str | None, message_id: str | None, count: int
    ) -> tuple[Callable[[], list[Email]], Callable[[list[Email]], bool], str]:
        """What ``wait_for`` calls, when it is done, and what it waits for."""
        if (subject is None) == (message_id is None):
            raise ValueError("give a subject or a message_id")
        if subject is not None:
            probe, what = (lambda: self.by_subject(subject)), f"subject {subject!r}"
        else:
            assert message_id is not None
            probe, what = (lambda: self.by_message_id(message_id)), f"Message-ID {message_id!r}"
        return probe, (lambda emails: len(emails) >= count), f"{count} email(s) with {what}"

    def wait_for(
        self,
        *,
        subject: str | None = None,
        message_id: str | None = None,
        count: int = 1,
        timeout: float = 10.0,
    ) -> list[Email]:
        """The messages with this subject or Message-ID, once at least ``count`` arrived."""
        probe, until, what = self._waiting(subject, message_id, count)
        return eventually(probe, until, timeout=timeout, what=what)

    async def wait_for_async(
        self,
        *,
        subject: str | None = None,
        message_id: str | None = None,
        count: int = 1,
        timeout: float = 10.0,
    ) -> list[Email]:
        """``wait_for`` for async tests: the event loop runs between tries."""
        probe, until, what = self._waiting(subject, message_id, count)
        return await eventually_async(probe, until, timeout=timeout, what=what)

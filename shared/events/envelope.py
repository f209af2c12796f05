"""The CloudEvents 1.0 envelope (structured mode, JSON) that every record carries.

One event is one Kafka record; its value is this envelope as JSON, with the
content type ``application/cloudevents+json``. Consumers dedupe on ``id``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

CONTENT_TYPE = "application/cloudevents+json"

Traceparent = Annotated[
    str, StringConstraints(pattern=r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
]


class EventData(BaseModel):
    """The payload of one event type; subclasses name their CloudEvents ``type``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: ClassVar[str] = ""
    """The CloudEvents ``type`` of events carrying this payload."""


DataT = TypeVar("DataT", bound=EventData)


def _new_id() -> str:
    return str(uuid.uuid4())


def _now() -> datetime:
    return datetime.now(UTC)


class CloudEvent(BaseModel, Generic[DataT]):
    """A CloudEvents 1.0 event in structured mode."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=_new_id, min_length=1, description="Unique; dedupe on it.")
    source: str = Field(min_length=1, description="The service that produced it: /contrail/<svc>.")
    type: str = Field(min_length=1, description="What happened, e.g. contrail.task.registered.")
    time: datetime = Field(default_factory=_now)
    subject: str | None = Field(default=None, description="The URN of what the event is about.")
    datacontenttype: Literal["application/json"] = "application/json"
    traceparent: Traceparent | None = Field(
        default=None, description="W3C trace context of the span that produced the event."
    )
    data: DataT

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def wrap(
        cls,
        data: DataT,
        *,
        source: str,
        subject: str | None = None,
        traceparent: str | None = None,
    ) -> CloudEvent[DataT]:
        """An envelope around ``data``, typed from its payload class."""
        event_cls: type[CloudEvent[DataT]] = CloudEvent[type(data)]  # type: ignore[misc,assignment]
        return event_cls(
            source=source,
            type=data.event_type,
            subject=subject,
            traceparent=traceparent,
            data=data,
        )


def source_of(service: str) -> str:
    """The CloudEvents ``source`` of a Contrail service."""
    return f"/contrail/{service}"


def peek_type(raw: dict[str, Any]) -> str:
    """The ``type`` of a raw envelope, or a ValueError naming what is missing."""
    event_type = raw.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise ValueError("event has no 'type' attribute")
    return event_type

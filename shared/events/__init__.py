"""Events: the CloudEvents envelope, the type catalogue and topic names."""

from shared.events.catalogue import EVENT_TYPES, decode_event
from shared.events.envelope import CONTENT_TYPE, CloudEvent, EventData, source_of

__all__ = ["CONTENT_TYPE", "EVENT_TYPES", "CloudEvent", "EventData", "decode_event", "source_of"]

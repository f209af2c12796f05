"""What a summary asks for, validated: a 400 naming the parameter for anything else."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.metrics.domain.summary import DIMENSIONS, GRAINS
from shared.errors import InvalidRequest

MAX_PAGE_SIZE = 1000
DEFAULT_SINCE = timedelta(days=7)
_RELATIVE = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _bad(parameter: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{parameter}: {message}", [{"field": parameter, "message": message}])


def parse_time(parameter: str, value: str | None, now: datetime) -> datetime | None:
    """An ISO 8601 time (UTC when it names no zone) or a span back from now: 30m, 7d, 2w."""
    if value is None or value == "":
        return None
    match = _RELATIVE.match(value.strip())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        at = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _bad(parameter, f"{value!r} is neither an ISO 8601 time nor a span like 7d") from exc
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def parse_group_by(values: list[str]) -> tuple[str, ...]:
    """Dimensions to group by: repeated or comma-separated, each known, none twice."""
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in DIMENSIONS]
    if unknown:
        raise _bad(
            "group_by",
            f"unknown field {unknown[0]!r}; group by any of {', '.join(DIMENSIONS)}",
        )
    return tuple(dict.fromkeys(names))


def parse_labels(values: list[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for pair in (part for value in values for part in value.split(",") if part):
        name, sep, label = pair.partition("=")
        if not sep or not name:
            raise _bad("label", f"{pair!r} is not key=value")
        labels[name] = label
    return labels


@dataclass(frozen=True)
class SummaryQuery:
    """Rows of roll-ups between ``since`` and ``until``, grouped by ``group_by`` and ``grain``."""

    since: datetime
    until: datetime
    group_by: tuple[str, ...] = ()
    grain: str | None = None
    project: str | None = None
    domain: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(
        cls,
        *,
        now: datetime,
        since: str | None = None,
        until: str | None = None,
        group_by: list[str] | None = None,
        time: str | None = None,
        project: str | None = None,
        domain: str | None = None,
        labels: list[str] | None = None,
    ) -> SummaryQuery:
        start = parse_time("since", since, now) or now - DEFAULT_SINCE
        end = parse_time("until", until, now) or now
        if end <= start:
            raise _bad("until", f"the range is reversed or empty: until {end} <= since {start}")
        if time is not None and time not in GRAINS:
            raise _bad("time", f"unknown grain {time!r}; one of {', '.join(GRAINS)}")
        return cls(
            since=start,
            until=end,
            group_by=parse_group_by(group_by or []),
            grain=time,
            project=project or None,
            domain=domain or None,
            labels=parse_labels(labels or []),
        )


def check_page_size(page_size: int) -> int:
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise _bad("page_size", f"{page_size} is not between 1 and {MAX_PAGE_SIZE}")
    return page_size

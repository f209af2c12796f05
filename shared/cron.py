"""Five-field cron expressions, in UTC, with Vixie cron's semantics.

``minute hour day-of-month month day-of-week``. Each field is ``*`` or a
comma-separated list of values (``5``), ranges (``1-5``) and steps (``*/15``,
``10-50/10``, ``5/15`` meaning ``5-59/15``); months and days of the week also
take names (``JAN``, ``MON-FRI``, in any case). Day of week 0 and 7 are both
Sunday. ``@hourly``, ``@daily`` (``@midnight``), ``@weekly``, ``@monthly`` and
``@yearly`` (``@annually``) stand for their usual expressions.

When both day of month and day of week are restricted (neither field starts
with ``*``), a day matches when *either* matches: ``0 0 1,15 * MON`` fires on
the 1st, the 15th and every Monday. Otherwise both must match.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import MAXYEAR, UTC, datetime, timedelta

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {name.upper(): i for i, name in enumerate(calendar.month_abbr) if name}
_DAYS = {"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}
# Feb 29 on a given weekday, with a restricted day of week, can be decades away.
_SEARCH_YEARS = 400


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int]


_FIELDS = (
    _Field("minute", 0, 59, {}),
    _Field("hour", 0, 23, {}),
    _Field("day-of-month", 1, 31, {}),
    _Field("month", 1, 12, _MONTHS),
    _Field("day-of-week", 0, 7, _DAYS),
)


@dataclass(frozen=True)
class CronSchedule:
    """A parsed cron expression: the values each field allows."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]
    """0 is Sunday (a 7 in the expression is folded into 0)."""
    day_of_month_star: bool
    day_of_week_star: bool

    def matches(self, moment: datetime) -> bool:
        """Whether the schedule fires at ``moment``'s minute (UTC; naive means UTC)."""
        moment = _as_utc(moment)
        return (
            moment.minute in self.minutes
            and moment.hour in self.hours
            and moment.month in self.months
            and self._day_matches(moment)
        )

    def next_after(self, moment: datetime) -> datetime:
        """The first time strictly after ``moment`` at which the schedule fires, in UTC.

        A naive ``moment`` is taken as UTC; the answer is always timezone-aware.
        Raises ``ValueError`` if the schedule does not fire within 400 years
        (``parse`` already refuses the dates that never exist, like Feb 30).
        """
        t = _as_utc(moment).replace(second=0, microsecond=0) + timedelta(minutes=1)
        last_year = min(t.year + _SEARCH_YEARS, MAXYEAR - 1)
        while t.year <= last_year:
            if t.month not in self.months:
                t = _first_of_next_month(t)
            elif not self._day_matches(t):
                t = _next_day(t)
            elif t.hour not in self.hours:
                hour = _next_in(self.hours, t.hour)
                t = _next_day(t) if hour is None else t.replace(hour=hour, minute=0)
            elif t.minute not in self.minutes:
                minute = _next_in(self.minutes, t.minute)
                if minute is None:
                    t = t.replace(minute=0) + timedelta(hours=1)
                else:
                    t = t.replace(minute=minute)
            else:
                return t
        raise ValueError(f"cron {self.expression!r} does not fire within {_SEARCH_YEARS} years")

    def _day_matches(self, moment: datetime) -> bool:
        dom = moment.day in self.days_of_month
        dow = moment.isoweekday() % 7 in self.days_of_week
        if self.day_of_month_star or self.day_of_week_star:
            return dom and dow
        return dom or dow


def parse(expression: str) -> CronSchedule:
    """Parse a five-field cron expression or a macro such as ``@daily``.

    Raises ``ValueError`` naming the bad field and what is wrong with it, or
    saying that the expression has the wrong number of fields, is an unknown
    macro, or names only days that never exist (``0 0 30 2 *``).
    """
    parts = expand(expression).split()
    if len(parts) != len(_FIELDS):
        raise ValueError(
            f"cron {expression!r} has {len(parts)} fields; expected 5: "
            "minute hour day-of-month month day-of-week"
        )
    values = [
        _parse_field(part, spec, expression) for part, spec in zip(parts, _FIELDS, strict=True)
    ]
    minutes, hours, days_of_month, months, days_of_week = values
    schedule = CronSchedule(
        expression=expression,
        minutes=frozenset(minutes),
        hours=frozenset(hours),
        days_of_month=frozenset(days_of_month),
        months=frozenset(months),
        days_of_week=frozenset(0 if d == 7 else d for d in days_of_week),
        day_of_month_star=parts[2].startswith("*"),
        day_of_week_star=parts[4].startswith("*"),
    )
    if schedule.day_of_week_star and not any(
        day <= _longest_month(month) for month in months for day in days_of_month
    ):
        raise ValueError(
            f"cron {expression!r}: field day-of-month ({parts[2]!r}) names no day that exists "
            f"in month ({parts[3]!r})"
        )
    return schedule


def expand(expression: str) -> str:
    """The five fields ``expression`` stands for: a macro expanded, spaces collapsed.

    ``expand("@hourly")`` is ``"0 * * * *"``; ``expand(" 0  0 * * 1")`` is
    ``"0 0 * * 1"``. Raises ``ValueError`` for an unknown macro; the fields
    themselves are checked by ``parse``.
    """
    text = expression.strip()
    if text.startswith("@"):
        expanded = _MACROS.get(text.lower())
        if expanded is None:
            known = ", ".join(_MACROS)
            raise ValueError(f"cron {expression!r}: unknown macro {text!r} (known: {known})")
        text = expanded
    return " ".join(text.split())


def _parse_field(text: str, spec: _Field, expression: str) -> set[int]:
    def bad(problem: str) -> ValueError:
        return ValueError(f"cron {expression!r}: field {spec.name} ({text!r}): {problem}")

    def value(token: str) -> int:
        if token.isascii() and token.isdigit():
            number = int(token)
        elif token.upper() in spec.names:
            number = spec.names[token.upper()]
        else:
            kind = f"a number {spec.low}-{spec.high}"
            if spec.names:
                kind += f" or a name ({', '.join(spec.names)})"
            raise bad(f"{token!r} is not {kind}")
        if not spec.low <= number <= spec.high:
            raise bad(f"{number} is out of range {spec.low}-{spec.high}")
        return number

    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise bad("empty item in a list")
        span, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not (step_text.isascii() and step_text.isdigit()) or int(step_text) == 0:
                raise bad(f"step {step_text!r} is not a positive number")
            step = int(step_text)
        if span == "*":
            start, end = spec.low, spec.high
        elif "-" in span:
            first, _, last = span.partition("-")
            start, end = value(first), value(last)
            if start > end:
                raise bad(f"range {span!r} runs backwards")
        else:
            start = value(span)
            end = spec.high if slash else start
        values.update(range(start, end + 1, step))
    return values


def _longest_month(month: int) -> int:
    return 29 if month == 2 else calendar.monthrange(2001, month)[1]


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _next_in(allowed: frozenset[int], current: int) -> int | None:
    later = [v for v in allowed if v > current]
    return min(later) if later else None


def _next_day(t: datetime) -> datetime:
    return t.replace(hour=0, minute=0) + timedelta(days=1)


def _first_of_next_month(t: datetime) -> datetime:
    if t.month == 12:
        return t.replace(year=t.year + 1, month=1, day=1, hour=0, minute=0)
    return t.replace(month=t.month + 1, day=1, hour=0, minute=0)

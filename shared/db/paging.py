"""Newest-first lists: the one page token, and the one way to build a filtered keyset query.

Every list of the APIs (projects, tasks, workflows, launch plans, executions)
is read newest first, by descending ``id``, a page at a time. A page's
``next_token`` is opaque to clients: URL-safe base64 of ``{"before": id}``,
the id of the page's last row. A token that does not decode is
``InvalidPageToken``, a 400 naming the ``token`` query parameter.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from shared.errors import InvalidRequest

T = TypeVar("T")

TOKEN_PARAMETER = "token"
"""The query parameter that carries the previous page's ``next_token``."""


class InvalidPageToken(InvalidRequest):
    """A page token the API did not issue (400 ``invalid_request`` naming ``token``)."""

    def __init__(self, token: str) -> None:
        super().__init__(
            f"page token {token!r} is not one this API issued",
            [{"field": TOKEN_PARAMETER, "message": "not the next_token of a previous page"}],
        )


def encode_token(last_id: int) -> str:
    """The token of the page that follows the row ``last_id``."""
    raw = json.dumps({"before": last_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str | None) -> int | None:
    """The id the page of ``token`` starts below; None for the first page (no token).

    Raises:
        InvalidPageToken: the token was not made by ``encode_token``.
    """
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        before = json.loads(raw)["before"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise InvalidPageToken(token) from exc
    if not isinstance(before, int) or isinstance(before, bool) or before < 1:
        raise InvalidPageToken(token)
    return before


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, newest first; ``next_token`` is None on the last page."""

    items: list[T]
    next_token: str | None


def page_of(fetched: list[T], limit: int, id_of: Callable[[T], int]) -> Page[T]:
    """The page of ``fetched``, read with ``limit + 1`` rows to learn whether more follow."""
    items = fetched[:limit]
    if len(fetched) > limit and items:
        return Page(items, encode_token(id_of(items[-1])))
    return Page(items, None)


class Where:
    """A WHERE clause of AND-ed conditions and its numbered asyncpg arguments.

    ``Where(("project = {}", project), ("id < {}", before))`` keeps each
    condition whose value is not None, ``{}`` standing for the value's ``$n``.
    """

    def __init__(self, *conditions: tuple[str, object | None]) -> None:
        self.args: list[Any] = []
        self._clauses: list[str] = []
        for template, value in conditions:
            self.add(template, value)

    def add(self, template: str, value: object | None) -> Where:
        """AND ``template`` (``{}``: the value's placeholder), unless ``value`` is None."""
        if value is not None:
            self._clauses.append(template.format(self.param(value)))
        return self

    def param(self, value: object) -> str:
        """The placeholder (``$n``) of one more argument."""
        self.args.append(value)
        return f"${len(self.args)}"

    @property
    def sql(self) -> str:
        """``WHERE a AND b``, or nothing without conditions."""
        return "WHERE " + " AND ".join(self._clauses) if self._clauses else ""


def newest_first(
    columns: str, table: str, where: Where, *, limit: int, before: int | None
) -> tuple[Any, ...]:
    """The query of up to ``limit`` rows of ``table`` matching ``where``, below id ``before``.

    Returns the SQL followed by its arguments: ``fetch(*newest_first(...))``.
    """
    where.add("id < {}", before)
    sql = f"SELECT {columns} FROM {table} {where.sql} ORDER BY id DESC LIMIT {where.param(limit)}"
    return (sql, *where.args)

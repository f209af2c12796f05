"""Newest-first pages with keyset tokens."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from services.registry.adapters.pagination import InvalidPageToken, decode_token, encode_token
from services.registry.service_layer.errors import InvalidRequest

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_token: str | None


def page_start(token: str | None) -> int | None:
    """The id a page starts below, from the token of the previous page."""
    if token is None or token == "":
        return None
    try:
        return decode_token(token)
    except InvalidPageToken as exc:
        raise InvalidRequest(str(exc), [{"field": "token", "message": str(exc)}]) from exc


def page_of(fetched: list[T], limit: int, id_of: Callable[[T], int]) -> Page[T]:
    """The page of ``fetched`` (queried with ``limit + 1`` rows to learn if more follow)."""
    items = fetched[:limit]
    if len(fetched) > limit and items:
        return Page(items, encode_token(id_of(items[-1])))
    return Page(items, None)

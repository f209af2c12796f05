"""The one page token and WHERE builder of every list (shared.db.paging)."""

from __future__ import annotations

import base64

import pytest

from shared.db.paging import (
    InvalidPageToken,
    Where,
    decode_token,
    encode_token,
    newest_first,
    page_of,
)
from shared.errors import InvalidRequest


@pytest.mark.parametrize("last_id", [1, 42, 2**62])
def test_a_token_is_url_safe_and_decodes_to_its_id(last_id: int) -> None:
    token = encode_token(last_id)

    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert decode_token(token) == last_id


@pytest.mark.parametrize("token", [None, ""])
def test_no_token_is_the_first_page(token: str | None) -> None:
    assert decode_token(token) is None


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        "zzz",
        "%%%",
        _b64("e:5"),  # the launcher's old format
        _b64('{"before": 0}'),
        _b64('{"before": -3}'),
        _b64('{"before": "5"}'),
        _b64('{"before": true}'),
        _b64('{"after": 5}'),
        _b64("[5]"),
    ],
)
def test_a_token_the_api_did_not_issue_is_a_400_naming_the_token_parameter(token: str) -> None:
    with pytest.raises(InvalidPageToken) as raised:
        decode_token(token)

    error = raised.value
    assert isinstance(error, InvalidRequest)
    assert (error.status, error.code) == (400, "invalid_request")
    assert error.details[0]["field"] == "token"
    assert "page token" in error.message


def test_page_of_gives_a_token_only_when_more_rows_follow() -> None:
    ids = [9, 8, 7]

    full = page_of(ids, 2, lambda i: i)
    last = page_of(ids, 3, lambda i: i)

    assert full.items == [9, 8]
    assert full.next_token is not None
    assert decode_token(full.next_token) == 8
    assert (last.items, last.next_token) == ([9, 8, 7], None)


def test_where_keeps_the_conditions_that_have_a_value_numbering_their_arguments() -> None:
    where = Where(("project = {}", "p"), ("domain = {}", None), ("name = {}", "n"))
    where.add("state = {}", "ACTIVE").add("version = {}", None)

    assert where.sql == "WHERE project = $1 AND name = $2 AND state = $3"
    assert where.args == ["p", "n", "ACTIVE"]
    assert Where(("project = {}", None)).sql == ""


def test_newest_first_reads_below_the_token_id_newest_first() -> None:
    sql, *args = newest_first("id, name", "tasks", Where(("project = {}", "p")), limit=51, before=7)

    assert sql == (
        "SELECT id, name FROM tasks WHERE project = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
    )
    assert args == ["p", 7, 51]
    assert newest_first("id", "projects", Where(), limit=2, before=None) == (
        "SELECT id FROM projects  ORDER BY id DESC LIMIT $1",
        2,
    )

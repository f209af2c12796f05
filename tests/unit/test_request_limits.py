"""What every service refuses before a route: bodies over the limit, unreadable targets,
bodies FastAPI cannot parse, values PostgreSQL cannot store; each a 4xx with the one body."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel

from shared.documents import MAX_NESTING, DocumentError, parse_json, parse_yaml
from shared.errors import InvalidRequest
from shared.service.errors import install_error_handlers
from shared.service.limits import RequestLimits, check_target

LIMIT = 1000


class Thing(BaseModel):
    name: str
    payload: Any = None


def _client(raised: Exception | None = None, limit: int = LIMIT) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestLimits, max_body_bytes=limit)

    @app.post("/things")
    async def create(thing: Thing) -> dict[str, str]:
        if raised is not None:
            raise raised
        return {"name": thing.name}

    @app.post("/raw")
    async def raw(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @app.get("/things/{name}")
    async def read(name: str, q: str = "") -> dict[str, str]:
        return {"name": name, "q": q}

    return TestClient(app, raise_server_exceptions=False)


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


def test_a_declared_body_over_the_limit_is_413_before_the_route() -> None:
    error = _error(_client().post("/things", content=b"x" * (LIMIT + 1)), 413)
    assert error["code"] == "too_large"
    assert f"limit of {LIMIT} bytes" in error["message"]


def test_a_streamed_body_over_the_limit_is_413_for_a_model_and_a_raw_body() -> None:
    def chunks() -> Any:
        for _ in range(3):
            yield b"x" * (LIMIT // 2)

    client = _client()
    for path in ("/things", "/raw"):
        error = _error(client.post(path, content=chunks()), 413)
        assert error["code"] == "too_large", path


def test_a_body_at_the_limit_is_read() -> None:
    response = _client().post("/raw", content=b"x" * LIMIT)
    assert response.json() == {"size": LIMIT}


@pytest.mark.parametrize(
    ("target", "field", "problem"),
    [
        ("/things/a%00b", "path[2]", "NUL"),
        ("/things/a%ffb", "path[2]", "not UTF-8"),
        ("/things/x?q=a%00b", "query.q", "NUL"),
        ("/things/x?q=%c3", "query.q", "not UTF-8"),
        ("/things/x?a%00=1", "query.a\\x00", "NUL"),
    ],
)
def test_a_nul_or_invalid_utf8_in_the_target_is_400_naming_it(
    target: str, field: str, problem: str
) -> None:
    error = _error(_client().get(target), 400)
    assert error["code"] == "invalid_request"
    assert error["details"][0]["field"] == field
    assert problem in error["message"]


def test_check_target_accepts_utf8_and_encoded_slashes() -> None:
    check_target("/things/é%2F..".encode(), b"q=%C3%A9&flag&x=a+b")


def test_check_target_lists_every_fault() -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_target(b"/a%00/b%ff", b"q=%00&r=%ff")
    assert [d["field"] for d in caught.value.details] == [
        "path[1]",
        "path[2]",
        "query.q",
        "query.r",
    ]


def test_a_json_body_nested_too_deeply_is_400_not_a_recursion_error() -> None:
    error = _error(
        _client(limit=10**6).post(
            "/things",
            content=b"[" * 100_000 + b"]" * 100_000,
            headers={"content-type": "application/json"},
        ),
        400,
    )
    assert error["code"] == "invalid_request"
    assert "nest too deeply" in error["message"]


def test_a_json_integer_too_long_to_convert_is_400_naming_it() -> None:
    body = b'{"name": "n", "payload": ' + b"9" * 5000 + b"}"
    response = _client(limit=10 * LIMIT).post(
        "/things", content=body, headers={"content-type": "application/json"}
    )
    error = _error(response, 400)
    assert error["code"] == "invalid_request"
    assert "more than 4300 digits" in error["message"]


@pytest.mark.parametrize(
    "exc",
    [
        asyncpg.CharacterNotInRepertoireError('invalid byte sequence for encoding "UTF8": 0x00'),
        asyncpg.UntranslatableCharacterError("unsupported Unicode escape sequence"),
        asyncpg.DataError("invalid input for query argument $1: 10000 (value out of int64 range)"),
    ],
)
def test_a_value_postgresql_cannot_store_is_400(exc: Exception) -> None:
    error = _error(_client(exc).post("/things", json={"name": "n"}), 400)
    assert error["code"] == "invalid_request"
    assert "cannot be stored" in error["message"]


def test_another_postgresql_data_error_stays_a_500() -> None:
    error = _error(
        _client(asyncpg.DataError("division by zero")).post("/things", json={"name": "n"}), 500
    )
    assert error["code"] == "internal_error"


@pytest.mark.parametrize("parse", [parse_json, parse_yaml])
def test_documents_refuse_deep_nesting_long_integers_and_infinities(parse: Any) -> None:
    for text, problem in [
        ("[" * 100_000 + "]" * 100_000, "nest deeper"),
        ("[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1), "nest deeper"),
        ("9" * 5000, "more than 4300 digits"),
        ("1.0e+400", "not finite"),
    ]:
        with pytest.raises(DocumentError, match=problem):
            parse(text)
    assert parse("[" * MAX_NESTING + "]" * MAX_NESTING).value is not None


def test_a_json_body_that_is_not_utf8_is_400_naming_the_byte() -> None:
    response = _client().post(
        "/things", content=b'{"name": "a\xffb"}', headers={"content-type": "application/json"}
    )
    error = _error(response, 400)
    assert error["code"] == "invalid_request"
    assert "not UTF-8 (byte 11 is b'\\xff')" in error["message"]

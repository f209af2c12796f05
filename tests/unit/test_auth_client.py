"""The SDK's credential: where it comes from and goes, how a refusal reads, where it is kept."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from contrail.cli.output import describe_error
from contrail.config import ConfigError, load_config, read_config_file, resolve_token, store_token
from contrail.remote import Forbidden, Remote, Unauthenticated

TOKEN = "ctr_abcdefghij12_" + "s" * 43


def _capture(seen: list[httpx.Request], status: int = 200, body: object = None) -> Remote:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body if body is not None else {"items": []})

    return Remote("http://gateway.test", token=TOKEN, transport=httpx.MockTransport(handler))


def test_the_token_is_sent_as_a_bearer_credential_to_the_api() -> None:
    seen: list[httpx.Request] = []
    _capture(seen).list_projects()

    assert seen[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_the_token_never_goes_to_the_object_store() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/data_proxy/upload"):
            return httpx.Response(
                200, json={"uri": "s3://b/k", "upload_url": "http://s3.test/b/k?X-Amz-Signature=x"}
            )
        return httpx.Response(200)

    remote = Remote("http://gateway.test", token=TOKEN, transport=httpx.MockTransport(handler))
    remote.upload("p", "d", b"bundle")

    assert [("Authorization" in r.headers, r.url.host) for r in seen] == [
        (True, "gateway.test"),
        (False, "s3.test"),
    ]


def test_an_empty_token_sends_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTRAIL_TOKEN", TOKEN)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"items": []})

    Remote("http://gateway.test", token="", transport=httpx.MockTransport(handler)).list_projects()

    assert "Authorization" not in seen[0].headers


def test_the_variable_wins_over_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("admin:\n  token: from-file\n")
    env = {"CONTRAIL_CONFIG": str(config)}

    assert resolve_token(env) == "from-file"
    assert resolve_token({**env, "CONTRAIL_TOKEN": "from-env"}) == "from-env"
    assert load_config(env={**env, "CONTRAIL_TOKEN": "from-env"}).token == "from-env"
    assert resolve_token({"CONTRAIL_CONFIG": str(tmp_path / "none.yaml")}) is None


@pytest.mark.parametrize(
    ("status", "kind", "code"),
    [(401, Unauthenticated, "unauthenticated"), (403, Forbidden, "forbidden")],
)
def test_refusals_carry_the_servers_message(status: int, kind: type[Exception], code: str) -> None:
    message = "principal p-launcher-ab12 needs editor on project b"
    body = {"error": {"code": code, "message": message, "details": []}}
    seen: list[httpx.Request] = []
    with pytest.raises(kind) as caught:
        _capture(seen, status, body).list_projects()

    assert str(caught.value) == message


def test_the_cli_says_how_to_sign_in_in_one_line() -> None:
    error = Unauthenticated("the token is revoked", status=401, code="unauthenticated")
    headline, details = describe_error(error)

    assert headline == (
        "not signed in (the token is revoked): run `contrail auth login`, or set CONTRAIL_TOKEN"
    )
    assert details == []
    forbidden = Forbidden("x needs launcher on project b", status=403, code="forbidden")
    assert describe_error(forbidden) == ("forbidden: x needs launcher on project b", [])


def test_the_config_never_shows_its_token(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"admin:\n  token: {TOKEN}\n")
    loaded = load_config(env={"CONTRAIL_CONFIG": str(config)})

    assert loaded.token == TOKEN
    assert TOKEN not in repr(loaded)
    assert TOKEN not in str(loaded)
    config.write_text("admin:\n  token: 12\n")
    with pytest.raises(ConfigError) as caught:
        load_config(env={"CONTRAIL_CONFIG": str(config)})
    assert "12" not in str(caught.value).replace(str(config), "")


def test_storing_the_token_creates_the_file_0600_and_keeps_the_other_keys(
    tmp_path: Path,
) -> None:
    path = tmp_path / "home" / ".contrail" / "config.yaml"
    store_token(TOKEN, path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert read_config_file(path) == {"token": TOKEN}

    path.write_text("admin:\n  endpoint: http://x.test\nproject: mine\n")
    path.chmod(0o644)
    store_token(TOKEN, path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_config_file(path) == {
        "endpoint": "http://x.test",
        "token": TOKEN,
        "project": "mine",
    }
    store_token(None, path)
    assert read_config_file(path) == {"endpoint": "http://x.test", "project": "mine"}
    assert [p.name for p in path.parent.iterdir()] == ["config.yaml"]


def test_a_malformed_file_is_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("colour: blue\n")
    with pytest.raises(ConfigError, match="unknown key colour"):
        store_token(TOKEN, path)
    assert path.read_text() == "colour: blue\n"

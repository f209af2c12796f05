"""Passwords and tokens in settings: SecretStr, never shown, quoted in the DSN."""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from pydantic import SecretStr
from pydantic_settings import BaseSettings
from rich.console import Console

from contrail.demo.components import settings_env
from contrail.demo.report import urls_table
from shared.settings import (
    SERVICE_SETTINGS,
    InfraSettings,
    NotifierSettings,
    StackSettings,
    WorkerSettings,
)

SETTINGS_CLASSES: list[type[BaseSettings]] = [
    InfraSettings,
    *SERVICE_SETTINGS.values(),
    WorkerSettings,
    StackSettings,
]

# The secrets the settings hold: each must be a SecretStr (the test fails if one
# goes back to a plain str, or a new one is added without being listed here).
EXPECTED_SECRETS = {
    "pg_password",
    "s3_secret_key",
    "smtp_password",
    "slack_bot_token",
    "webhook_secret",
    "secrets_key",
    "service_token",
}


def secret_fields(cls: type[BaseSettings]) -> list[str]:
    return [
        name
        for name, field in cls.model_fields.items()
        if "SecretStr" in str(field.annotation) or field.annotation is SecretStr
    ]


def set_markers(cls: type[BaseSettings], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    markers = {name: f"MARKER-{name}-{cls.__name__}-7f3a" for name in secret_fields(cls)}
    for name, marker in markers.items():
        monkeypatch.setenv(f"CONTRAIL_{name.upper()}", marker)
    return markers


def test_every_password_token_and_key_is_a_secret() -> None:
    found = {name for cls in SETTINGS_CLASSES for name in secret_fields(cls)}
    assert found == EXPECTED_SECRETS
    suspicious = {
        name
        for cls in SETTINGS_CLASSES
        for name in cls.model_fields
        if any(word in name for word in ("password", "secret", "token"))
    }
    assert suspicious <= found


@pytest.mark.parametrize("cls", SETTINGS_CLASSES, ids=lambda cls: cls.__name__)
def test_no_output_of_the_settings_shows_a_secret(
    cls: type[BaseSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    markers = set_markers(cls, monkeypatch)
    assert markers, f"{cls.__name__} holds no secret?"
    settings = cls()
    for name, marker in markers.items():
        value = getattr(settings, name)
        assert isinstance(value, SecretStr)
        assert value.get_secret_value() == marker  # read from the environment
    outputs = {
        "repr": repr(settings),
        "str": str(settings),
        "model_dump_json": settings.model_dump_json(),
        "model_dump": str(settings.model_dump()),
        "model_dump(json)": str(settings.model_dump(mode="json")),
    }
    if isinstance(settings, InfraSettings):
        outputs["pg_dsn_masked"] = settings.pg_dsn_masked
    for what, text in outputs.items():
        for marker in markers.values():
            assert marker not in text, f"{what} of {cls.__name__} shows {marker}"


def test_the_demo_urls_show_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    markers = set_markers(StackSettings, monkeypatch)
    settings = StackSettings()
    console = Console(file=io.StringIO(), width=300)
    console.print(urls_table(settings, [("registry", "http://x")], Path("/h")))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "postgresql://contrail:***@127.0.0.1:55432/contrail" in text
    for marker in markers.values():
        assert marker not in text


def test_the_stack_hands_its_processes_the_real_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    markers = set_markers(StackSettings, monkeypatch)
    env = settings_env(StackSettings(), Path("/h"), Path("/c"))
    for name, marker in markers.items():
        assert env[f"CONTRAIL_{name.upper()}"] == marker


@pytest.mark.parametrize("password", ["p@ss:w/rd%?#x", "@", ":/", "%41", "a b+c&d=e[f]"])
def test_the_dsn_quotes_user_and_password(password: str) -> None:
    settings = InfraSettings(
        pg_user="us@er:/", pg_password=SecretStr(password), pg_host="db.internal", pg_port=5433
    )
    parts = urlsplit(settings.pg_dsn)
    assert parts.scheme == "postgresql"
    assert parts.hostname == "db.internal"
    assert parts.port == 5433
    assert parts.path == "/contrail"
    assert parts.query == ""
    assert parts.fragment == ""
    assert parts.username is not None
    assert parts.password is not None
    assert unquote(parts.username) == "us@er:/"
    assert unquote(parts.password) == password
    masked = settings.pg_dsn_masked
    assert masked == "postgresql://us%40er%3A%2F:***@db.internal:5433/contrail"


def test_a_notifier_without_smtp_password_or_slack_token_has_none() -> None:
    settings = NotifierSettings()
    assert settings.smtp_password is None
    assert settings.slack_bot_token is None
    assert settings.webhook_secret.get_secret_value()

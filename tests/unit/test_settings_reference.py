"""docs/settings.md lists every setting as the code defines it."""

from __future__ import annotations

from shared.settings import LauncherSettings, WorkerSettings
from shared.settings_reference import DOCUMENT, render, variable


def test_the_document_matches_the_code() -> None:
    assert DOCUMENT.read_text() == render(), "run `python -m shared.settings_reference`"


def test_every_setting_is_described_under_its_variable() -> None:
    text = render()
    for model in (LauncherSettings, WorkerSettings):
        for name, field in model.model_fields.items():
            assert f"`{variable(name, field)}`" in text
    assert "`CONTRAIL_LAUNCHER_PORT` (18102)" in text
    assert "| `CONTRAIL_ENGINE_BATCH_SIZE` | `500` | Most records" in text


def test_every_setting_has_a_description() -> None:
    from pydantic_settings import BaseSettings

    from shared.settings import SERVICE_SETTINGS, StackSettings

    models: list[type[BaseSettings]] = [*SERVICE_SETTINGS.values(), WorkerSettings, StackSettings]
    for model in models:
        missing = [n for n, f in model.model_fields.items() if n != "port" and not f.description]
        assert missing == [], f"{model.__name__}: describe {missing}"

"""The scheduler's settings (LauncherSettings), and the kickoff input's value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.launcher.domain.schedule import CatchUp
from services.launcher.service_layer.scheduler import kickoff_value
from shared.settings import LauncherSettings


def test_defaults_tick_every_second_and_catch_up_the_latest() -> None:
    settings = LauncherSettings()
    assert settings.scheduler_interval_seconds == 1.0
    assert CatchUp(settings.scheduler_catch_up) is CatchUp.LATEST


def test_the_environment_chooses_interval_and_catch_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTRAIL_SCHEDULER_INTERVAL_SECONDS", "0.25")
    monkeypatch.setenv("CONTRAIL_SCHEDULER_CATCH_UP", "all")
    settings = LauncherSettings()
    assert settings.scheduler_interval_seconds == 0.25
    assert CatchUp(settings.scheduler_catch_up) is CatchUp.ALL


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CONTRAIL_SCHEDULER_INTERVAL_SECONDS", "0"),
        ("CONTRAIL_SCHEDULER_INTERVAL_SECONDS", "soon"),
        ("CONTRAIL_SCHEDULER_CATCH_UP", "some"),
    ],
)
def test_a_bad_value_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name.removeprefix("CONTRAIL_").lower()):
        LauncherSettings()


def test_kickoff_value_is_the_tick_in_utc_iso_8601() -> None:
    tick = datetime(2025, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    assert kickoff_value(tick) == "2025-03-01T07:30:00Z"
    assert kickoff_value(datetime(2025, 1, 1, tzinfo=UTC)) == "2025-01-01T00:00:00Z"

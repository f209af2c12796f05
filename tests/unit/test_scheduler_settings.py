"""The scheduler's settings from the environment, and the kickoff input's value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.launcher.adapters.schedules import CATCH_UP_ENV, INTERVAL_ENV, SchedulerSettings
from services.launcher.domain.schedule import CatchUp
from services.launcher.service_layer.scheduler import kickoff_value


def test_defaults_tick_every_second_and_catch_up_the_latest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(INTERVAL_ENV, raising=False)
    monkeypatch.delenv(CATCH_UP_ENV, raising=False)
    settings = SchedulerSettings.from_env()
    assert settings.interval_seconds == 1.0
    assert settings.catch_up is CatchUp.LATEST


def test_the_environment_chooses_interval_and_catch_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(INTERVAL_ENV, "0.25")
    monkeypatch.setenv(CATCH_UP_ENV, "ALL")
    settings = SchedulerSettings.from_env()
    assert settings.interval_seconds == 0.25
    assert settings.catch_up is CatchUp.ALL


@pytest.mark.parametrize(("name", "value"), [(INTERVAL_ENV, "0"), (INTERVAL_ENV, "soon")])
def test_a_bad_interval_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=INTERVAL_ENV):
        SchedulerSettings.from_env()


def test_a_bad_catch_up_names_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CATCH_UP_ENV, "some")
    with pytest.raises(ValueError, match="latest, all"):
        SchedulerSettings.from_env()


def test_kickoff_value_is_the_tick_in_utc_iso_8601() -> None:
    tick = datetime(2025, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    assert kickoff_value(tick) == "2025-03-01T07:30:00Z"
    assert kickoff_value(datetime(2025, 1, 1, tzinfo=UTC)) == "2025-01-01T00:00:00Z"

"""Settings read from CONTRAIL_* variables."""

from __future__ import annotations

import pytest

from shared.settings import (
    SERVICE_SETTINGS,
    LauncherSettings,
    RegistrySettings,
    StackSettings,
)


def test_defaults_point_at_the_local_stack() -> None:
    settings = RegistrySettings()
    assert settings.pg_dsn == "postgresql://contrail:contrail@127.0.0.1:55432/contrail"
    assert settings.pg_dsn_masked == "postgresql://contrail:***@127.0.0.1:55432/contrail"
    assert settings.kafka_bootstrap == "127.0.0.1:19092"
    assert settings.schema_name == "registry"


def test_each_service_has_its_own_port_and_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    ports = {name: cls().port for name, cls in SERVICE_SETTINGS.items()}
    assert len(set(ports.values())) == len(ports)

    monkeypatch.setenv("CONTRAIL_LAUNCHER_PORT", "9999")
    assert LauncherSettings().port == 9999
    assert RegistrySettings().port == ports["registry"]


def test_infrastructure_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTRAIL_PG_HOST", "db.internal")
    monkeypatch.setenv("CONTRAIL_KAFKA_BOOTSTRAP", "kafka:9092")
    monkeypatch.setenv("CONTRAIL_CACHE_DIR", "/var/cache/contrail")
    assert "@db.internal:" in RegistrySettings().pg_dsn
    assert RegistrySettings().kafka_bootstrap == "kafka:9092"
    assert str(StackSettings().cache_dir) == "/var/cache/contrail"


def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTRAIL_PG_PORT", "not-a-port")
    with pytest.raises(ValueError, match="pg_port"):
        RegistrySettings()

"""Migration files: naming and order, without a database."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.db.migrations import MigrationError, load_migrations, service_migrations


def test_files_load_in_order_with_their_origin(tmp_path: Path) -> None:
    (tmp_path / "0002_b.sql").write_text("SELECT 2;")
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")

    migrations = load_migrations(tmp_path, "svc")

    assert [m.version for m in migrations] == ["svc:0001_a", "svc:0002_b"]


def test_a_misnamed_file_is_refused_by_path(tmp_path: Path) -> None:
    (tmp_path / "init.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"init\.sql"):
        load_migrations(tmp_path, "svc")


def test_shared_migrations_come_first(tmp_path: Path) -> None:
    (tmp_path / "0001_tables.sql").write_text("SELECT 1;")

    versions = [m.version for m in service_migrations(tmp_path, "registry")]

    assert versions[0] == "shared:0001_outbox"
    assert versions[-1] == "registry:0001_tables"

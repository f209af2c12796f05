"""The log checker (``python -m tests.log_secrets``) finds each secret of the stack where it
leaks, and not where only a name or a masked value is."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from contrail.demo.layout import Layout
from shared.sealing import generate_key
from shared.settings import StackSettings
from tests.log_secrets import main, scan, stack_secrets

TOKEN_SECRET = "Zt3pQ9vV0aXbYc1dEe2fGg3hHi4jJk5lLm6nNo7pPq8"
ADMIN = f"ctr_abcdefghijkl_{TOKEN_SECRET}"
SERVICE = "ctr_mnopqrstuvwx_SvCsEcReTsvcsecretSVCSECRET0123456789abcdefgh"


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[StackSettings, Layout, Path]:
    monkeypatch.delenv("CONTRAIL_WEBHOOK_SECRET", raising=False)
    settings = StackSettings(pg_password=SecretStr("contrail"), home=tmp_path / "home")
    layout = Layout(home=tmp_path / "home", cache=tmp_path / "cache", repo=tmp_path)
    secrets = layout.home / "secrets"
    secrets.mkdir(parents=True)
    (secrets / "secrets.key").write_text(generate_key() + "\n")
    (secrets / "svc-launcher.token").write_text(SERVICE + "\n")
    config = tmp_path / "config.yaml"
    config.write_text(f"admin:\n  endpoint: http://127.0.0.1:18080\n  token: {ADMIN}\n")
    layout.logs_dir.mkdir(parents=True)
    return settings, layout, config


def write_log(layout: Layout, name: str, *lines: str) -> None:
    (layout.logs_dir / name).write_text("".join(f"{line}\n" for line in lines))


def test_every_kind_of_leak_is_found_with_its_line(
    stack: tuple[StackSettings, Layout, Path],
) -> None:
    settings, layout, config = stack
    key = (layout.home / "secrets" / "secrets.key").read_text().strip()
    write_log(
        layout,
        "registry.log",
        '{"msg": "connecting", "dsn": "postgresql://contrail:contrail@127.0.0.1:55432/contrail"}',
        '{"msg": "ok", "dsn": "postgresql://contrail:***@127.0.0.1:55432/contrail"}',
        f'{{"msg": "key {key}"}}',
    )
    write_log(
        layout,
        "notifier.log",
        '{"project": "contrail", "bucket": "contrail", "topic": "contrail.executions"}',
        f"Authorization: Bearer {ADMIN}",
        "token ctr_mnopqrstuvwx_… revoked",  # the id alone is no secret
        "S3 key contrail-secrets-bucket",  # a longer word is not the S3 secret
        "s3 secret_key=contrail-secret",
        "password=contrail",
    )
    hits = scan(layout.logs_dir, stack_secrets(settings, layout, config), {"contrail"})
    found = sorted((hit.file.name, hit.line, hit.secret.name) for hit in hits)
    assert ("registry.log", 1, "PostgreSQL password (CONTRAIL_PG_PASSWORD)") in found
    assert ("registry.log", 3, "secrets key #1 (secrets.key)") in found
    assert ("notifier.log", 2, f"admin.token of {config}") in found
    assert ("notifier.log", 5, "S3 secret key (CONTRAIL_S3_SECRET_KEY)") in found
    assert ("notifier.log", 6, "PostgreSQL password (CONTRAIL_PG_PASSWORD)") in found
    lines = {(name, line) for name, line, _ in found}
    assert lines == {
        ("registry.log", 1),
        ("registry.log", 3),
        ("notifier.log", 2),
        ("notifier.log", 5),
        ("notifier.log", 6),
    }


def test_the_command_prints_hits_masked_and_exits_1(
    stack: tuple[StackSettings, Layout, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, layout, config = stack
    monkeypatch.setenv("CONTRAIL_CONFIG", str(config))
    monkeypatch.setenv("CONTRAIL_HOME", str(layout.home))
    write_log(layout, "worker.log", "all quiet")
    assert main(["--logs", str(layout.logs_dir)]) == 0
    write_log(layout, "worker.log", "all quiet", f"sent {SERVICE}")
    assert main(["--logs", str(layout.logs_dir)]) == 1
    out = capsys.readouterr().out
    assert f"{layout.logs_dir / 'worker.log'}:2: token svc-launcher.token" in out
    assert SERVICE not in out
    assert TOKEN_SECRET not in out

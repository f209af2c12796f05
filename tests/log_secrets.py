"""``python -m tests.log_secrets``: no secret of the local stack in its logs.

Collects the secrets the stack knows (PostgreSQL's password, the S3 secret
key, the notifier's webhook secret, the secrets key that seals launch plans,
every token in ``.contrail/secrets/*.token`` and the CLI config's
``admin.token``) and searches every file under ``.contrail/logs/`` (what
``contrail demo logs`` shows) for them. Prints ``file:line: what`` for each
hit, the secret masked, and exits 1 if there is any; ``make test`` runs it
after the tests.

A secret that is also an ordinary word of the logs (the local stack's
PostgreSQL password is ``contrail``, its user and database name) cannot be
searched for alone: it is searched where a password would be written, in a
URL's user info (``user:PASSWORD@``) and after ``password``, ``secret`` or
``key`` (``password=PASSWORD``, ``"secret_key": "PASSWORD"``).
"""

from __future__ import annotations

import argparse
import mmap
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import SecretStr

from contrail.config import default_config_path
from contrail.demo.layout import Layout
from shared.settings import NotifierSettings, StackSettings

# A secret at least this long, that is no word of the logs, is searched for as is.
_DISTINCTIVE_LENGTH = 12
# A secret at least this long (keys, tokens) is searched for inside words, too.
_RANDOM_LENGTH = 20


@dataclass(frozen=True)
class Secret:
    name: str
    value: str

    @property
    def masked(self) -> str:
        return f"{self.value[:3]}…" if len(self.value) >= _DISTINCTIVE_LENGTH else "****"


@dataclass(frozen=True)
class Hit:
    file: Path
    line: int
    secret: Secret


def _value(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None


def stack_secrets(stack: StackSettings, layout: Layout, config: Path) -> list[Secret]:
    """Every secret of the local stack that is set (and not empty)."""
    notifier = NotifierSettings()
    found: list[tuple[str, str | None]] = [
        ("PostgreSQL password (CONTRAIL_PG_PASSWORD)", _value(stack.pg_password)),
        ("S3 secret key (CONTRAIL_S3_SECRET_KEY)", _value(stack.s3_secret_key)),
        ("webhook secret (CONTRAIL_WEBHOOK_SECRET)", _value(notifier.webhook_secret)),
        ("SMTP password (CONTRAIL_SMTP_PASSWORD)", _value(notifier.smtp_password)),
        ("Slack bot token (CONTRAIL_SLACK_BOT_TOKEN)", _value(notifier.slack_bot_token)),
    ]
    secrets_dir = layout.home / "secrets"
    key_file = secrets_dir / "secrets.key"
    if key_file.is_file():
        for i, key in enumerate(key_file.read_text().split(",")):
            found.append((f"secrets key #{i + 1} ({key_file.name})", key.strip()))
    for token_file in sorted(secrets_dir.glob("*.token")):
        found.append((f"token {token_file.name}", _token_secret(token_file.read_text())))
    if config.is_file():
        document = yaml.safe_load(config.read_text()) or {}
        admin = document.get("admin") if isinstance(document, dict) else None
        admin_token = admin.get("token") if isinstance(admin, dict) else None
        if isinstance(admin_token, str):
            found.append((f"admin.token of {config}", _token_secret(admin_token)))
    unique: dict[tuple[str, str], Secret] = {}
    for name, value in found:
        if value:
            unique.setdefault((name, value), Secret(name, value))
    return list(unique.values())


def _token_secret(token: str) -> str:
    """What of a token must never be written: ``ctr_<id>_<secret>``'s secret (the id may be
    logged; the secret is in every copy of the whole token), else the whole token."""
    token = token.strip()
    if token.startswith("ctr_") and len(token) > 17 and token[16] == "_":
        return token[17:]
    return token


def _ordinary_words(stack: StackSettings) -> set[str]:
    """Names the logs print all the time; a secret equal to one of them is searched in context."""
    return {
        stack.pg_user,
        stack.pg_database,
        stack.s3_access_key,
        stack.s3_bucket,
        "contrail",
        "admin",
        "postgres",
    }


class Finder:
    """Where a leak of one secret is in a file's bytes.

    A distinctive secret is found as is (``bytes.find``: memory speed), a short one not
    inside a longer word; an ordinary word only where a password is written.
    """

    def __init__(self, secret: Secret, ordinary: set[str]) -> None:
        self.secret = secret
        self.value = secret.value.encode()
        self.in_context = len(secret.value) < _DISTINCTIVE_LENGTH or secret.value in ordinary
        self.bounded = len(secret.value) < _RANDOM_LENGTH
        value = re.escape(self.value)
        # ``user:VALUE@`` (a URL's user info), or ``password=VALUE``, ``"secret_key": "VALUE"``.
        self._written = re.compile(
            rb"(?:[^\s/:@\"']+:" + value + rb"@)"
            rb"|(?:(?:passw(?:or)?d|secret|_key|token)[\"']?\s*[:=]\s*[\"']?" + value + rb")",
            re.IGNORECASE,
        )

    def offsets(self, data: bytes | mmap.mmap) -> Iterator[int]:
        needle = self.value
        start = data.find(needle)
        while start != -1:
            end = start + len(needle)
            # A short secret inside a longer word is not it; a long random one is, anywhere.
            if not self.bounded or not (_word(data, start - 1) or _word(data, end)):
                if not self.in_context:
                    yield start
                else:
                    before = data[max(0, start - 40) : end + 1]
                    if self._written.search(before):
                        yield start
            start = data.find(needle, end)


def _word(data: bytes | mmap.mmap, index: int) -> bool:
    """Whether the byte at ``index`` continues a word (a secret inside a longer one is not it)."""
    if index < 0 or index >= len(data):
        return False
    byte = data[index]
    return chr(byte).isalnum() or byte in b"_-"


def scan_file(path: Path, finders: list[Finder]) -> Iterator[Hit]:
    if path.stat().st_size == 0:
        return
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        for finder in finders:
            line, counted = 1, 0
            for offset in finder.offsets(data):
                line += data[counted:offset].count(b"\n")
                counted = offset
                yield Hit(path, line, finder.secret)


def scan(logs: Path, secrets: list[Secret], ordinary: set[str]) -> list[Hit]:
    finders = [Finder(secret, ordinary) for secret in secrets]
    hits: list[Hit] = []
    for path in sorted(p for p in logs.rglob("*") if p.is_file()):
        hits.extend(scan_file(path, finders))
    return hits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logs", type=Path, help="the folder to search (the stack's logs)")
    args = parser.parse_args(argv)
    stack = StackSettings()
    test_stack = os.environ.get("CONTRAIL_TEST_STACK", "local").lower()
    if test_stack == "external" and args.logs is None:
        print(
            "log_secrets: skipped: an external stack (CONTRAIL_TEST_STACK) keeps its logs elsewhere"
        )
        return 0
    if test_stack == "docker":  # tests/infra_docker.py runs the services under <home>/docker
        stack = stack.model_copy(update={"home": stack.home / "docker"})
    layout = Layout.of(stack)
    logs = args.logs or layout.logs_dir
    if not logs.is_dir():
        print(f"log_secrets: no logs at {logs} (is the stack up?)", file=sys.stderr)
        return 1
    secrets = stack_secrets(stack, layout, default_config_path())
    ordinary = _ordinary_words(stack)
    hits = scan(logs, secrets, ordinary)
    for hit in hits:
        print(f"{hit.file}:{hit.line}: {hit.secret.name} ({hit.secret.masked})")
    files = sum(1 for p in logs.rglob("*") if p.is_file())
    in_context = [s.name for s in secrets if Finder(s, ordinary).in_context]
    note = (
        f"; searched only where a password is written: {', '.join(in_context)}"
        if in_context
        else ""
    )
    verdict = f"{len(hits)} leaks" if hits else "no secret"
    print(f"log_secrets: {verdict} in {files} files of {logs} ({len(secrets)} secrets{note})")
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m services.registry.auth bootstrap [--reissue NAME]``: the stack's first principals.

Applies the registry's migrations, makes sure ``admin`` (a user) and the
service accounts ``svc-launcher``, ``svc-notifier`` and ``svc-metrics`` exist,
each holding admin on ``*`` and a live token, and prints, as one JSON object,
the tokens it had to make (``{"admin": "ctr_..."}``; ``{}`` when none). A token
is made for a principal without a live one, or named by ``--reissue`` (its
token file was lost). Tokens are printed nowhere else and never logged.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime

import asyncpg

from services.registry.adapters.auth import PostgresAuthStore
from services.registry.entrypoints.http import MIGRATIONS
from services.registry.service_layer import auth as service
from shared.db import apply_migrations, create_pool
from shared.db.migrations import service_migrations
from shared.errors import ServiceError
from shared.settings import RegistrySettings


async def run_bootstrap(settings: RegistrySettings, reissue: list[str]) -> dict[str, str]:
    conn = await asyncpg.connect(settings.pg_dsn, timeout=10)
    try:
        await apply_migrations(
            conn, settings.schema_name, service_migrations(MIGRATIONS, settings.service_name)
        )
    finally:
        await conn.close()
    pool = await create_pool(settings, settings.schema_name)
    try:
        return await service.bootstrap(PostgresAuthStore(pool), datetime.now(UTC), reissue)
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.registry.auth")
    commands = parser.add_subparsers(dest="command", required=True)
    boot = commands.add_parser("bootstrap", help="the stack's admin and service accounts")
    boot.add_argument(
        "--reissue",
        action="append",
        default=[],
        metavar="NAME",
        help="make a fresh token for this principal (repeatable)",
    )
    args = parser.parse_args(argv)
    try:
        made = asyncio.run(run_bootstrap(RegistrySettings(), args.reissue))
    except ServiceError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(json.dumps(made))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m services.registry.auth bootstrap [--reissue NAME] [--adopt-from-env]``.

The stack's first principals. Applies the registry's migrations, makes sure
``admin`` (a user) and the service accounts ``svc-launcher``, ``svc-notifier``
and ``svc-metrics`` exist, each holding admin on ``*`` and a live token, and
prints, as one JSON object, the tokens it had to make (``{"admin": "ctr_..."}``;
``{}`` when none). A token is made for a principal without a live one, or named
by ``--reissue`` (its token file was lost). Tokens are printed nowhere else and
never logged.

``--adopt-from-env`` (docker-compose.yml's ``auth-bootstrap``): a principal
whose ``CONTRAIL_<NAME>_TOKEN`` is set (``CONTRAIL_ADMIN_TOKEN``,
``CONTRAIL_SVC_LAUNCHER_TOKEN``, ...; ``make env`` writes them into ``.env``)
gets that token, its hash stored if it is not yet, and is never made another
one. Reruns change nothing. An adopted token that was revoked stays revoked
(stderr says so): make a new one in ``.env`` and rerun.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime

import asyncpg

from services.registry.adapters.auth import PostgresAuthStore
from services.registry.entrypoints.http import MIGRATIONS
from services.registry.service_layer import auth as service
from shared.db import apply_migrations, create_pool
from shared.db.migrations import service_migrations
from shared.errors import ServiceError
from shared.settings import RegistrySettings


def tokens_from_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The bootstrap principals' tokens given in ``environ`` (``CONTRAIL_<NAME>_TOKEN``)."""
    found = {
        name: environ.get(service.token_variable(name), "").strip()
        for name in service.BOOTSTRAP_PRINCIPALS
    }
    return {name: token for name, token in found.items() if token}


async def run_bootstrap(
    settings: RegistrySettings, reissue: list[str], adopt: Mapping[str, str] | None = None
) -> dict[str, str]:
    conn = await asyncpg.connect(settings.pg_dsn, timeout=10)
    try:
        await apply_migrations(
            conn, settings.schema_name, service_migrations(MIGRATIONS, settings.service_name)
        )
    finally:
        await conn.close()
    pool = await create_pool(settings, settings.schema_name)
    try:
        store, now = PostgresAuthStore(pool), datetime.now(UTC)
        adopted = await service.adopt(store, now, adopt or {})
        for name, outcome in adopted.items():
            variable = service.token_variable(name)
            if outcome in ("revoked", "expired"):
                print(
                    f"warning: {name}'s token ({variable}) was {outcome} and stays so: "
                    f"put a new token in {variable} and rerun",
                    file=sys.stderr,
                )
            else:
                print(f"{name}: the token of {variable} is {outcome}", file=sys.stderr)
        return await service.bootstrap(store, now, reissue, adopted)
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
    boot.add_argument(
        "--adopt-from-env",
        action="store_true",
        help="make the tokens of CONTRAIL_ADMIN_TOKEN, CONTRAIL_SVC_LAUNCHER_TOKEN, ... valid",
    )
    args = parser.parse_args(argv)
    adopt = tokens_from_env(os.environ) if args.adopt_from_env else None
    try:
        made = asyncio.run(run_bootstrap(RegistrySettings(), args.reissue, adopt))
    except ServiceError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(json.dumps(made))
    return 0


if __name__ == "__main__":
    sys.exit(main())

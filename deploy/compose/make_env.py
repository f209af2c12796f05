"""``make env``: write docker-compose.yml's ``.env`` with random passwords and keys.

docker-compose.yml takes every password from this file (``${VAR:?...}``) and
refuses to start without it. An existing file is never overwritten: its
PostgreSQL and MinIO passwords are already in their volumes, and the secrets
key already seals launch plans. The file is created with mode 0600.
Standard library only, so that it runs before anything is installed.

    python3 deploy/compose/make_env.py [PATH]    # default: .env
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from pathlib import Path


def _password() -> str:
    # URL-safe: no quoting needed in a DSN, a shell or a compose file.
    return secrets.token_urlsafe(24)


def generated() -> dict[str, str]:
    """The variables of a new ``.env``."""
    return {
        "CONTRAIL_PG_PASSWORD": _password(),
        "CONTRAIL_S3_SECRET_KEY": _password(),
        "CONTRAIL_WEBHOOK_SECRET": _password(),
        # A Fernet key (shared.sealing): 32 random bytes, URL-safe base64.
        "CONTRAIL_SECRETS_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
    }


def write_env(path: Path) -> bool:
    """Write a new ``.env`` at ``path`` (0600); False, touching nothing, when one exists."""
    text = "".join(
        [
            "# docker-compose.yml's passwords and keys, made by `make env`. Keep it secret\n",
            "# (mode 0600, in .gitignore) and back it up: the secrets key opens the launch\n",
            "# plans' sealed notification secrets. To use the compose stack from the host:\n",
            "#   set -a; . ./.env; set +a\n",
            *(f"{name}={value}\n" for name, value in generated().items()),
        ]
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as out:
        out.write(text)
    return True


def main(argv: list[str]) -> int:
    path = Path(argv[1] if len(argv) > 1 else ".env")
    if write_env(path):
        print(f"wrote {path} (mode 0600) with new random passwords")
    else:
        print(f"{path} exists: kept as it is (delete it to make new passwords)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

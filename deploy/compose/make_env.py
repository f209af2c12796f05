"""``make env``: write docker-compose.yml's ``.env`` with random passwords, keys and tokens.

docker-compose.yml takes every password from this file (``${VAR:?...}``) and
refuses to start without it. An existing value is never overwritten: the
PostgreSQL and MinIO passwords are already in their volumes, the secrets key
already seals launch plans, and the tokens are already in use. A variable the
file lacks or leaves empty (one added by a newer Contrail) is appended. The file is
created with mode 0600. Standard library only, so that it runs before anything
is installed.

The API tokens are those of the stack's principals: ``admin`` (the CLI signs
in with it: ``contrail auth login --token "$(grep '^CONTRAIL_ADMIN_TOKEN=' .env |
cut -d= -f2)"``) and the service accounts ``svc-launcher``, ``svc-notifier``
and ``svc-metrics``. compose's one-shot ``auth-bootstrap`` stores their hashes
(``python -m services.registry.auth bootstrap --adopt-from-env``).

    python3 deploy/compose/make_env.py [PATH]    # default: .env
"""

from __future__ import annotations

import base64
import os
import secrets
import string
import sys
from pathlib import Path

PRINCIPALS = ("admin", "svc-launcher", "svc-notifier", "svc-metrics")
"""The principals whose tokens ``.env`` holds (services.registry.service_layer.auth's bootstrap)."""

# No variable's name appears in it: `grep NAME .env | cut -d= -f2` finds its one line.
HEADER = (
    "# docker-compose.yml's passwords, keys and API tokens, made by `make env`. Keep it\n"
    "# secret (mode 0600, in .gitignore) and back it up: the secrets key opens the launch\n"
    "# plans' sealed notification secrets, and the admin token is the stack's admin.\n"
    "# To use the compose stack from the host:\n"
    "#   set -a; . ./.env; set +a\n"
    '# and sign the CLI in with the admin token (README.md, "With Docker").\n'
)


def _password() -> str:
    # URL-safe: no quoting needed in a DSN, a shell or a compose file.
    return secrets.token_urlsafe(24)


def token_variable(principal: str) -> str:
    """``CONTRAIL_ADMIN_TOKEN``, ``CONTRAIL_SVC_LAUNCHER_TOKEN``, ..."""
    return f"CONTRAIL_{principal.upper().replace('-', '_')}_TOKEN"


def new_token() -> str:
    """An API token as shared.auth.tokens makes them: ``ctr_<12 [a-z0-9]>_<43 URL-safe>``."""
    alphabet = string.ascii_lowercase + string.digits
    token_id = "".join(secrets.choice(alphabet) for _ in range(12))
    return f"ctr_{token_id}_{secrets.token_urlsafe(32)}"


def generated() -> dict[str, str]:
    """The variables of a new ``.env``."""
    return {
        "CONTRAIL_PG_PASSWORD": _password(),
        "CONTRAIL_S3_SECRET_KEY": _password(),
        "CONTRAIL_WEBHOOK_SECRET": _password(),
        # A Fernet key (shared.sealing): 32 random bytes, URL-safe base64.
        "CONTRAIL_SECRETS_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        **{token_variable(name): new_token() for name in PRINCIPALS},
    }


def read_env(path: Path) -> dict[str, str]:
    """The ``NAME=value`` lines of an env file (comments and blank lines skipped)."""
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            name, _, value = line.partition("=")
            found[name.strip().removeprefix("export ").strip()] = value.strip()
    return found


def write_env(path: Path) -> list[str]:
    """Write the variables ``path`` lacks (all of them for a new file, 0600); their names.

    Nothing that is in the file is changed; ``[]`` when it lacks nothing.
    """
    values = generated()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        present = read_env(path)
        missing = {name: value for name, value in values.items() if not present.get(name)}
        if missing:
            text = path.read_text()
            with path.open("a") as out:
                if text and not text.endswith("\n"):
                    out.write("\n")
                out.write("# added by `make env`\n")
                out.writelines(f"{name}={value}\n" for name, value in missing.items())
        return list(missing)
    with os.fdopen(fd, "w") as out:
        out.write(HEADER)
        out.writelines(f"{name}={value}\n" for name, value in values.items())
    return list(values)


def main(argv: list[str]) -> int:
    path = Path(argv[1] if len(argv) > 1 else ".env")
    existed = path.exists()
    written = write_env(path)
    if not existed:
        print(f"wrote {path} (mode 0600) with new random passwords, keys and tokens")
    elif written:
        print(f"{path} exists: kept its values, added {', '.join(written)}")
    else:
        print(f"{path} exists: kept as it is (it has every variable)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

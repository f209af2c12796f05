"""The local stack's API tokens: made by the registry's bootstrap, kept in ``<home>/secrets``.

Before the services start, ``demo up`` runs ``python -m services.registry.auth
bootstrap``: it makes sure the principals ``admin`` (a user, admin of every
project) and one service account per calling service exist, each with a valid
token, and prints (as JSON) the tokens it had to create. Those are kept in
``<home>/secrets/<name>.token`` (mode 0600, folder 0700) and reused by later
``up``s; a principal whose file is gone gets a new token (``--reissue NAME``).

Each service that calls another gets its account's token as
``CONTRAIL_SERVICE_TOKEN``; the admin token goes into the CLI's config, so
that the README's commands work without signing in.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from contrail.demo.errors import StackError
from contrail.demo.layout import Layout

ADMIN = "admin"
SERVICE_ACCOUNTS = {
    "launcher": "svc-launcher",
    "notifier": "svc-notifier",
    "metrics": "svc-metrics",
}
"""The account each service calls the others as (the registry and the worker call no API)."""
PRINCIPALS = (ADMIN, *SERVICE_ACCOUNTS.values())
BOOTSTRAP_MODULE = "services.registry.auth"
BOOTSTRAP_TIMEOUT_SECONDS = 120.0


def secrets_dir(layout: Layout) -> Path:
    return layout.home / "secrets"


def token_path(layout: Layout, principal: str) -> Path:
    return secrets_dir(layout) / f"{principal}.token"


def read_token(layout: Layout, principal: str) -> str | None:
    """The kept token of ``principal``, or None when there is none."""
    try:
        text = token_path(layout, principal).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return text or None


def write_token(layout: Layout, principal: str, token: str) -> None:
    """Keep ``token`` in its file, 0600 from its creation, in a folder only we can read."""
    folder = secrets_dir(layout)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    path = token_path(layout, principal)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(token + "\n")


def service_token_env(service: str, layout: Layout) -> dict[str, str]:
    """``CONTRAIL_SERVICE_TOKEN`` for a service that calls others, from its account's file."""
    principal = SERVICE_ACCOUNTS.get(service)
    token = read_token(layout, principal) if principal is not None else None
    return {"CONTRAIL_SERVICE_TOKEN": token} if token else {}


def bootstrap_available() -> bool:
    """Whether this checkout's registry has the bootstrap (older ones have no access control)."""
    return importlib.util.find_spec(BOOTSTRAP_MODULE) is not None


def bootstrap(layout: Layout, env: dict[str, str]) -> list[str]:
    """Run the registry's bootstrap and keep the tokens it makes; the principals given one.

    ``env`` is the registry's environment (its database settings). Raises
    ``StackError`` naming the bootstrap's last line of error when it fails.
    """
    made = _run_bootstrap(layout, env, [])
    missing = [name for name in PRINCIPALS if read_token(layout, name) is None]
    if missing:  # the principals exist but their files are gone: new tokens for them
        made += _run_bootstrap(layout, env, missing)
    still = [name for name in PRINCIPALS if read_token(layout, name) is None]
    if still:
        raise StackError(
            f"the registry's bootstrap gave no token for {', '.join(still)}; "
            f"see {layout.log('auth-bootstrap')}"
        )
    return made


def _run_bootstrap(layout: Layout, env: dict[str, str], reissue: list[str]) -> list[str]:
    argv = [sys.executable, "-m", BOOTSTRAP_MODULE, "bootstrap"]
    for name in reissue:
        argv += ["--reissue", name]
    log = layout.log("auth-bootstrap")
    # stdout carries the tokens: it is read here, never written to the log
    with log.open("ab") as errors:
        errors.write(f"--- contrail demo: {' '.join(argv[2:])}\n".encode())
        errors.flush()
        try:
            done = subprocess.run(
                argv,
                cwd=layout.repo,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errors,
                timeout=BOOTSTRAP_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise StackError(
                f"the registry's bootstrap did not finish in {BOOTSTRAP_TIMEOUT_SECONDS:g}s; "
                f"see {log}"
            ) from exc
    if done.returncode != 0:
        from contrail.demo.processes import last_log_line

        raise StackError(
            f"the registry's bootstrap failed (exit {done.returncode}): "
            f"{last_log_line(log)}; see {log}"
        )
    try:
        tokens = json.loads(done.stdout or b"{}")
    except ValueError as exc:
        raise StackError(
            f"the registry's bootstrap printed something other than JSON; see {log}"
        ) from exc
    if not isinstance(tokens, dict):
        raise StackError(f"the registry's bootstrap printed no mapping of tokens; see {log}")
    for name, token in tokens.items():
        if isinstance(token, str) and token:
            write_token(layout, str(name), token)
    return sorted(str(name) for name in tokens)


def sign_in_cli(layout: Layout, gateway_url: str) -> str:
    """Put the admin token into the CLI's config, unless it holds a token the stack accepts.

    A config whose endpoint is another cluster is left alone. Returns the line
    ``demo up`` prints about it (never the token).
    """
    from contrail.config import (
        DEFAULT_ENDPOINT,
        ConfigError,
        default_config_path,
        read_config_file,
        store_token,
    )

    admin = read_token(layout, ADMIN)
    if admin is None:
        return "the CLI is not signed in: the stack has no admin token"
    path = default_config_path()
    try:
        current = read_config_file(path) if path.is_file() else {}
    except ConfigError as exc:
        return f"the CLI is not signed in: {exc}"
    endpoint = current.get("endpoint", DEFAULT_ENDPOINT).rstrip("/")
    if endpoint != gateway_url.rstrip("/"):
        return f"the CLI's config ({path}) is for {endpoint}: left as it is"
    existing = current.get("token")
    if existing and existing != admin:
        who = _accepted_as(gateway_url, existing)
        if who is not None:
            return f"the CLI keeps its own token from {path} (signed in as {who})"
    if existing != admin:
        try:
            store_token(admin, path)
        except ConfigError as exc:
            return f"the CLI is not signed in: {exc}"
    return f"the CLI is signed in as {ADMIN} (token in {path}, mode 0600)"


def _accepted_as(gateway_url: str, token: str) -> str | None:
    """Who the stack says ``token`` is; None when it refuses it."""
    from contrail.remote import Remote, RemoteError, Unauthenticated

    try:
        with Remote(gateway_url, token=token) as remote:
            return remote.whoami().name
    except Unauthenticated:
        return None
    except RemoteError:
        return "someone the stack could not check"

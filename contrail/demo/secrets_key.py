"""The local stack's secrets key: made once into ``<home>/secrets/secrets.key`` (mode 0600).

The registry seals launch plans' notification secrets with it and the
notifier opens them (``shared.sealing``); both get it as
``CONTRAIL_SECRETS_KEY``. It is made on the first ``demo up`` and kept: a new
key would leave the launch plans sealed under the old one unreadable. Back it
up with the database.
"""

from __future__ import annotations

import os
from pathlib import Path

from contrail.demo.layout import Layout
from shared.sealing import generate_key

SERVICES_WITH_THE_KEY = ("registry", "notifier")
"""The services that seal (registry) and open (notifier) launch plans' secrets."""


def secrets_key_path(layout: Layout) -> Path:
    return layout.home / "secrets" / "secrets.key"


def ensure_secrets_key(layout: Layout) -> str:
    """The stack's key, made (0600, in a 0700 folder) if there is none yet."""
    path = secrets_key_path(layout)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(generate_key() + "\n")
    return path.read_text().strip()


def secrets_key_env(name: str, layout: Layout) -> dict[str, str]:
    """``CONTRAIL_SECRETS_KEY`` for the services that need it; one set by the user wins."""
    if name not in SERVICES_WITH_THE_KEY or os.environ.get("CONTRAIL_SECRETS_KEY"):
        return {}
    return {"CONTRAIL_SECRETS_KEY": ensure_secrets_key(layout)}

"""Where the CLI talks to, and for which project and domain.

Three sources, each overriding the one before:

1. the config file, ``~/.contrail/config.yaml`` (or the file ``CONTRAIL_CONFIG`` names)::

       admin:
         endpoint: http://127.0.0.1:18080
       project: flytesnacks
       domain: development

   Every key is optional; a missing file is the same as an empty one.
2. the variables ``CONTRAIL_ENDPOINT``, ``CONTRAIL_PROJECT`` and ``CONTRAIL_DOMAIN``;
3. the command's ``--endpoint``, ``--project`` and ``--domain`` flags.

With none of them: the local stack (``http://127.0.0.1:18080``), project
``flytesnacks``, domain ``development``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contrail.errors import ContrailError
from shared.documents import DocumentError, parse_yaml, unique_keys
from shared.identifiers import NAME_PATTERN

DEFAULT_ENDPOINT = "http://127.0.0.1:18080"
DEFAULT_PROJECT = "flytesnacks"
DEFAULT_DOMAIN = "development"

CONFIG_ENV = "CONTRAIL_CONFIG"
ENDPOINT_ENV = "CONTRAIL_ENDPOINT"
PROJECT_ENV = "CONTRAIL_PROJECT"
DOMAIN_ENV = "CONTRAIL_DOMAIN"

_TOP_KEYS = frozenset({"admin", "project", "domain"})
_ADMIN_KEYS = frozenset({"endpoint"})


class ConfigError(ContrailError):
    """The config file cannot be read or does not have the expected shape.

    The message names the file and the problem, in one line.
    """


@dataclass(frozen=True)
class Config:
    """The resolved endpoint, project and domain, and the file they came from (if any)."""

    endpoint: str
    project: str
    domain: str
    path: Path | None = None


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    """``$CONTRAIL_CONFIG`` when set, else ``~/.contrail/config.yaml``."""
    env = os.environ if env is None else env
    named = env.get(CONFIG_ENV)
    if named:
        return Path(named).expanduser()
    return Path.home() / ".contrail" / "config.yaml"


def read_config_file(path: Path) -> dict[str, str]:
    """The settings a config file holds, as ``{"endpoint"?, "project"?, "domain"?}``.

    Raises ``ConfigError`` when the file is not valid YAML (read as every
    document is, by ``shared.documents``: no aliases, no key given twice), is
    not a mapping, has an unknown key or a value that is not a non-empty string.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror or exc}") from exc
    try:
        document: Any = unique_keys(parse_yaml(text))
    except DocumentError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping with admin, project and domain")
    unknown = sorted(str(key) for key in document if key not in _TOP_KEYS)
    if unknown:
        raise ConfigError(
            f"{path}: unknown key {', '.join(unknown)} (expected admin.endpoint, project, domain)"
        )
    values: dict[str, str] = {}
    admin = document.get("admin")
    if admin is not None:
        if not isinstance(admin, dict):
            raise ConfigError(f"{path}: admin must be a mapping with endpoint")
        unknown = sorted(str(key) for key in admin if key not in _ADMIN_KEYS)
        if unknown:
            raise ConfigError(f"{path}: unknown key admin.{', admin.'.join(unknown)}")
        if "endpoint" in admin:
            values["endpoint"] = _string(path, "admin.endpoint", admin["endpoint"])
    for key in ("project", "domain"):
        if key in document:
            values[key] = _string(path, key, document[key])
    if "endpoint" in values and not values["endpoint"].startswith(("http://", "https://")):
        raise ConfigError(
            f"{path}: admin.endpoint must start with http:// or https://, "
            f"got {values['endpoint']!r}"
        )
    return values


def _string(path: Path, key: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{path}: {key} must be a non-empty string, got {value!r}")
    return value.strip()


def load_config(
    *,
    endpoint: str | None = None,
    project: str | None = None,
    domain: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Resolve the config: defaults, then the file, then ``CONTRAIL_*``, then these arguments.

    A missing default file is fine; a missing file named by ``CONTRAIL_CONFIG``
    or a malformed file raises ``ConfigError``.
    """
    env = os.environ if env is None else env
    path = default_config_path(env)
    from_file: dict[str, str] = {}
    source: Path | None = None
    if path.exists() or env.get(CONFIG_ENV):
        from_file = read_config_file(path)
        source = path
    resolved = {
        "endpoint": from_file.get("endpoint", DEFAULT_ENDPOINT),
        "project": from_file.get("project", DEFAULT_PROJECT),
        "domain": from_file.get("domain", DEFAULT_DOMAIN),
    }
    for key, variable in (
        ("endpoint", ENDPOINT_ENV),
        ("project", PROJECT_ENV),
        ("domain", DOMAIN_ENV),
    ):
        if env.get(variable):
            resolved[key] = env[variable]
    for key, flag in (("endpoint", endpoint), ("project", project), ("domain", domain)):
        if flag:
            resolved[key] = flag
    config = Config(
        endpoint=resolved["endpoint"].rstrip("/"),
        project=resolved["project"],
        domain=resolved["domain"],
        path=source,
    )
    for key in ("project", "domain"):
        value = getattr(config, key)
        if not re.fullmatch(NAME_PATTERN, value):
            raise ConfigError(
                f"{key} {value!r} is not valid: use lower-case letters, digits, '_', '.' "
                "or '-', starting and ending with a letter or digit"
            )
    return config

"""Where the CLI talks to, and for which project and domain.

Three sources, each overriding the one before:

1. the config file, ``~/.contrail/config.yaml`` (or the file ``CONTRAIL_CONFIG`` names)::

       admin:
         endpoint: http://127.0.0.1:18080
         token: ctr_...        # written by `contrail auth login` or `contrail demo up`
       project: flytesnacks
       domain: development

   Every key is optional; a missing file is the same as an empty one.
2. the variables ``CONTRAIL_ENDPOINT``, ``CONTRAIL_PROJECT``, ``CONTRAIL_DOMAIN``
   and ``CONTRAIL_TOKEN``;
3. the command's ``--endpoint``, ``--project`` and ``--domain`` flags.

With none of them: the local stack (``http://127.0.0.1:18080``), project
``flytesnacks``, domain ``development``, no token.

The token is a credential: ``Config`` never shows it, and the file that holds
it is written with mode 0600 (``store_token``).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

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
TOKEN_ENV = "CONTRAIL_TOKEN"

_TOP_KEYS = frozenset({"admin", "project", "domain"})
_ADMIN_KEYS = frozenset({"endpoint", "token"})
_FILE_MODE = 0o600


class ConfigError(ContrailError):
    """The config file cannot be read or does not have the expected shape.

    The message names the file and the problem, in one line.
    """


@dataclass(frozen=True)
class Config:
    """The resolved endpoint, project, domain and token, and the file they came from (if any).

    ``token`` is the API credential (None: none); the repr masks it.
    """

    endpoint: str
    project: str
    domain: str
    path: Path | None = None
    token: str | None = None

    def __repr__(self) -> str:
        token = None if self.token is None else "'********'"
        return (
            f"Config(endpoint={self.endpoint!r}, project={self.project!r}, "
            f"domain={self.domain!r}, path={self.path!r}, token={token})"
        )


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    """``$CONTRAIL_CONFIG`` when set, else ``~/.contrail/config.yaml``."""
    env = os.environ if env is None else env
    named = env.get(CONFIG_ENV)
    if named:
        return Path(named).expanduser()
    return Path.home() / ".contrail" / "config.yaml"


def read_config_file(path: Path) -> dict[str, str]:
    """The settings a config file holds, as ``{"endpoint"?, "token"?, "project"?, "domain"?}``.

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
            f"{path}: unknown key {', '.join(unknown)} "
            "(expected admin.endpoint, admin.token, project, domain)"
        )
    values: dict[str, str] = {}
    admin = document.get("admin")
    if admin is not None:
        if not isinstance(admin, dict):
            raise ConfigError(f"{path}: admin must be a mapping with endpoint and token")
        unknown = sorted(str(key) for key in admin if key not in _ADMIN_KEYS)
        if unknown:
            raise ConfigError(f"{path}: unknown key admin.{', admin.'.join(unknown)}")
        if "endpoint" in admin:
            values["endpoint"] = _string(path, "admin.endpoint", admin["endpoint"])
        if "token" in admin:
            if not isinstance(admin["token"], str) or not admin["token"].strip():
                # never echo what may be a credential
                raise ConfigError(f"{path}: admin.token must be a non-empty string")
            values["token"] = admin["token"].strip()
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
        token=env.get(TOKEN_ENV) or from_file.get("token"),
    )
    for key in ("project", "domain"):
        value = getattr(config, key)
        if not re.fullmatch(NAME_PATTERN, value):
            raise ConfigError(
                f"{key} {value!r} is not valid: use lower-case letters, digits, '_', '.' "
                "or '-', starting and ending with a letter or digit"
            )
    return config


def resolve_token(env: Mapping[str, str] | None = None) -> str | None:
    """The API token: ``CONTRAIL_TOKEN``, else the config file's ``admin.token``, else None.

    Raises ``ConfigError`` when the file must be read and is malformed.
    """
    env = os.environ if env is None else env
    if env.get(TOKEN_ENV):
        return env[TOKEN_ENV]
    path = default_config_path(env)
    if not path.is_file():
        return None
    return read_config_file(path).get("token")


def store_token(
    token: str | None, path: Path | None = None, *, endpoint: str | None = None
) -> Path:
    """Write ``admin.token`` into the config file (None removes it), keeping its other keys.

    ``endpoint``, when given, is written as ``admin.endpoint`` with it.

    The file (``default_config_path()`` when ``path`` is None) is created if
    missing, its folder with mode 0700; it is rewritten whole with mode 0600,
    which also narrows the mode of a file that was readable by others.

    Raises ``ConfigError`` when the existing file is malformed or cannot be written.
    """
    path = default_config_path() if path is None else path
    document: dict[str, Any] = {}
    if path.exists():
        read_config_file(path)  # the same checks as every read: refuse to rewrite a bad file
        loaded = unique_keys(parse_yaml(path.read_text(encoding="utf-8")))
        document = dict(loaded) if isinstance(loaded, dict) else {}
    admin = dict(document.get("admin") or {})
    if endpoint is not None:
        admin["endpoint"] = endpoint.rstrip("/")
    if token is None:
        admin.pop("token", None)
    else:
        admin["token"] = token
    if admin:
        document["admin"] = admin
    else:
        document.pop("admin", None)
    text = yaml.safe_dump(document, sort_keys=False, default_flow_style=False) if document else ""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # a temporary file made 0600 from its creation, then renamed over the old one:
        # the token is never in a file others can read, even for a moment
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            os.chmod(temporary, _FILE_MODE)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write the config file: {exc.strerror or exc}") from exc
    return path

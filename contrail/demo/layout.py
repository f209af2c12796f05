"""Where the local stack keeps its state, logs, caches and templates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from contrail.demo.errors import StackError
from shared.settings import StackSettings


def find_repo_root(start: Path) -> Path:
    """The source checkout holding ``start``: the folder with ``pyproject.toml``."""
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "deploy" / "local").is_dir():
            return folder
    raise StackError(
        f"contrail demo runs from a source checkout of Contrail, and none holds {start}; "
        "clone the repository and run `make demo` there"
    )


@dataclass(frozen=True)
class Layout:
    """The stack's folders: ``home`` (state), ``cache`` (downloads), ``repo`` (templates)."""

    home: Path
    cache: Path
    repo: Path

    @classmethod
    def of(cls, settings: StackSettings) -> Layout:
        """A relative ``home`` is taken from the checkout, so that every folder finds the stack."""
        repo = find_repo_root(Path(__file__).resolve().parent)
        return cls(
            home=(repo / settings.home.expanduser()).resolve(),
            cache=settings.cache_dir.expanduser().resolve(),
            repo=repo,
        )

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    def log(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    @property
    def lock_file(self) -> Path:
        return self.run_dir / "stack.lock"

    @property
    def postgres_data(self) -> Path:
        return self.home / "postgres"

    @property
    def postgres_socket_dir(self) -> Path:
        return self.run_dir / "postgres"

    @property
    def kafka_dir(self) -> Path:
        return self.home / "kafka"

    @property
    def kafka_data(self) -> Path:
        return self.kafka_dir / "data"

    @property
    def minio_data(self) -> Path:
        return self.home / "minio"

    @property
    def mailpit_data(self) -> Path:
        return self.home / "mailpit"

    @property
    def nginx_dir(self) -> Path:
        return self.home / "nginx"

    @property
    def deploy(self) -> Path:
        return self.repo / "deploy" / "local"

    @property
    def bin_dir(self) -> Path:
        return self.cache / "bin"

    def kafka_libs(self, version: str) -> Path:
        return self.cache / "kafka" / version / "libs"

    def ensure(self) -> None:
        for folder in (self.home, self.run_dir, self.logs_dir):
            folder.mkdir(parents=True, exist_ok=True)


def split_host_port(address: str, default_port: int | None = None) -> tuple[str, int]:
    """``host:port`` from an address (``127.0.0.1:19092``) or a URL; the first of a list."""
    first = address.split(",")[0].strip()
    parts = urlsplit(first if "://" in first else f"//{first}")
    if parts.hostname is None:
        raise StackError(f"cannot read a host from the address {address!r}")
    port = parts.port if parts.port is not None else default_port
    if port is None:
        raise StackError(f"the address {address!r} names no port")
    return parts.hostname, port

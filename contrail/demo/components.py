"""The parts of the local stack and how each is started, checked and stopped.

``Component`` is what ``Stack`` orchestrates. Every part but PostgreSQL (see
``postgres``) is a ``ProcessComponent``: one child process we spawn, recorded
in a pid file, logging to ``<home>/logs/<name>.log``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydantic import SecretStr

from contrail.demo import install, probes, processes
from contrail.demo.credentials import service_token_env
from contrail.demo.errors import StackError
from contrail.demo.layout import Layout, split_host_port
from contrail.demo.pidfiles import PidFiles
from contrail.demo.render import kafka_properties, new_cluster_id, nginx_conf
from contrail.demo.secrets_key import secrets_key_env
from shared.routes import API_PREFIX, SERVICE_ROUTES, service_prefix
from shared.settings import StackSettings

WORKER_SETTLE_SECONDS = 3.0
# Mailpit deletes its oldest messages beyond this many (its default is 500):
# enough for a benchmark's burst to be read back whole.
MAILPIT_MAX_MESSAGES = 10_000


class State(StrEnum):
    HEALTHY = "healthy"
    RUNNING = "running"
    STOPPED = "stopped"


@dataclass(frozen=True)
class ComponentStatus:
    """One row of ``contrail demo status``."""

    name: str
    pid: int | None
    state: State
    endpoint: str
    log: Path


def evaluate_state(pid: int | None, healthy: bool) -> State:
    """A component's state from whether its process lives and its probe passes."""
    if pid is None:
        return State.STOPPED
    return State.HEALTHY if healthy else State.RUNNING


def settings_env(settings: StackSettings, home: Path, cache: Path) -> dict[str, str]:
    """The ``CONTRAIL_*`` variables that hand the stack's settings to its processes."""
    env: dict[str, str] = {}
    fields = set(type(settings).model_fields)
    for field, value in settings.model_dump(mode="json", include=fields).items():
        secret = getattr(settings, field)
        if isinstance(secret, SecretStr):
            value = secret.get_secret_value()  # the dump masks it
        if value is None:
            continue  # unset: the process keeps its own default
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, dict | list):
            text = json.dumps(value)
        else:
            text = str(value)
        env[f"CONTRAIL_{field.upper()}"] = text
    env["CONTRAIL_HOME"] = str(home)
    env["CONTRAIL_CACHE_DIR"] = str(cache)
    return env


class Component(ABC):
    """One part of the stack."""

    name: str
    grace_seconds: float = 10.0

    def __init__(self, settings: StackSettings, layout: Layout) -> None:
        self.settings = settings
        self.layout = layout

    @property
    def log_path(self) -> Path:
        return self.layout.log(self.name)

    @abstractmethod
    def endpoint(self) -> str:
        """Where users reach it, for ``status`` and ``up``'s summary."""

    def ports(self) -> list[tuple[str, int]]:
        """The addresses it listens on, checked for conflicts before it starts."""
        return []

    @abstractmethod
    def pid(self) -> int | None:
        """Its pid while a process of ours runs, else None."""

    @abstractmethod
    def probe(self) -> bool:
        """Whether it answers, checked while it starts."""

    def healthy(self) -> bool:
        """Whether it serves: ``probe`` unless the part needs a stricter check."""
        return self.probe()

    def prepare(self) -> None:  # noqa: B027 - most parts need nothing installed
        """Install or download what it runs; may be slow the first time."""

    @abstractmethod
    def start(self) -> None:
        """Launch it; waiting until it is healthy is the caller's job."""

    def on_ready(self) -> None:  # noqa: B027 - most parts need no set-up
        """Idempotent set-up once it answers (roles, buckets)."""

    def exit_status(self) -> str | None:
        """How its process ended, when it ended while we watched."""
        return None

    def missing(self) -> str | None:
        """What ``prepare`` will install, when something is missing."""
        return None

    @abstractmethod
    def stop(self, grace_seconds: float) -> bool:
        """Stop it; False when nothing of ours was running."""


class ProcessComponent(Component):
    """A part that is one spawned process of ours."""

    def __init__(self, settings: StackSettings, layout: Layout, pidfiles: PidFiles) -> None:
        super().__init__(settings, layout)
        self.pidfiles = pidfiles
        self._child: subprocess.Popen[bytes] | None = None
        self._started_at: float | None = None

    @abstractmethod
    def argv(self) -> list[str]: ...

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def cwd(self) -> Path:
        return self.layout.home

    def pid(self) -> int | None:
        record = self.pidfiles.live(self.name)
        return record.pid if record is not None else None

    def start(self) -> None:
        self.pidfiles.remove(self.name)
        self._child, _ = processes.spawn(
            self.name,
            self.argv(),
            cwd=self.cwd(),
            env=self.env(),
            log_path=self.log_path,
            pidfiles=self.pidfiles,
        )
        self._started_at = time.monotonic()

    def exit_status(self) -> str | None:
        if self._child is None:
            return None
        code = self._child.poll()
        if code is None:
            return None
        return f"exited with code {code}" if code >= 0 else f"was killed by signal {-code}"

    def stop(self, grace_seconds: float) -> bool:
        record = self.pidfiles.read(self.name)
        stopped = record is not None and processes.stop(record, grace_seconds)
        self.pidfiles.remove(self.name)
        if self._child is not None:
            self._child.poll()
        return stopped


class Kafka(ProcessComponent):
    """A single KRaft node (broker and controller) run from Kafka's jars."""

    name = "kafka"
    grace_seconds = 30.0

    @property
    def address(self) -> tuple[str, int]:
        return split_host_port(self.settings.kafka_bootstrap)

    def endpoint(self) -> str:
        host, port = self.address
        return f"{host}:{port}"

    def ports(self) -> list[tuple[str, int]]:
        host, port = self.address
        return [(host, port), (host, self.settings.kafka_controller_port)]

    def missing(self) -> str | None:
        if install.kafka_libs_ready(self.layout, self.settings.kafka_version):
            return None
        return f"Kafka {self.settings.kafka_version} jars (Maven)"

    def prepare(self) -> None:
        install.java_binary()
        install.kafka_libs(
            self.layout, self.settings.kafka_version, self.layout.log("install-kafka")
        )

    @property
    def _properties(self) -> Path:
        return self.layout.kafka_dir / "server.properties"

    def _classpath(self) -> str:
        return str(self.layout.kafka_libs(self.settings.kafka_version) / "*")

    def _java(self, *args: str) -> list[str]:
        log4j = self.layout.deploy / "kafka" / "log4j2.properties"
        return [
            install.java_binary(),
            f"-Dlog4j2.configurationFile={log4j}",
            "-Djava.awt.headless=true",
            *args,
        ]

    def argv(self) -> list[str]:
        return self._java(
            "-Xms256m",
            "-Xmx512m",
            "-XX:+ExitOnOutOfMemoryError",
            "-cp",
            self._classpath(),
            "kafka.Kafka",
            str(self._properties),
        )

    def start(self) -> None:
        host, port = self.address
        self.layout.kafka_data.mkdir(parents=True, exist_ok=True)
        template = (self.layout.deploy / "kafka" / "server.properties.tmpl").read_text()
        self._properties.write_text(
            kafka_properties(
                template,
                host=host,
                port=port,
                controller_port=self.settings.kafka_controller_port,
                data_dir=self.layout.kafka_data,
                partitions=self.settings.kafka_partitions,
            )
        )
        if not (self.layout.kafka_data / "meta.properties").is_file():
            self._format_storage()
        super().start()

    def _format_storage(self) -> None:
        argv = self._java(
            "-cp",
            self._classpath(),
            "kafka.tools.StorageTool",
            "format",
            "-t",
            new_cluster_id(),
            "-c",
            str(self._properties),
        )
        with self.log_path.open("ab") as log:
            log.write(b"--- contrail demo: formatting Kafka's storage\n")
            log.flush()
            code = subprocess.run(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            ).returncode
        if code != 0:
            raise StackError(
                f"formatting Kafka's storage failed (exit {code}); last log line: "
                f"{processes.last_log_line(self.log_path)}; see {self.log_path}"
            )

    def probe(self) -> bool:
        host, port = self.address
        return probes.kafka_ready(host, port)


class Minio(ProcessComponent):
    """MinIO, the S3 store, built from source with ``go install``."""

    name = "minio"

    @property
    def address(self) -> tuple[str, int]:
        return split_host_port(self.settings.s3_endpoint, default_port=80)

    def endpoint(self) -> str:
        return f"{self.settings.s3_endpoint} (console :{self.settings.s3_console_port})"

    def ports(self) -> list[tuple[str, int]]:
        host, port = self.address
        return [(host, port), (host, self.settings.s3_console_port)]

    def missing(self) -> str | None:
        if install.minio_binary(self.layout).is_file():
            return None
        return "MinIO (go install; a few minutes)"

    def prepare(self) -> None:
        install.build_minio(
            self.layout, self.settings.minio_module, self.layout.log("install-minio")
        )

    def argv(self) -> list[str]:
        host, port = self.address
        return [
            str(install.minio_binary(self.layout)),
            "server",
            str(self.layout.minio_data),
            "--address",
            f"{host}:{port}",
            "--console-address",
            f"{host}:{self.settings.s3_console_port}",
        ]

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "MINIO_ROOT_USER": self.settings.s3_access_key,
            "MINIO_ROOT_PASSWORD": self.settings.s3_secret_key.get_secret_value(),
            "MINIO_UPDATE": "off",
        }

    def start(self) -> None:
        self.layout.minio_data.mkdir(parents=True, exist_ok=True)
        super().start()

    def probe(self) -> bool:
        return probes.http_ok(f"{self.settings.s3_endpoint.rstrip('/')}/minio/health/live")

    def on_ready(self) -> None:
        from shared.s3 import ObjectStore

        try:
            ObjectStore(self.settings).ensure_bucket()
        except Exception as exc:
            raise StackError(
                f"creating the bucket {self.settings.s3_bucket!r} in MinIO failed: {exc}; "
                f"see {self.log_path}"
            ) from exc


class Mailpit(ProcessComponent):
    """Mailpit, the SMTP server and its web inbox, built from source with ``go install``.

    Both ports listen on the settings' hosts (127.0.0.1 by default); messages
    are kept in ``<home>/mailpit`` so the inbox outlives a restart. It accepts
    any SMTP login, with or without TLS, so that a sender configured with a
    username and password works against it as against a real server.
    """

    name = "mailpit"

    @property
    def smtp_address(self) -> tuple[str, int]:
        return self.settings.smtp_host, self.settings.smtp_port

    @property
    def http_address(self) -> tuple[str, int]:
        return split_host_port(self.settings.mailpit_url, default_port=80)

    def endpoint(self) -> str:
        host, port = self.smtp_address
        return f"smtp {host}:{port}, inbox {self.settings.mailpit_url}"

    def ports(self) -> list[tuple[str, int]]:
        return [self.smtp_address, self.http_address]

    def missing(self) -> str | None:
        if install.mailpit_binary(self.layout).is_file():
            return None
        return "Mailpit (go install; about a minute)"

    def prepare(self) -> None:
        install.build_mailpit(
            self.layout, self.settings.mailpit_module, self.layout.log("install-mailpit")
        )

    def argv(self) -> list[str]:
        smtp_host, smtp_port = self.smtp_address
        http_host, http_port = self.http_address
        return [
            str(install.mailpit_binary(self.layout)),
            "--smtp",
            f"{smtp_host}:{smtp_port}",
            "--listen",
            f"{http_host}:{http_port}",
            "--database",
            str(self.layout.mailpit_data / "mailpit.db"),
            "--max",
            str(MAILPIT_MAX_MESSAGES),
            "--smtp-auth-accept-any",
            "--smtp-auth-allow-insecure",
            "--smtp-disable-rdns",
            "--disable-version-check",
        ]

    def start(self) -> None:
        self.layout.mailpit_data.mkdir(parents=True, exist_ok=True)
        super().start()

    def probe(self) -> bool:
        host, port = self.smtp_address
        ready = probes.http_ok(f"{self.settings.mailpit_url.rstrip('/')}/readyz")
        return ready and probes.tcp_open(host, port)


class Gateway(ProcessComponent):
    """nginx in front of the four services."""

    name = "gateway"

    def __init__(
        self,
        settings: StackSettings,
        layout: Layout,
        pidfiles: PidFiles,
        service_ports: Mapping[str, int],
    ) -> None:
        super().__init__(settings, layout, pidfiles)
        self.service_ports = dict(service_ports)

    def endpoint(self) -> str:
        return self.settings.gateway_url

    def ports(self) -> list[tuple[str, int]]:
        return [(self.settings.gateway_host, self.settings.gateway_port)]

    def missing(self) -> str | None:
        return None if install.find_nginx() is not None else "nginx (apt)"

    def prepare(self) -> None:
        install.nginx_binary(self.layout.log("install-apt"))

    @property
    def _conf(self) -> Path:
        return self.layout.nginx_dir / "nginx.conf"

    def argv(self) -> list[str]:
        return [
            str(install.nginx_binary(self.layout.log("install-apt"))),
            "-p",
            str(self.layout.nginx_dir),
            "-c",
            str(self._conf),
            "-e",
            "stderr",
        ]

    def render(self) -> str:
        template = (self.layout.deploy / "nginx" / "nginx.conf.tmpl").read_text()
        return nginx_conf(
            template,
            listen_host=self.settings.gateway_host,
            listen_port=self.settings.gateway_port,
            state_dir=self.layout.nginx_dir,
            access_log=self.layout.log("gateway-access"),
            upstreams={name: ("127.0.0.1", port) for name, port in self.service_ports.items()},
            routes=SERVICE_ROUTES,
            api_prefix=API_PREFIX,
        )

    def start(self) -> None:
        (self.layout.nginx_dir / "tmp").mkdir(parents=True, exist_ok=True)
        self._conf.write_text(self.render())
        super().start()

    def probe(self) -> bool:
        return probes.http_ok(f"{self.settings.gateway_url}/healthz")

    def on_ready(self) -> None:
        """Reload a running gateway whose config no longer matches the template."""
        rendered = self.render()
        current = self._conf.read_text() if self._conf.is_file() else ""
        pid = self.pid()
        if rendered != current and pid is not None:
            self._conf.write_text(rendered)
            os.kill(pid, signal.SIGHUP)


class Service(ProcessComponent):
    """One of the four API services, ``python -m services.<name>``."""

    def __init__(
        self, name: str, port: int, settings: StackSettings, layout: Layout, pidfiles: PidFiles
    ) -> None:
        super().__init__(settings, layout, pidfiles)
        self.name = name
        self.port = port

    @property
    def url(self) -> str:
        return f"{self.settings.gateway_url}{service_prefix(self.name)}"

    def endpoint(self) -> str:
        return f"{self.url} (:{self.port})"

    def ports(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", self.port)]

    def cwd(self) -> Path:
        return self.layout.repo

    def argv(self) -> list[str]:
        return [sys.executable, "-m", f"services.{self.name}"]

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            **settings_env(self.settings, self.layout.home, self.layout.cache),
            **secrets_key_env(self.name, self.layout),
            **service_token_env(self.name, self.layout),
            f"CONTRAIL_{self.name.upper()}_PORT": str(self.port),
            "PYTHONUNBUFFERED": "1",
        }

    def probe(self) -> bool:
        return probes.http_ok(f"{self.url}readyz")


class Worker(ProcessComponent):
    """A launcher worker; it listens on no port, so alive is healthy."""

    name = "worker"
    # Longer than the worker's own grace for running attempts (30 s by default).
    grace_seconds = 40.0

    def endpoint(self) -> str:
        return f"concurrency {self.settings.worker_concurrency}"

    def cwd(self) -> Path:
        return self.layout.repo

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "services.launcher.worker",
            "--concurrency",
            str(self.settings.worker_concurrency),
        ]

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            **settings_env(self.settings, self.layout.home, self.layout.cache),
            "PYTHONUNBUFFERED": "1",
        }

    def probe(self) -> bool:
        if self.pid() is None:
            return False
        # A worker that fails at import or on connecting dies within a few seconds.
        started = self._started_at
        return started is None or time.monotonic() - started >= WORKER_SETTLE_SECONDS

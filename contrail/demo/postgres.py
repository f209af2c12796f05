"""PostgreSQL of the local stack, run through ``pg_ctl`` from the system's packages.

PostgreSQL refuses to run as root, so as root every ``initdb``, ``pg_ctl`` and
``psql`` runs as the ``postgres`` user (``runuser``) and owns its folders.
The cluster trusts local connections on a private socket folder and asks for
a password on 127.0.0.1, where the services connect.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path

from contrail.demo import install, probes
from contrail.demo.components import Component
from contrail.demo.errors import StackError
from contrail.demo.layout import Layout
from contrail.demo.processes import error_line, last_log_line
from contrail.demo.procfs import read_cmdline, read_stat
from contrail.demo.render import postgres_conf
from shared.settings import StackSettings

SUPERUSER = "postgres"
_INCLUDE_LINE = "include = 'contrail.conf'"


@dataclass(frozen=True)
class PostmasterPid:
    """The first lines of ``postmaster.pid``."""

    pid: int
    data_dir: Path
    port: int | None


def parse_postmaster_pid(text: str) -> PostmasterPid | None:
    lines = text.splitlines()
    try:
        return PostmasterPid(
            pid=int(lines[0]),
            data_dir=Path(lines[1]),
            port=int(lines[3]) if len(lines) > 3 and lines[3].strip() else None,
        )
    except (IndexError, ValueError):
        return None


def is_our_postmaster(cmdline: list[str], data_dir: Path) -> bool:
    """Whether ``cmdline`` is a postmaster serving ``data_dir``."""
    if not cmdline or not Path(cmdline[0]).name.startswith(("postgres", "postmaster")):
        return False
    return str(data_dir) in cmdline


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def bootstrap_sql(user: str, password: str, database: str) -> str:
    """psql input that creates (or repairs) the stack's role and database; idempotent."""
    role, db = quote_ident(user), quote_ident(database)
    create_role = f"CREATE ROLE {role} LOGIN"
    create_db = f"CREATE DATABASE {db} OWNER {role}"
    return (
        f"SELECT {quote_literal(create_role)} WHERE NOT EXISTS "
        f"(SELECT FROM pg_roles WHERE rolname = {quote_literal(user)})\\gexec\n"
        f"ALTER ROLE {role} WITH LOGIN PASSWORD {quote_literal(password)};\n"
        f"SELECT {quote_literal(create_db)} WHERE NOT EXISTS "
        f"(SELECT FROM pg_database WHERE datname = {quote_literal(database)})\\gexec\n"
        f"ALTER DATABASE {db} OWNER TO {role};\n"
        f"GRANT CONNECT, CREATE, TEMPORARY ON DATABASE {db} TO {role};\n"
        # The usage views' read-only role (services/metrics/migrations), and a local
        # login in it for BI tools (docs/usage.md).
        "SELECT 'CREATE ROLE contrail_usage_reader NOLOGIN' WHERE NOT EXISTS "
        "(SELECT FROM pg_roles WHERE rolname = 'contrail_usage_reader')\\gexec\n"
        "SELECT 'CREATE ROLE contrail_bi LOGIN PASSWORD ''contrail_bi'' "
        "IN ROLE contrail_usage_reader' WHERE NOT EXISTS "
        "(SELECT FROM pg_roles WHERE rolname = 'contrail_bi')\\gexec\n"
        f"GRANT CONNECT ON DATABASE {db} TO contrail_usage_reader;\n"
    )


class Postgres(Component):
    """The stack's PostgreSQL cluster in ``<home>/postgres``, managed by ``pg_ctl``."""

    name = "postgres"
    grace_seconds = 30.0

    def __init__(self, settings: StackSettings, layout: Layout) -> None:
        super().__init__(settings, layout)
        self.data_dir = layout.postgres_data
        self.socket_dir = layout.postgres_socket_dir
        self._bin_dir: Path | None = None

    def endpoint(self) -> str:
        return f"{self.settings.pg_host}:{self.settings.pg_port}"

    def ports(self) -> list[tuple[str, int]]:
        return [(self.settings.pg_host, self.settings.pg_port)]

    # What runs

    def pid(self) -> int | None:
        """The postmaster's pid when it is running on our data folder."""
        try:
            recorded = parse_postmaster_pid((self.data_dir / "postmaster.pid").read_text())
        except OSError:
            return None
        if recorded is None:
            return None
        stat = read_stat(recorded.pid)
        if stat is None or stat.is_zombie:
            return None
        if not is_our_postmaster(read_cmdline(recorded.pid), self.data_dir):
            return None
        return recorded.pid

    def probe(self) -> bool:
        """The server accepts connections (the stack's role may not exist yet)."""
        return self.superuser_ready()

    def healthy(self) -> bool:
        """The stack's role logs in to its database over TCP, as the services do."""
        return probes.postgres_ready(self.settings.pg_dsn)

    # Starting

    def missing(self) -> str | None:
        return None if install.postgres_installed() else "PostgreSQL (apt)"

    def prepare(self) -> None:
        self._bin_dir = install.postgres_bin_dir(self.layout.log("install-apt"))

    def _bin(self, tool: str) -> str:
        if self._bin_dir is None:
            self._bin_dir = install.postgres_bin_dir(self.layout.log("install-apt"))
        return str(self._bin_dir / tool)

    def _as_owner(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", SUPERUSER, "--", *argv] if install.is_root() else argv

    def _run(self, what: str, argv: list[str], stdin: str | None = None) -> None:
        result = subprocess.run(
            self._as_owner(argv),
            input=(stdin or "").encode(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd="/",
        )
        output = result.stdout.decode(errors="replace")
        with self.log_path.open("a") as log:
            log.write(f"--- contrail demo: {' '.join(argv)}\n{output}")
        if result.returncode != 0:
            line = error_line(output) or last_log_line(self.log_path)
            raise StackError(
                f"{what} failed (exit {result.returncode}): {line}; see {self.log_path}"
            )

    def _own(self, *paths: Path) -> None:
        if not install.is_root():
            return
        try:
            owner = pwd.getpwnam(SUPERUSER)
        except KeyError as exc:
            raise StackError(
                "PostgreSQL's packages are installed but there is no postgres user; "
                "reinstall them: apt-get install --reinstall -y postgresql-common"
            ) from exc
        for path in paths:
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def _prepare_folders(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.socket_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.log_path.touch(exist_ok=True)
        self._own(self.data_dir, self.socket_dir, self.log_path)
        if install.is_root():
            # The postgres user must be able to reach its folders inside <home>.
            for folder in (self.data_dir.parent, *self.data_dir.parent.parents):
                if not os.stat(folder).st_mode & 0o001:
                    raise StackError(
                        f"the postgres user cannot enter {folder}, where the stack keeps "
                        f"PostgreSQL's data; allow it (chmod o+x {folder}) or set CONTRAIL_HOME "
                        "to a folder outside it"
                    )

    def _initdb(self) -> None:
        self._run(
            "initdb of the stack's PostgreSQL cluster",
            [
                self._bin("initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
            ],
        )
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\n# The local stack's settings, rewritten on every start.\n{_INCLUDE_LINE}\n"
            )

    def _clear_stale_lock(self) -> None:
        """Remove a postmaster.pid whose pid now belongs to another process."""
        lock = self.data_dir / "postmaster.pid"
        if lock.exists() and self.pid() is None:
            lock.unlink()
            for stale in self.socket_dir.glob(".s.PGSQL.*"):
                with contextlib.suppress(OSError):
                    stale.unlink()

    def start(self) -> None:
        """initdb on first use, then ``pg_ctl start`` (which waits for it to accept connections)."""
        self._prepare_folders()
        if not (self.data_dir / "PG_VERSION").is_file():
            self._initdb()
        conf = self.data_dir / "contrail.conf"
        conf.write_text(
            postgres_conf(
                host=self.settings.pg_host,
                port=self.settings.pg_port,
                socket_dir=self.socket_dir,
            )
        )
        self._own(conf)
        self._clear_stale_lock()
        timeout = max(5, int(self.settings.ready_timeout_seconds))
        argv = self._as_owner(
            [
                self._bin("pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_path),
                "-w",
                "-t",
                str(timeout),
                "start",
            ]
        )
        # Its own session: a Ctrl-C at the terminal must not reach the postmaster.
        result = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd="/",
            start_new_session=True,
        )
        if result.returncode != 0:
            raise StackError(
                f"postgres did not start (pg_ctl exit {result.returncode}); "
                f"last log line: {last_log_line(self.log_path)}; see {self.log_path}"
            )

    def on_ready(self) -> None:
        """Create the stack's role and database unless they exist, then log in as it."""
        s = self.settings
        self._run(
            f"creating the role {s.pg_user!r} and database {s.pg_database!r}",
            [
                self._bin("psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.socket_dir),
                "-p",
                str(s.pg_port),
                "-U",
                SUPERUSER,
                "-d",
                "postgres",
                "-f",
                "-",
            ],
            stdin=bootstrap_sql(s.pg_user, s.pg_password.get_secret_value(), s.pg_database),
        )
        if not self.healthy():
            raise StackError(
                f"postgres runs but {s.pg_user!r} cannot log in to {s.pg_database!r} at "
                f"{self.endpoint()}; see {self.log_path}"
            )

    def superuser_ready(self) -> bool:
        """Whether the postmaster accepts connections on its socket."""
        if self.pid() is None:
            return False
        result = subprocess.run(
            [
                self._bin("pg_isready"),
                "-q",
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.settings.pg_port),
                "-U",
                SUPERUSER,
                "-d",
                "postgres",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return result.returncode == 0

    # Stopping

    def stop(self, grace_seconds: float) -> bool:
        if self.pid() is None:
            self._clear_stale_lock()
            return False
        result = subprocess.run(
            self._as_owner(
                [
                    self._bin("pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    str(int(grace_seconds)),
                    "stop",
                ]
            ),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd="/",
        )
        if result.returncode != 0 and self.pid() is not None:
            detail = error_line(result.stdout.decode(errors="replace"))
            raise StackError(
                f"pg_ctl stop failed: {detail or last_log_line(self.log_path)}; see {self.log_path}"
            )
        return True

"""The local stack as a whole: bring it up, take it down, say how it is.

``up`` is idempotent: it keeps what is healthy, starts what is not running
(after a crash too), and waits for each group to be healthy before the next:

    postgres -> kafka -> minio and mailpit -> gateway -> the four services and a worker

Before the services, the registry's bootstrap makes the stack's API tokens
(``credentials``); after them, the admin token signs the CLI in.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from rich.console import Console

from contrail.config import DEFAULT_PROJECT
from contrail.demo import credentials, report
from contrail.demo.components import (
    Component,
    ComponentStatus,
    Gateway,
    Kafka,
    Mailpit,
    Minio,
    Service,
    State,
    Worker,
    evaluate_state,
)
from contrail.demo.errors import StackError
from contrail.demo.layout import Layout
from contrail.demo.pidfiles import PidFiles
from contrail.demo.postgres import Postgres
from contrail.demo.processes import last_log_line
from contrail.demo.procfs import port_owner, read_stat
from shared.settings import StackSettings

_POLL_SECONDS = 0.25
_DYING_GRACE_SECONDS = 10.0


def _dying(pid: int | None) -> bool:
    stat = read_stat(pid) if pid is not None else None
    return stat is not None and stat.is_zombie


_ALIASES = {"nginx": "gateway", "postgresql": "postgres", "s3": "minio", "smtp": "mailpit"}


def port_conflict_message(component: str, port: int, pid: int | None, command: str) -> str:
    """The one line that names a port conflict and who causes it."""
    taken = f"port {port} for {component} is already in use by another process"
    return taken if pid is None else f"{taken} (pid {pid}, {command!r})"


class Stack:
    """PostgreSQL, Kafka, MinIO, Mailpit, nginx, the four services and a worker, as processes."""

    def __init__(
        self,
        settings: StackSettings | None = None,
        console: Console | None = None,
        *,
        infrastructure: bool = True,
    ) -> None:
        """``infrastructure=False`` manages only the gateway, services and worker,
        for PostgreSQL, Kafka and S3 that run elsewhere (containers, say)."""
        self.settings = settings or StackSettings()
        self.layout = Layout.of(self.settings)
        self.console = console or Console()
        self.pidfiles = PidFiles(self.layout.run_dir)
        ports = {name: s.port for name, s in self.settings.service_settings().items()}
        args = (self.settings, self.layout, self.pidfiles)
        self.services = [Service(name, port, *args) for name, port in ports.items()]
        infra: list[list[Component]] = [
            [Postgres(self.settings, self.layout)],
            [Kafka(*args)],
            [Minio(*args), Mailpit(*args)],
        ]
        self._service_group: list[Component] = [*self.services, Worker(*args)]
        self.groups: list[list[Component]] = [
            *(infra if infrastructure else []),
            [Gateway(*args, service_ports=ports)],
            self._service_group,
        ]

    @property
    def components(self) -> list[Component]:
        return [component for group in self.groups for component in group]

    def component(self, name: str) -> Component:
        """The component called ``name`` (``nginx`` is the gateway)."""
        wanted = _ALIASES.get(name, name)
        for component in self.components:
            if component.name == wanted:
                return component
        names = ", ".join(c.name for c in self.components)
        raise StackError(f"there is no component {name!r}; the stack has {names}")

    # Up

    def up(self, progress: bool = True) -> None:
        """Bring every component up and wait until all are healthy.

        Raises StackError naming the first fault; what was already started
        keeps running (``running()`` lists it, ``down()`` stops it).
        """
        began = time.monotonic()
        self.layout.ensure()
        with self._lock(progress):
            not_running = [c for c in self.components if c.pid() is None]
            self._check_ports(not_running)
            self._prepare(not_running, progress)
            for group in self.groups:
                if group is self._service_group:
                    self._bootstrap_credentials(progress)
                self._bring_up(group, progress)
            self._create_default_project()
            signed_in = credentials.sign_in_cli(self.layout, self.settings.gateway_url)
        if progress:
            seconds = time.monotonic() - began
            self.console.print(f"\n[bold green]Contrail is up[/] in {seconds:.1f}s\n")
            self.console.print(
                report.urls_table(
                    self.settings, [(s.name, s.url) for s in self.services], self.layout.home
                )
            )
            auth = "on" if self.settings.auth_enabled else "off (CONTRAIL_AUTH_ENABLED=false)"
            self.console.print(f"\n{signed_in}; access control is {auth}")

    def _bootstrap_credentials(self, progress: bool) -> None:
        """The stack's tokens, made or checked by the registry's bootstrap before services start."""
        if not credentials.bootstrap_available():
            return  # a checkout from before access control
        began = time.monotonic()
        registry = next(s for s in self.services if s.name == "registry")
        made = credentials.bootstrap(self.layout, registry.env())
        if progress:
            what = f"new tokens for {', '.join(made)}" if made else "tokens kept"
            self.console.print(
                report.progress_line(
                    "auth",
                    "ready",
                    f"{what} in {credentials.secrets_dir(self.layout)}",
                    time.monotonic() - began,
                )
            )

    def _create_default_project(self) -> None:
        """The project every command uses by default, as Flyte's sandbox has ``flytesnacks``.

        Other projects are created explicitly (``contrail create project``).
        """
        from contrail.remote import Remote, RemoteError

        admin = credentials.read_token(self.layout, credentials.ADMIN)
        try:
            with Remote(self.settings.gateway_url, token=admin) as remote:
                remote.create_project(DEFAULT_PROJECT)
        except RemoteError as exc:
            raise StackError(f"cannot create the project {DEFAULT_PROJECT}: {exc}") from exc

    @contextlib.contextmanager
    def _lock(self, progress: bool) -> Iterator[None]:
        """One ``up`` or ``down`` at a time per home folder."""
        self.layout.run_dir.mkdir(parents=True, exist_ok=True)
        with self.layout.lock_file.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if progress:
                    self.console.print("[dim]waiting for another `contrail demo` command…[/]")
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _check_ports(self, components: Sequence[Component]) -> None:
        for component in components:
            for host, port in component.ports():
                owner = port_owner(host, port)
                # A process killed a moment ago (its main thread already a zombie)
                # can hold its sockets while its other threads exit: wait for it.
                deadline = time.monotonic() + _DYING_GRACE_SECONDS
                while owner is not None and _dying(owner.pid) and time.monotonic() < deadline:
                    time.sleep(_POLL_SECONDS)
                    owner = port_owner(host, port)
                if owner is not None:
                    raise StackError(
                        port_conflict_message(component.name, port, owner.pid, owner.command)
                    )

    def _prepare(self, components: Sequence[Component], progress: bool) -> None:
        """Install what is missing, the slow downloads and builds side by side."""
        missing = [m for m in (c.missing() for c in components) if m is not None]
        began = time.monotonic()
        if progress and missing:
            self.console.print(
                f"  [dim]installing {', '.join(missing)}; logs in {self.layout.logs_dir}[/]"
            )
        with contextlib.ExitStack() as stack:
            if progress and missing:
                stack.enter_context(
                    self.console.status(f"installing {', '.join(missing)}…", spinner="dots")
                )
            with ThreadPoolExecutor(max_workers=4) as pool:
                futures = [pool.submit(c.prepare) for c in components]
            for future in futures:
                future.result()
        if progress and missing:
            self.console.print(
                report.progress_line(
                    "install", "done", ", ".join(missing), time.monotonic() - began
                )
            )

    def _bring_up(self, group: Sequence[Component], progress: bool) -> None:
        began = time.monotonic()
        actions: dict[str, str] = {}
        for component in group:
            if component.pid() is None:
                component.start()
                actions[component.name] = "started"
            else:
                actions[component.name] = "running"
        waiting = list(group)
        timeout = self.settings.ready_timeout_seconds
        names = ", ".join(c.name for c in waiting)
        with contextlib.ExitStack() as stack:
            status = (
                stack.enter_context(self.console.status(f"waiting for {names}…", spinner="dots"))
                if progress
                else None
            )
            while waiting:
                for component in list(waiting):
                    if component.probe():
                        component.on_ready()
                        waiting.remove(component)
                        if progress:
                            self.console.print(
                                report.progress_line(
                                    component.name,
                                    actions[component.name],
                                    component.endpoint(),
                                    time.monotonic() - began,
                                )
                            )
                    elif component.pid() is None:
                        raise StackError(self._died_message(component))
                if not waiting:
                    break
                if time.monotonic() - began > timeout:
                    late = waiting[0]
                    raise StackError(
                        f"{late.name} did not become ready within {timeout:g}s; "
                        f"last log line: {last_log_line(late.log_path)}; see {late.log_path}"
                    )
                if status is not None:
                    status.update(f"waiting for {', '.join(c.name for c in waiting)}…")
                time.sleep(_POLL_SECONDS)

    @staticmethod
    def _died_message(component: Component) -> str:
        how = component.exit_status() or "stopped"
        return (
            f"{component.name} {how} while starting; last log line: "
            f"{last_log_line(component.log_path)}; see {component.log_path}"
        )

    # Down

    def down(self, progress: bool = True) -> None:
        """Stop every process of the stack, services first, and remove the pid files."""
        self.layout.run_dir.mkdir(parents=True, exist_ok=True)
        with self._lock(progress):
            for group in reversed(self.groups):
                with ThreadPoolExecutor(max_workers=len(group)) as pool:
                    pids = {c.name: c.pid() for c in group}
                    stopped = list(pool.map(lambda c: c.stop(c.grace_seconds), group))
                for component, was_running in zip(group, stopped, strict=True):
                    if progress and was_running:
                        self.console.print(
                            f"  [green]✓[/] stopped [bold]{component.name}[/] "
                            f"(pid {pids[component.name]})"
                        )
        if progress:
            self.console.print("[bold]Contrail's local stack is down.[/]")

    # Status

    def status(self) -> list[ComponentStatus]:
        """Each component's pid, state (healthy, running, stopped), endpoint and log."""

        def one(component: Component) -> ComponentStatus:
            pid = component.pid()
            healthy = pid is not None and component.healthy()
            return ComponentStatus(
                name=component.name,
                pid=pid,
                state=evaluate_state(pid, healthy),
                endpoint=component.endpoint(),
                log=component.log_path,
            )

        with ThreadPoolExecutor(max_workers=len(self.components)) as pool:
            return list(pool.map(one, self.components))

    def is_healthy(self) -> bool:
        """Whether every component runs and passes its health check."""
        if any(c.pid() is None for c in self.components):
            return False
        return all(row.state is State.HEALTHY for row in self.status())

    def running(self) -> list[tuple[str, int]]:
        """The processes of ours that run now, as (component, pid)."""
        found = [(c.name, c.pid()) for c in self.components]
        return [(name, pid) for name, pid in found if pid is not None]

"""Running one task attempt in a process of its own, forked from a warm interpreter.

``TaskRunner.run`` is what the worker calls for each dispatched attempt. The
attempt runs in a child process forked by the *zygote* of its code bundle: a
Python interpreter that has already imported the SDK, pydantic and (after the
first attempt proved it safe) the task's module, so a later attempt of a warm
bundle costs a fork, not a Python start. Zygotes are kept per bundle folder,
the ``max_warm_bundles`` most recently used of them.

An attempt's folder (``work_dir/attempts/<attempt>/``) holds ``stdout.log``,
``stderr.log``, ``result.json`` and ``work/``, the task's working directory.
The runner leaves the folder in place: the caller uploads the logs (and any
file outputs under ``work/``) and then removes ``stdout_path.parent``.

Limits: memory is enforced by the zygote, which samples the child's resident
set and kills its process group past ``limits.memory_bytes`` (and an attempt
whose peak, from ``wait4``'s rusage, exceeded the limit is reported OOMKilled
even if it ended between two samples). CPU is advisory: it is recorded with
the attempt, not enforced (no cgroups here). The timeout is the runner's.
See docs/worker.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import contrail
from services.launcher.worker.child import TRACEBACK_TAIL_LINES, RunRequest
from shared.events.catalogue import ErrorKind, ExecutionError, ResourceSpec, ResourceUsage
from shared.phases import TaskAttemptPhase
from shared.specs import TypedInterface

KILL_GRACE_SECONDS = 10.0
"""How long a zygote has to report a child it was told to kill before it is killed itself."""

ZYGOTE_EXIT_SECONDS = 5.0
"""How long a zygote has to exit once told to; then it gets SIGKILL."""

_LOG_TAIL_BYTES = 8192
_INLINE_RESULT_BYTES = 64 * 1024
_INLINE_INPUTS_BYTES = 64 * 1024


@dataclass(frozen=True)
class AttemptSpec:
    """One task attempt to run: where its code is, its input literals and its limits."""

    attempt_id: str
    """Unique among the runner's attempts, e.g. ``<execution key>/<node path>/<attempt>``."""
    bundle_dir: Path
    """The unpacked code bundle (see ``bundles.unpack_bundle``): the first ``sys.path`` entry."""
    module: str
    function: str
    """The task's ``__qualname__`` in ``module``: a ``@task`` or a plain annotated function."""
    inputs: dict[str, Any]
    """JSON literals by input name."""
    interface: TypedInterface
    """The registered interface; the outputs the code returns must have its output names."""
    limits: ResourceSpec
    """``memory_bytes`` is enforced; ``cpu`` is advisory (recorded, not enforced)."""
    timeout_seconds: float | None
    environment: dict[str, str]
    """Set in the attempt's process only, over the runner's base environment."""


@dataclass(frozen=True)
class AttemptResult:
    """How an attempt ended, what it returned and what it used."""

    phase: TaskAttemptPhase
    """SUCCEEDED, FAILED, TIMED_OUT or ABORTED."""
    outputs: dict[str, Any] | None
    """JSON literals by output name (``o0``, or a NamedTuple's fields); None unless SUCCEEDED."""
    error: ExecutionError | None
    usage: ResourceUsage
    stdout_path: Path
    stderr_path: Path


class AttemptAlreadyRunning(ValueError):
    """``run`` was called with the id of an attempt that this runner is running."""


class RunnerClosed(RuntimeError):
    """``run`` was called after ``close``."""


class _ZygoteLost(Exception):
    """The zygote serving an attempt died or could not be reached; the message says how."""


class _ForkFailed(Exception):
    """The zygote could not fork the attempt's process."""


@dataclass
class _Attempt:
    spec: AttemptSpec
    started: asyncio.Future[int]
    exited: asyncio.Future[dict[str, Any]]
    zygote: _Zygote | None = None
    abort_requested: bool = False
    child_pid: int | None = None


@dataclass
class _Paths:
    folder: Path
    cwd: Path
    stdout: Path
    stderr: Path
    result: Path
    inputs: Path


class _Zygote:
    """The runner's side of one zygote process: its socket, its attempts, its warm modules."""

    def __init__(
        self,
        key: str,
        bundle_dir: Path,
        process: subprocess.Popen[bytes],
        sock: socket.socket,
        log_path: Path,
        unwarmable: set[str],
        on_lost: Callable[[_Zygote], None],
    ) -> None:
        self.key = key
        self.bundle_dir = bundle_dir
        self.process = process
        self.log_path = log_path
        self.attempts: dict[str, _Attempt] = {}
        self.warm: set[str] = set()
        self.unwarmable = unwarmable
        self.alive = True
        self.retiring = False
        self.warming: asyncio.Future[None] | None = None
        """Set while the zygote imports a module: no attempt is sent to it until it is done."""
        self._sock = sock
        self._on_lost = on_lost
        self._write_lock = asyncio.Lock()
        self._idle = asyncio.Event()
        self._idle.set()
        self._reader = asyncio.get_running_loop().create_task(self._read_events())

    @property
    def pid(self) -> int:
        return self.process.pid

    def add(self, attempt: _Attempt) -> None:
        self.attempts[attempt.spec.attempt_id] = attempt
        self._idle.clear()

    def remove(self, attempt_id: str) -> None:
        self.attempts.pop(attempt_id, None)
        if not self.attempts:
            self._idle.set()

    async def send(self, message: Mapping[str, Any]) -> None:
        """Write one message; raises ``_ZygoteLost`` when the zygote is gone."""
        if not self.alive:
            raise _ZygoteLost(f"the zygote of {self.bundle_dir} (pid {self.pid}) is gone")
        # Shielded: a caller cancelled mid-write must not leave half a line behind.
        failure = await asyncio.shield(self._write(json.dumps(message).encode() + b"\n"))
        if failure is not None:
            raise _ZygoteLost(
                f"the zygote of {self.bundle_dir} (pid {self.pid}) is unreachable: {failure}"
            )

    async def _write(self, data: bytes) -> str | None:
        async with self._write_lock:
            try:
                await asyncio.get_running_loop().sock_sendall(self._sock, data)
            except OSError as error:
                return str(error)
        return None

    async def close(self, wait_idle: bool) -> None:
        """Stop the zygote: it kills what still runs, reports it and exits; SIGKILL if it hangs."""
        if wait_idle:
            await self._idle.wait()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)
        try:
            await asyncio.wait_for(_wait_process(self.process), ZYGOTE_EXIT_SECONDS)
        except TimeoutError:
            self.kill()
            await _wait_process(self.process)
        await self._reader

    def kill(self) -> None:
        """SIGKILL the zygote (its children die with it: they asked for PDEATHSIG)."""
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()

    async def _read_events(self) -> None:
        loop = asyncio.get_running_loop()
        buffer = b""
        try:
            while True:
                try:
                    data = await loop.sock_recv(self._sock, 1 << 16)
                except OSError:
                    data = b""
                if not data:
                    break
                buffer += data
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        self._dispatch(json.loads(line))
        finally:
            await self._lost()

    def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event.get("ev")
        if kind == "warmed":
            module = str(event["module"])
            if event.get("tainted"):
                self.unwarmable.add(module)
                self.retiring = True
            elif not event.get("ok"):
                self.unwarmable.add(module)
            self._end_warming()
            return
        attempt = self.attempts.get(str(event.get("id")))
        if attempt is None:
            return
        if kind == "started":
            attempt.child_pid = int(event["pid"])
            _settle(attempt.started, result=attempt.child_pid)
        elif kind == "failed":
            _settle(attempt.started, error=_ForkFailed(str(event.get("message", ""))))
        elif kind == "exited":
            _settle(attempt.exited, result=event)

    async def warm_up(self, module: str, environment: Mapping[str, str]) -> None:
        """Have the zygote import ``module``; attempts wait for it (see ``warming``)."""
        self.warm.add(module)
        self.warming = asyncio.get_running_loop().create_future()
        try:
            await self.send({"op": "warm", "module": module, "environment": dict(environment)})
        except _ZygoteLost:
            self._end_warming()

    def _end_warming(self) -> None:
        if self.warming is not None:
            _settle(self.warming)
            self.warming = None

    async def _lost(self) -> None:
        """The socket ended: the zygote exited (asked to, or not). Fail what it still ran."""
        self.alive = False
        self._end_warming()
        self._sock.close()
        try:
            code = await asyncio.wait_for(_wait_process(self.process), ZYGOTE_EXIT_SECONDS)
        except TimeoutError:
            self.kill()
            code = await _wait_process(self.process)
        self._on_lost(self)
        if not self.attempts:
            return
        how = f"signal {_signal_name(-code)}" if code < 0 else f"exit status {code}"
        tail = _tail(self.log_path)
        error = _ZygoteLost(
            f"the worker's interpreter for {self.bundle_dir} (pid {self.pid}) died ({how})"
            + (f"; its log ends with:\n{tail}" if tail else "")
        )
        for attempt in list(self.attempts.values()):
            if attempt.child_pid is not None and not attempt.exited.done():
                # Its leader died with the zygote (PDEATHSIG); this takes what it started.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(attempt.child_pid, signal.SIGKILL)
            _settle(attempt.started, error=error)
            _settle(attempt.exited, error=error)


class TaskRunner:
    """Runs task attempts in processes forked from warm interpreters, one per code bundle.

    Use one runner per worker; ``run`` may be called concurrently (the caller
    bounds the concurrency). ``close`` stops every interpreter and attempt.
    Linux only: it relies on ``/proc``, ``fork`` and ``prctl``.
    """

    def __init__(
        self,
        work_dir: Path,
        max_warm_bundles: int = 4,
        *,
        base_environment: Mapping[str, str] | None = None,
    ) -> None:
        """Keep attempts' folders under ``work_dir`` and up to ``max_warm_bundles`` zygotes.

        Args:
            work_dir: where attempt folders and zygote logs go (created if missing).
            max_warm_bundles: how many code bundles keep a warm interpreter;
                the least recently used idle one is stopped past that.
            base_environment: what every attempt's environment starts from;
                by default the worker's own, without its ``CONTRAIL_*`` settings.

        Raises:
            ValueError: ``max_warm_bundles`` is below 1.
        """
        if max_warm_bundles < 1:
            raise ValueError(f"max_warm_bundles must be at least 1, got {max_warm_bundles}")
        self._work_dir = Path(work_dir).resolve()
        self._max_warm = max_warm_bundles
        self._environment = _zygote_environment(base_environment)
        self._zygotes: OrderedDict[str, _Zygote] = OrderedDict()
        self._stopping: set[asyncio.Task[None]] = set()
        self._attempts: dict[str, _Attempt] = {}
        self._unwarmable: dict[str, set[str]] = {}
        self._closed = False

    async def run(
        self,
        spec: AttemptSpec,
        on_started: Callable[[], Awaitable[None]] | None = None,
    ) -> AttemptResult:
        """Run one attempt to its end and say how it ended; ``on_started`` once its process runs.

        User failures, limits, crashes and aborts are results, not exceptions.

        Raises:
            AttemptAlreadyRunning: an attempt with this id is running here.
            RunnerClosed: the runner was closed.
            Exception: whatever ``on_started`` raised (the attempt is killed first).
        """
        if self._closed:
            raise RunnerClosed("the task runner is closed")
        if spec.attempt_id in self._attempts:
            raise AttemptAlreadyRunning(f"attempt {spec.attempt_id!r} is already running here")
        loop = asyncio.get_running_loop()
        attempt = _Attempt(spec, loop.create_future(), loop.create_future())
        self._attempts[spec.attempt_id] = attempt
        try:
            paths = await self._prepare(spec.attempt_id)
            result = await self._run(attempt, paths, on_started)
            _ensure_logs(paths)
            return result
        finally:
            del self._attempts[spec.attempt_id]
            if attempt.zygote is not None:
                attempt.zygote.remove(spec.attempt_id)
            self._evict_idle()

    async def abort(self, attempt_id: str) -> bool:
        """Kill a running attempt; its ``run`` returns ABORTED. False if it is not running here."""
        attempt = self._attempts.get(attempt_id)
        if attempt is None or attempt.exited.done():
            return False
        attempt.abort_requested = True
        if attempt.zygote is not None:
            with contextlib.suppress(_ZygoteLost):
                await attempt.zygote.send({"op": "kill", "id": attempt_id, "reason": "abort"})
        return True

    async def close(self) -> None:
        """Stop every zygote and the attempts they run; returns when none of them is left.

        Attempts still running end FAILED with a SYSTEM ``WorkerShutdown`` error.
        """
        self._closed = True
        zygotes = list(self._zygotes.values())
        self._zygotes.clear()
        await asyncio.gather(
            *(z.close(wait_idle=False) for z in zygotes),
            *self._stopping,
            return_exceptions=True,
        )

    def attempt_folder(self, attempt_id: str) -> Path:
        """The folder of an attempt: its logs (``stdout.log``, ``stderr.log``) and ``work/``."""
        return self._work_dir / "attempts" / _folder_name(attempt_id)

    def warm_bundles(self) -> dict[Path, int]:
        """The bundle folders that have a live zygote, with its pid (most recently used last)."""
        return {z.bundle_dir: z.pid for z in self._zygotes.values() if z.alive}

    # --- one attempt ---------------------------------------------------------------

    async def _run(
        self,
        attempt: _Attempt,
        paths: _Paths,
        on_started: Callable[[], Awaitable[None]] | None,
    ) -> AttemptResult:
        spec = attempt.spec
        loop = asyncio.get_running_loop()
        begun = loop.time()
        inputs: dict[str, Any] | None = spec.inputs
        inputs_path: str | None = None
        encoded = json.dumps(spec.inputs)
        if len(encoded) > _INLINE_INPUTS_BYTES:  # the child parses them, not the zygote
            inputs, inputs_path = None, str(paths.inputs)
            await asyncio.to_thread(_write_text, paths.inputs, encoded)
        while True:
            if self._closed:
                return _ended(TaskAttemptPhase.FAILED, _shut_down(), paths, wall=0.0)
            zygote = self._zygote_for(spec.bundle_dir)
            if zygote.warming is None:
                break
            # It imports a module; it may turn out unfit to fork: then pick again.
            await asyncio.shield(zygote.warming)
        if attempt.abort_requested:
            return _ended(TaskAttemptPhase.ABORTED, _aborted(), paths, wall=0.0)
        attempt.zygote = zygote
        zygote.add(attempt)
        request: RunRequest = {
            "op": "run",
            "id": spec.attempt_id,
            "module": spec.module,
            "function": spec.function,
            "inputs": inputs,
            "inputs_path": inputs_path,
            "outputs": list(spec.interface.outputs),
            "environment": dict(spec.environment),
            "cwd": str(paths.cwd),
            "stdout": str(paths.stdout),
            "stderr": str(paths.stderr),
            "result": str(paths.result),
            "memory_limit": spec.limits.memory_bytes,
        }
        try:
            await zygote.send(request)
            await asyncio.shield(attempt.started)
        except _ZygoteLost as lost:
            return self._lost_result(lost, paths, loop.time() - begun)
        except _ForkFailed as failed:
            error = ExecutionError(kind=ErrorKind.SYSTEM, code="ForkFailed", message=str(failed))
            return _ended(TaskAttemptPhase.FAILED, error, paths, wall=loop.time() - begun)
        except asyncio.CancelledError:
            await self._kill_and_wait(attempt, "abort")
            raise
        started = loop.time()

        reason: str | None = None
        try:
            if on_started is not None:
                await on_started()
            try:
                event = await asyncio.wait_for(asyncio.shield(attempt.exited), spec.timeout_seconds)
            except TimeoutError:
                reason = "timeout"
                event = await self._kill_and_wait(attempt, reason)
        except _ZygoteLost as lost:
            if reason is None:
                return self._lost_result(lost, paths, loop.time() - started)
            event = {"killed": reason, "signal": signal.SIGKILL}
        except BaseException:
            await self._kill_and_wait(attempt, "abort")
            raise
        wall = loop.time() - started

        result = await self._result(spec, event, paths, wall)
        if event.get("killed") is None:
            await self._maybe_warm(zygote, spec, result)
        return result[0]

    async def _kill_and_wait(self, attempt: _Attempt, reason: str) -> dict[str, Any]:
        """Have the zygote kill the attempt and report it; kill the zygote if it can't."""
        zygote = attempt.zygote
        if zygote is None:
            return {"killed": reason, "signal": signal.SIGKILL}
        if not attempt.exited.done():
            with contextlib.suppress(_ZygoteLost):
                await zygote.send({"op": "kill", "id": attempt.spec.attempt_id, "reason": reason})
        try:
            return await asyncio.wait_for(asyncio.shield(attempt.exited), KILL_GRACE_SECONDS)
        except TimeoutError:
            zygote.kill()
        with contextlib.suppress(_ZygoteLost):
            return await asyncio.shield(attempt.exited)
        return {"killed": reason, "signal": signal.SIGKILL}

    async def _result(
        self,
        spec: AttemptSpec,
        event: Mapping[str, Any],
        paths: _Paths,
        wall: float,
    ) -> tuple[AttemptResult, dict[str, Any] | None]:
        """The attempt's result, and the child's result file when it wrote one."""
        peak = max(int(event.get("maxrss_bytes", 0)), int(event.get("peak_bytes", 0)))
        usage = ResourceUsage(
            cpu_seconds=max(0.0, float(event.get("cpu_seconds", 0.0))),
            peak_memory_bytes=peak,
            wall_seconds=max(0.0, wall),
        )

        def ended(phase: TaskAttemptPhase, error: ExecutionError | None) -> AttemptResult:
            return AttemptResult(phase, None, error, usage, paths.stdout, paths.stderr)

        killed = event.get("killed")
        by_signal = event.get("signal")
        limit = spec.limits.memory_bytes
        if killed == "oom" or (killed is None and limit is not None and peak > limit):
            return ended(TaskAttemptPhase.FAILED, _oom(limit or 0, peak)), None
        if by_signal is not None and killed is not None:
            if killed == "timeout":
                return ended(TaskAttemptPhase.TIMED_OUT, _timed_out(spec.timeout_seconds)), None
            if killed == "abort":
                return ended(TaskAttemptPhase.ABORTED, _aborted()), None
            return ended(TaskAttemptPhase.FAILED, _shut_down()), None
        if by_signal is not None:
            name = _signal_name(int(by_signal))
            error = ExecutionError(
                kind=ErrorKind.SYSTEM,
                code="ChildCrashed",
                message=f"the task's process died from signal {name} ({by_signal})",
                traceback_tail=_tail(paths.stderr) or None,
            )
            return ended(TaskAttemptPhase.FAILED, error), None

        written = await _read_result(paths.result)
        if written is None:
            error = ExecutionError(
                kind=ErrorKind.USER,
                code="ProcessExited",
                message=(
                    f"the task's process exited with status {event.get('exit_code')} "
                    "without a result (an os._exit() in the task? see its stderr)"
                ),
                traceback_tail=_tail(paths.stderr) or None,
            )
            return ended(TaskAttemptPhase.FAILED, error), None
        if "error" in written:
            failure = written["error"]
            error = ExecutionError(
                kind=ErrorKind.USER,
                code=str(failure["code"]),
                message=str(failure["message"]),
                traceback_tail=failure.get("traceback_tail"),
            )
            return ended(TaskAttemptPhase.FAILED, error), written
        outputs = dict(written["outputs"])
        result = AttemptResult(
            TaskAttemptPhase.SUCCEEDED, outputs, None, usage, paths.stdout, paths.stderr
        )
        return result, written

    async def _maybe_warm(
        self,
        zygote: _Zygote,
        spec: AttemptSpec,
        result: tuple[AttemptResult, dict[str, Any] | None],
    ) -> None:
        """Have the zygote import the task's module once a child imported it safely."""
        written = result[1]
        if not written or not written.get("warm_candidate"):
            return
        module = spec.module
        if module in zygote.warm or module in zygote.unwarmable:
            return
        if not zygote.alive or zygote.retiring:
            return
        await zygote.warm_up(module, spec.environment)

    def _lost_result(self, lost: _ZygoteLost, paths: _Paths, wall: float) -> AttemptResult:
        if self._closed:
            error = _shut_down()
        else:
            message, _, tail = str(lost).partition("; its log ends with:\n")
            error = ExecutionError(
                kind=ErrorKind.SYSTEM,
                code="WorkerCrashed",
                message=message,
                traceback_tail=tail or None,
            )
        return _ended(TaskAttemptPhase.FAILED, error, paths, wall=wall)

    async def _prepare(self, attempt_id: str) -> _Paths:
        folder = self.attempt_folder(attempt_id)
        paths = _Paths(
            folder=folder,
            cwd=folder / "work",
            stdout=folder / "stdout.log",
            stderr=folder / "stderr.log",
            result=folder / "result.json",
            inputs=folder / "inputs.json",
        )
        if _exists(folder):  # a redelivered attempt: start clean
            await asyncio.to_thread(shutil.rmtree, folder)
        # The child creates the folder and the log files: off this event loop.
        return paths

    # --- zygotes ---------------------------------------------------------------

    def _zygote_for(self, bundle_dir: Path) -> _Zygote:
        key = str(Path(bundle_dir).resolve())
        zygote = self._zygotes.get(key)
        if zygote is not None and zygote.alive and not zygote.retiring:
            self._zygotes.move_to_end(key)
            return zygote
        if zygote is not None:
            del self._zygotes[key]
            self._stop(zygote, wait_idle=True)
        zygote = self._spawn(key, Path(key))
        self._zygotes[key] = zygote
        self._evict_idle()
        return zygote

    def _spawn(self, key: str, bundle_dir: Path) -> _Zygote:
        folder = self._work_dir / "zygotes"
        folder.mkdir(parents=True, exist_ok=True)
        log_path = folder / f"{_folder_name(key)}.log"
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with open(log_path, "ab") as log:
                process = subprocess.Popen(
                    [
                        sys.executable,
                        "-P",
                        "-m",
                        "services.launcher.worker.zygote",
                        "--control-fd",
                        str(theirs.fileno()),
                        "--parent-pid",
                        str(os.getpid()),
                        "--bundle",
                        str(bundle_dir),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    pass_fds=(theirs.fileno(),),
                    cwd=folder,
                    env=self._environment,
                    start_new_session=True,
                )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)
        unwarmable = self._unwarmable.setdefault(key, set())
        return _Zygote(key, bundle_dir, process, ours, log_path, unwarmable, self._forget)

    def _forget(self, zygote: _Zygote) -> None:
        if self._zygotes.get(zygote.key) is zygote:
            del self._zygotes[zygote.key]

    def _evict_idle(self) -> None:
        for key, zygote in list(self._zygotes.items()):
            if zygote.retiring and not zygote.attempts:
                del self._zygotes[key]
                self._stop(zygote, wait_idle=True)
        while len(self._zygotes) > self._max_warm:
            idle = next((z for z in self._zygotes.values() if not z.attempts), None)
            if idle is None:
                return  # every one is busy; evicted when one is idle
            del self._zygotes[idle.key]
            self._stop(idle, wait_idle=True)

    def _stop(self, zygote: _Zygote, wait_idle: bool) -> None:
        zygote.retiring = True
        task = asyncio.get_running_loop().create_task(zygote.close(wait_idle))
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)


# --- helpers of this module ------------------------------------------------------------


def _settle(
    future: asyncio.Future[Any], result: Any = None, error: BaseException | None = None
) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
        future.exception()  # marks it retrieved: nobody may await a future that lost its race
    else:
        future.set_result(result)


async def _wait_process(process: subprocess.Popen[bytes]) -> int:
    """Wait for a child process to exit without a thread, through a pidfd; its exit code."""
    if process.poll() is not None:
        return process.returncode
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):
        return await asyncio.to_thread(process.wait)
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[None] = loop.create_future()
    loop.add_reader(pidfd, _settle, exited)
    try:
        await exited
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
    return process.wait()


def _zygote_environment(base: Mapping[str, str] | None) -> dict[str, str]:
    if base is None:
        base = {k: v for k, v in os.environ.items() if not k.startswith("CONTRAIL_")}
    environment = dict(base)
    # The zygote imports this package and the SDK from where the worker has them.
    roots = [str(Path(__file__).resolve().parents[3]), str(Path(contrail.__file__).parents[1])]
    existing = [p for p in environment.get("PYTHONPATH", "").split(os.pathsep) if p]
    environment["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([*roots, *existing]))
    return environment


def _folder_name(name: str) -> str:
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[-80:] or "attempt"
    return f"{readable}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _exists(path: Path) -> bool:
    return os.path.lexists(path)


def _ensure_logs(paths: _Paths) -> None:
    """Empty log files for an attempt whose process never opened them: the caller uploads both."""
    if paths.stdout.exists() and paths.stderr.exists():
        return
    paths.folder.mkdir(parents=True, exist_ok=True)
    paths.stdout.touch()
    paths.stderr.touch()


async def _read_result(path: Path) -> dict[str, Any] | None:
    """The child's result file; a large one is parsed off the event loop."""
    try:
        size = os.stat(path).st_size
    except OSError:
        return None
    if size <= _INLINE_RESULT_BYTES:
        return _read_json(path)
    return await asyncio.to_thread(_read_json, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _tail(path: Path, lines: int = TRACEBACK_TAIL_LINES) -> str:
    """The last lines of a log file (at most a few KiB of it)."""
    try:
        with open(path, "rb") as file:
            file.seek(0, os.SEEK_END)
            size = file.tell()
            file.seek(max(0, size - _LOG_TAIL_BYTES))
            text = file.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def _oom(limit: int, peak: int) -> ExecutionError:
    return ExecutionError(
        kind=ErrorKind.USER,
        code="OOMKilled",
        message=(
            f"the task's memory reached {_mib(peak)} ({peak} bytes), over its limit of "
            f"{_mib(limit)} ({limit} bytes); it was killed"
        ),
    )


def _timed_out(timeout: float | None) -> ExecutionError:
    return ExecutionError(
        kind=ErrorKind.USER,
        code="Timeout",
        message=f"the task ran longer than its timeout of {timeout or 0:g} s; it was killed",
    )


def _shut_down() -> ExecutionError:
    return ExecutionError(
        kind=ErrorKind.SYSTEM,
        code="WorkerShutdown",
        message="the worker shut down while the attempt ran",
    )


def _aborted() -> ExecutionError:
    return ExecutionError(kind=ErrorKind.USER, code="Aborted", message="the attempt was aborted")


def _ended(
    phase: TaskAttemptPhase, error: ExecutionError, paths: _Paths, *, wall: float
) -> AttemptResult:
    usage = ResourceUsage(cpu_seconds=0.0, peak_memory_bytes=0, wall_seconds=max(0.0, wall))
    return AttemptResult(phase, None, error, usage, paths.stdout, paths.stderr)


__all__ = [
    "AttemptAlreadyRunning",
    "AttemptResult",
    "AttemptSpec",
    "RunnerClosed",
    "TaskRunner",
]

"""A warm interpreter for one code bundle, forking one process per task attempt.

The runner starts a zygote per code bundle (``python -P -m
services.launcher.worker.zygote --control-fd N --parent-pid P --bundle DIR``).
It imports the SDK and pydantic once, puts the bundle first on ``sys.path``,
freezes the garbage collector's view of what it has loaded (so children share
those pages instead of copying them) and then serves the runner over one Unix
socket, a JSON object per line:

runner → zygote
    ``{"op": "run", ...}`` (``child.RunRequest``): fork a child for an attempt
    (its inputs inline, or in a file the child reads when they are large).
    ``{"op": "kill", "id": ..., "reason": "timeout" | "abort"}``: kill its process group.
    ``{"op": "warm", "module": ..., "environment": {...}}``: import a task module here,
    so that later children start with it loaded (sent once a child proved it
    imports cleanly and starts no thread).
    End of stream: kill every child (reason ``shutdown``), report them, exit.

zygote → runner
    ``{"ev": "ready", "pid": ...}`` once warm.
    ``{"ev": "started", "id": ..., "pid": ...}`` right after the fork.
    ``{"ev": "failed", "id": ..., "message": ...}`` when it could not fork.
    ``{"ev": "exited", "id": ..., "pid": ..., "exit_code": int | null,
    "signal": int | null, "cpu_seconds": ..., "maxrss_bytes": ...,
    "peak_bytes": ..., "killed": null | "oom" | "timeout" | "abort" | "shutdown"}``
    once the child is reaped (``os.wait4``: its rusage gives the CPU time).
    ``{"ev": "warmed", "module": ..., "ok": bool, "tainted": bool, "message": ...}``.

Memory limits are enforced here: every ``MEMORY_SAMPLE_SECONDS`` the zygote
reads each child's peak resident set (``VmHWM`` in ``/proc/<pid>/status``) and
the resident sets of its descendants; past the limit it kills the child's
process group and reports ``killed: "oom"`` with the peak it saw. Children are
watched with pidfds, so an exit is noticed at once, not at the next sample.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import os
import selectors
import signal
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any, cast

from services.launcher.worker.child import RunRequest, die_with_parent, run_attempt, thread_count

MEMORY_SAMPLE_SECONDS = 0.01
"""How often a running child's memory is read: the bound on how late an excess is seen."""

PRELOADED_MODULES = ("pydantic", "contrail", "contrail.task", "contrail.types")
"""What every zygote imports before it serves: what every task module imports anyway."""

_RECV_BYTES = 1 << 16


@dataclass
class _Child:
    attempt_id: str
    pid: int
    pidfd: int | None
    memory_limit: int | None
    peak_bytes: int = 0
    killed: str | None = None


class Zygote:
    """The serving loop: one selector over the control socket and the children's pidfds."""

    def __init__(self, control: socket.socket) -> None:
        self._control = control
        self._selector = selectors.DefaultSelector()
        self._children: dict[str, _Child] = {}
        self._buffer = bytearray()
        self._closing = False
        self._runner_gone = False
        self._tainted = ""

    def serve(self) -> None:
        """Serve until the runner closes the socket and every child is reaped."""
        self._selector.register(self._control, selectors.EVENT_READ, None)
        self._send({"ev": "ready", "pid": os.getpid()})
        next_sample = time.monotonic()
        while not (self._closing and not self._children):
            timeout = None
            if self._children:
                timeout = max(0.0, next_sample - time.monotonic())
            for key, _ in self._selector.select(timeout):
                if key.data is None:
                    self._read_control()
                else:
                    self._reap(cast(_Child, key.data))
            if self._children and time.monotonic() >= next_sample:
                self._poll_without_pidfd()
                self._sample_memory()
                next_sample = time.monotonic() + MEMORY_SAMPLE_SECONDS

    # --- control ---------------------------------------------------------------

    def _read_control(self) -> None:
        try:
            data = self._control.recv(_RECV_BYTES)
        except OSError:
            data = b""
        if not data:
            self._shut_down()
            return
        # Inputs can be large: append, and look for a line's end only in what is new.
        searched = len(self._buffer)
        self._buffer += data
        while (end := self._buffer.find(b"\n", searched)) >= 0:
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            searched = 0
            if line.strip():
                self._handle(json.loads(line))

    def _handle(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == "run":
            self._start(cast(RunRequest, message))
        elif op == "kill":
            child = self._children.get(str(message["id"]))
            if child is not None:
                self._kill(child, str(message.get("reason", "abort")))
        elif op == "warm":
            self._warm(str(message["module"]), dict(message.get("environment", {})))
        else:
            print(f"zygote: unknown message {message!r}", file=sys.stderr, flush=True)

    def _shut_down(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._selector.unregister(self._control)
        for child in self._children.values():
            self._kill(child, "shutdown")

    def _send(self, message: dict[str, Any]) -> None:
        if self._runner_gone:
            return
        try:
            self._control.sendall(json.dumps(message).encode() + b"\n")
        except OSError:
            self._runner_gone = True
            self._shut_down()

    # --- children --------------------------------------------------------------

    def _start(self, request: RunRequest) -> None:
        attempt_id = request["id"]
        if self._tainted:  # forking beside a thread could copy a lock it holds
            self._send({"ev": "failed", "id": attempt_id, "message": self._tainted})
            return
        sys.stdout.flush()
        sys.stderr.flush()
        zygote_pid = os.getpid()
        try:
            pid = os.fork()
        except OSError as error:
            self._send({"ev": "failed", "id": attempt_id, "message": f"fork failed: {error}"})
            return
        if pid == 0:
            try:
                self._forget_in_child()
                run_attempt(request, zygote_pid)
            finally:
                os._exit(70)  # never back into the zygote's loop
        try:
            pidfd: int | None = os.pidfd_open(pid)
        except (AttributeError, OSError):
            pidfd = None  # an old kernel: reaped by polling at each sample instead
        child = _Child(attempt_id, pid, pidfd, request.get("memory_limit"))
        self._children[attempt_id] = child
        if pidfd is not None:
            self._selector.register(pidfd, selectors.EVENT_READ, child)
        self._send({"ev": "started", "id": attempt_id, "pid": pid})

    def _forget_in_child(self) -> None:
        """In a new child: close what belongs to the zygote, so the task can't touch it."""
        for child in self._children.values():
            if child.pidfd is not None:
                os.close(child.pidfd)
        self._selector.close()
        self._control.close()

    def _kill(self, child: _Child, reason: str) -> None:
        if child.killed is None:
            child.killed = reason
        # The group, for what the task started; the pid too, in case the child
        # has not reached setsid() yet. It is not reaped, so the pid is still ours.
        for kill in (os.killpg, os.kill):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                kill(child.pid, signal.SIGKILL)

    def _reap(self, child: _Child) -> None:
        try:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if child.pidfd is not None:
            self._selector.unregister(child.pidfd)
            os.close(child.pidfd)
        del self._children[child.attempt_id]
        # What the task left running in its process group goes with it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        code = os.waitstatus_to_exitcode(status)
        self._send(
            {
                "ev": "exited",
                "id": child.attempt_id,
                "pid": child.pid,
                "exit_code": code if code >= 0 else None,
                "signal": -code if code < 0 else None,
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
                "maxrss_bytes": usage.ru_maxrss * 1024,
                "peak_bytes": child.peak_bytes,
                "killed": child.killed,
            }
        )

    def _poll_without_pidfd(self) -> None:
        for child in [c for c in self._children.values() if c.pidfd is None]:
            self._reap(child)

    def _sample_memory(self) -> None:
        for child in list(self._children.values()):
            if child.killed is not None:
                continue
            used = tree_memory_bytes(child.pid)
            if used is None:
                continue
            child.peak_bytes = max(child.peak_bytes, used)
            if child.memory_limit is not None and used > child.memory_limit:
                self._kill(child, "oom")

    # --- warm imports ----------------------------------------------------------

    def _warm(self, module: str, environment: dict[str, str]) -> None:
        ok, message = True, ""
        if module not in sys.modules:
            saved = dict(os.environ)
            os.environ.update(environment)
            try:
                importlib.import_module(module)
            except BaseException as error:
                ok, message = False, f"{type(error).__name__}: {error}"
            finally:
                os.environ.clear()
                os.environ.update(saved)
            gc.freeze()
        tainted = thread_count() > 1
        if tainted:
            message = f"importing {module} started a thread; this zygote must not fork again"
            self._tainted = message
        self._send(
            {
                "ev": "warmed",
                "module": module,
                "ok": ok and not tainted,
                "tainted": tainted,
                "message": message,
            }
        )


def tree_memory_bytes(pid: int) -> int | None:
    """Memory of a process and its descendants: the larger of its own peak and their sum now.

    ``None`` when the process is gone (or is a zombie) or ``/proc`` is not there.
    """
    own = _status_kib(pid, (b"VmHWM:", b"VmRSS:"))
    if own is None or len(own) < 2:
        return None
    peak, resident = own
    for descendant in _descendants(pid):
        theirs = _status_kib(descendant, (b"VmRSS:",))
        if theirs:
            resident += theirs[0]
    return max(peak, resident) * 1024


def _status_kib(pid: int, fields: tuple[bytes, ...]) -> list[int] | None:
    try:
        with open(f"/proc/{pid}/status", "rb") as file:
            text = file.read()
    except OSError:
        return None
    values: list[int] = []
    for field in fields:
        start = text.find(field)
        if start < 0:
            continue
        end = text.find(b"\n", start)
        values.append(int(text[start + len(field) : end].split()[0]))
    return values


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    frontier = [pid]
    while frontier and len(found) < 10_000:
        parent = frontier.pop()
        try:
            threads = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for tid in threads:
            try:
                with open(f"/proc/{parent}/task/{tid}/children", "rb") as file:
                    kids = [int(k) for k in file.read().split()]
            except OSError:
                continue
            found.extend(kids)
            frontier.extend(kids)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.launcher.worker.zygote")
    parser.add_argument("--control-fd", type=int, required=True)
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--bundle", required=True)
    args = parser.parse_args(argv)

    die_with_parent(signal.SIGKILL)
    if os.getppid() != args.parent_pid:  # the runner died before prctl took effect
        return 1
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner decides when we stop
    control = socket.socket(fileno=args.control_fd)
    control.setblocking(True)

    for module in PRELOADED_MODULES:
        importlib.import_module(module)
    sys.path.insert(0, os.path.abspath(args.bundle))
    importlib.invalidate_caches()
    gc.freeze()

    Zygote(control).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What runs inside a task attempt's own process, forked from a zygote.

``run_attempt`` turns the freshly forked process into the attempt: a session
and process group of its own (so the whole group can be killed), death with
its zygote, stdout and stderr into the attempt's files, the attempt's
environment and working folder. It then imports the task, reads the input
literals with the function's annotations, calls it, writes the outputs (or
the error) to the result file and leaves with ``os._exit`` — it never returns
into the zygote's code.

The result file is JSON, written once the task is done (the runner reads it
only after the process exited normally; a partial file reads as no result)::

    {"outputs": {"o0": 3}, "warm_candidate": true}
    {"error": {"code": "UserError", "message": "...", "traceback_tail": "..."},
     "warm_candidate": false}

``warm_candidate`` says that this process imported the task's module itself
and was still single-threaded afterwards, so the zygote may import the module
too and fork later attempts with it already loaded.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import importlib
import inspect
import io
import json
import logging
import os
import resource
import signal
import sys
import traceback
from collections.abc import Callable, Mapping
from typing import Any, NoReturn, TypedDict

TRACEBACK_TAIL_LINES = 20
"""How many of the last lines of a traceback go into an attempt's error."""

_PR_SET_PDEATHSIG = 1
_EXIT_RESULT_WRITTEN = 0
_EXIT_NO_RESULT = 70  # EX_SOFTWARE: this module failed before it could write a result


class RunRequest(TypedDict):
    """The ``run`` message a zygote receives for one attempt (see ``zygote``)."""

    op: str
    id: str
    module: str
    function: str
    inputs: dict[str, Any] | None
    inputs_path: str | None
    """Large inputs come in a file instead, parsed here rather than in the zygote."""
    outputs: list[str]
    environment: dict[str, str]
    cwd: str
    stdout: str
    stderr: str
    result: str
    memory_limit: int | None


class _Failure(Exception):
    """An attempt that ends with a USER error of ``code``."""

    def __init__(self, code: str, message: str, traceback_tail: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.traceback_tail = traceback_tail


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent thread ends.

    Linux only (``prctl(PR_SET_PDEATHSIG)``); elsewhere it does nothing, and
    processes are cleaned up by their parent's shutdown alone.
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")


def thread_count() -> int:
    """Threads of this process, native ones included (a module may start them in C)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        import threading

        return threading.active_count()


def run_attempt(request: RunRequest, zygote_pid: int) -> NoReturn:
    """Become the attempt described by ``request``, run it, write its result, exit.

    Called in the child right after ``os.fork()`` in the zygote, once the
    zygote's own descriptors are closed.
    """
    code = _EXIT_NO_RESULT
    try:
        _become_attempt(request, zygote_pid)
        result = _execute(request)
        _write_result(request["result"], result)
        code = _EXIT_RESULT_WRITTEN
    except BaseException:
        # Our own fault, not the task's: say what on stderr (the attempt's file
        # by now, most likely); no result file tells the runner the rest.
        with contextlib.suppress(BaseException):
            traceback.print_exc()
    finally:
        _flush_everything()
        os._exit(code)


def _become_attempt(request: RunRequest, zygote_pid: int) -> None:
    os.setsid()
    die_with_parent(signal.SIGKILL)
    if os.getppid() != zygote_pid:  # the zygote died before prctl took effect
        os._exit(_EXIT_NO_RESULT)
    for sig in (signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    os.makedirs(request["cwd"], exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        opened = os.open(path, flags, 0o644)
        os.dup2(opened, fd)
        os.close(opened)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    for stream in (sys.stdout, sys.stderr):
        # Nothing was written through them in this process yet, so they can be
        # reconfigured; line buffering lets a follower see prints as they come.
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(encoding="utf-8", errors="backslashreplace", line_buffering=True)
    faulthandler.enable(file=sys.stderr, all_threads=True)

    os.environ.update(request["environment"])
    os.chdir(request["cwd"])


def _execute(request: RunRequest) -> dict[str, Any]:
    warm_candidate = False
    try:
        already_loaded = request["module"] in sys.modules
        fn, interface, owner = _load_task(request["module"], request["function"])
        warm_candidate = not already_loaded and thread_count() == 1
        values = _read_inputs(interface, owner, _input_literals(request))
        try:
            returned = fn(**values)
        except BaseException as error:
            raise _Failure(
                "UserError",
                f"{owner}: {_exception_name(error)}: {error}",
                _logged_traceback_tail(error, skip=1),
            ) from None
        outputs = _write_outputs(interface, owner, returned, request["outputs"])
    except _Failure as failure:
        return {
            "error": {
                "code": failure.code,
                "message": failure.message,
                "traceback_tail": failure.traceback_tail,
            },
            "warm_candidate": warm_candidate,
        }
    return {"outputs": outputs, "warm_candidate": warm_candidate}


def _load_task(module_name: str, function: str) -> tuple[Callable[..., Any], Any, str]:
    """The function, its ``contrail.task.Interface`` and its name for messages."""
    from contrail.task import DefinitionError, Task, interface_of

    owner = f"{module_name}.{function}"
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is None or not _is_package_of(error.name, module_name):
            raise _Failure(
                "TaskLoadError",
                f"cannot import module {module_name!r}: {_exception_name(error)}: {error}",
                _logged_traceback_tail(error, skip=1),
            ) from None
        _logged_traceback_tail(error, skip=1)
        raise _Failure(
            "TaskLoadError",
            f"the worker has no copy of the task's code: module {module_name!r} is neither "
            "in a code bundle nor in the worker's image (registered with --copy none?); "
            "register with --copy auto (the default), or with --image naming an image "
            "that holds it",
        ) from None
    except BaseException as error:
        raise _Failure(
            "TaskLoadError",
            f"cannot import module {module_name!r}: {_exception_name(error)}: {error}",
            _logged_traceback_tail(error, skip=1),
        ) from None
    for part in function.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise _Failure(
                "TaskLoadError", f"module {module_name!r} has no task {function!r}"
            ) from None
    if isinstance(target, Task):
        return target.function, target.interface, owner
    if inspect.isfunction(target):
        try:
            return target, interface_of(target, "task"), owner
        except DefinitionError as error:
            raise _Failure("TaskLoadError", str(error)) from None
    raise _Failure(
        "TaskLoadError",
        f"{owner} is a {type(target).__name__}, not a @task or a function",
    )


def _input_literals(request: RunRequest) -> dict[str, Any]:
    path = request.get("inputs_path")
    if path is None:
        return request["inputs"] or {}
    with open(path, encoding="utf-8") as file:
        literals: dict[str, Any] = json.load(file)
    return literals


def _read_inputs(interface: Any, owner: str, literals: Mapping[str, Any]) -> dict[str, Any]:
    from contrail.task import InputError

    try:
        values: dict[str, Any] = interface.literals_to_inputs(owner, literals)
    except InputError as error:
        raise _Failure("InputError", str(error)) from None
    return values


def _write_outputs(
    interface: Any, owner: str, returned: object, registered: list[str]
) -> dict[str, Any]:
    from contrail.task import OutputError

    try:
        outputs: dict[str, Any] = interface.outputs_to_literals(owner, returned)
    except OutputError as error:
        raise _Failure("OutputError", str(error)) from None
    if sorted(outputs) != sorted(registered):
        raise _Failure(
            "OutputError",
            f"{owner}: the code's outputs ({', '.join(outputs) or 'none'}) differ from the "
            f"registered interface's ({', '.join(registered) or 'none'}); register the "
            "task again with this code",
        )
    return outputs


def _write_result(path: str, result: Mapping[str, Any]) -> None:
    """Write the result in one go; no rename needed: the runner reads it after a clean exit."""
    try:
        text = json.dumps(result)
    except (TypeError, ValueError) as error:  # the type engine's literals are JSON: a bug
        text = json.dumps(
            {"error": {"code": "OutputError", "message": f"outputs are not JSON: {error}"}}
        )
    with open(path, "w", encoding="utf-8") as file:
        file.write(text)


def _flush_everything() -> None:
    with contextlib.suppress(BaseException):
        logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()


def _exception_name(error: BaseException) -> str:
    cls = type(error)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _is_package_of(name: str, module_name: str) -> bool:
    """Whether module ``name`` is ``module_name`` or one of its packages."""
    return module_name == name or module_name.startswith(f"{name}.")


def _logged_traceback_tail(error: BaseException, skip: int) -> str:
    """The last lines of ``error``'s traceback, without this module's ``skip`` frames.

    The whole traceback goes to stderr, the attempt's stderr log, as a user
    reads it with ``contrail logs NAME --node N --stderr``.
    """
    tb = error.__traceback__
    for _ in range(skip):
        if tb is not None:
            tb = tb.tb_next
    text = "".join(traceback.format_exception(type(error), error, tb))
    sys.stderr.write(text)
    sys.stderr.flush()
    lines = text.splitlines()
    return "\n".join(lines[-TRACEBACK_TAIL_LINES:])

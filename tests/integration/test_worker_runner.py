"""The attempt runner on real processes: zygotes, forks, limits, crashes; no stack needed.

Each test writes a small code bundle into its own folder and runs its tasks
through ``TaskRunner``. Assertions are on behaviour; timings are printed.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import signal
import tarfile
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest

from services.launcher.worker.bundles import BundleError, unpack_bundle
from services.launcher.worker.runner import (
    AttemptAlreadyRunning,
    AttemptResult,
    AttemptSpec,
    RunnerClosed,
    TaskRunner,
)
from shared.events.catalogue import ErrorKind, ResourceSpec
from shared.literals import INT
from shared.phases import TaskAttemptPhase
from shared.specs import TypedInterface, Variable
from tests.eventually import eventually_async

MIB = 1 << 20

TASKS = """
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from contrail import task

IMPORTED_IN = os.getpid()
log = logging.getLogger(__name__)


@task
def add(a: int, b: int) -> int:
    print(f"adding {a} and {b}")
    log.warning("added %s and %s", a, b)
    return a + b


class Stats(NamedTuple):
    total: int
    mean: float


@task
def stats(xs: list[int]) -> Stats:
    return Stats(total=sum(xs), mean=sum(xs) / len(xs))


@dataclass
class Point:
    x: float
    y: float


@task
def shift(p: Point, dx: float) -> Point:
    return Point(x=p.x + dx, y=p.y)


def _deeper(x: int, depth: int) -> int:
    if depth == 0:
        raise ValueError(f"bad input {x}")
    return _deeper(x, depth - 1)


@task
def boom(x: int) -> int:
    return _deeper(x, 30)


@task
def wrong_output() -> int:
    return "not a number"


@task
def nothing() -> None:
    pass


@task
def allocate(mib: int) -> int:
    block = b"x" * (mib << 20)
    time.sleep(0.3)
    return len(block)


@task
def sleep_for(seconds: float) -> None:
    time.sleep(seconds)


@task
def segfault() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


@task
def exit_hard(code: int) -> None:
    os._exit(code)


@task
def whoami() -> dict[str, int]:
    return {"pid": os.getpid(), "ppid": os.getppid(), "imported_in": IMPORTED_IN}


class Place(NamedTuple):
    value: str
    cwd: str


@task
def read_environment(name: str) -> Place:
    Path("scratch.txt").write_text("mine")
    return Place(value=os.environ.get(name, ""), cwd=os.getcwd())


@task
def rendezvous(folder: str, me: int, count: int) -> int:
    Path(folder, str(me)).touch()
    deadline = time.monotonic() + 30
    while len(os.listdir(folder)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError("the other attempts never ran at the same time")
        time.sleep(0.01)
    return os.getpid()


@task
def spawn_sleeper() -> int:
    return subprocess.Popen(["sleep", "300"]).pid


@task
def report_and_sleep(marker: str, seconds: float) -> None:
    Path(marker).write_text(f"{os.getpid()} {os.getppid()}")
    time.sleep(seconds)
"""

MODULE = "runner_tasks.tasks"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


THREADED = """
import os
import threading

from contrail import task

IMPORTED_IN = os.getpid()
threading.Thread(target=threading.Event().wait, daemon=True).start()


@task
def imported_in() -> int:
    return IMPORTED_IN
"""


# Starts a thread only where the working folder is not an attempt's: in the zygote.
THREADED_IN_ZYGOTE = """
import os
import threading

from contrail import task

IMPORTED_IN = os.getpid()
if os.path.basename(os.getcwd()) != "work":
    threading.Thread(target=threading.Event().wait, daemon=True).start()


@task
def where() -> dict[str, int]:
    return {"imported_in": IMPORTED_IN, "pid": os.getpid(), "ppid": os.getppid()}
"""


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    folder = tmp_path / "bundle"
    (folder / "runner_tasks").mkdir(parents=True)
    (folder / "runner_tasks" / "__init__.py").write_text("")
    (folder / "runner_tasks" / "tasks.py").write_text(TASKS)
    (folder / "runner_tasks" / "threaded.py").write_text(THREADED)
    (folder / "runner_tasks" / "zygote_threads.py").write_text(THREADED_IN_ZYGOTE)
    return folder


@pytest.fixture
async def runner(tmp_path: Path) -> AsyncIterator[TaskRunner]:
    task_runner = TaskRunner(tmp_path / "work")
    yield task_runner
    await task_runner.close()


_counter = 0


def attempt(
    bundle: Path,
    function: str,
    inputs: dict[str, Any] | None = None,
    *,
    outputs: Iterable[str] = ("o0",),
    memory_bytes: int | None = None,
    timeout_seconds: float | None = 60.0,
    environment: dict[str, str] | None = None,
) -> AttemptSpec:
    global _counter
    _counter += 1
    return AttemptSpec(
        attempt_id=f"execution-{_counter}/n0/{function}/0",
        bundle_dir=bundle,
        module=MODULE,
        function=function,
        inputs=inputs or {},
        interface=TypedInterface(outputs={name: Variable(type=INT) for name in outputs}),
        limits=ResourceSpec(memory_bytes=memory_bytes),
        timeout_seconds=timeout_seconds,
        environment=environment or {},
    )


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    state = next(line for line in status.splitlines() if line.startswith("State:"))
    return "zombie" not in state


async def until_gone(pid: int) -> None:
    """Until process ``pid`` has exited (a zombie counts as exited)."""
    await eventually_async(
        lambda: alive(pid),
        lambda running: not running,
        timeout=10,
        interval=0.02,
        what=f"process {pid} gone",
    )


async def written(marker: Path) -> str:
    """What a task writes to ``marker``, once it has."""
    return await eventually_async(
        marker.read_text, timeout=10, interval=0.02, what=f"{marker} written"
    )


def assert_succeeded(result: AttemptResult) -> dict[str, Any]:
    assert result.phase is TaskAttemptPhase.SUCCEEDED, result.error
    assert result.error is None
    assert result.outputs is not None
    return result.outputs


# --- values in and out ---------------------------------------------------------------


async def test_a_task_returns_its_value_and_its_logs_go_to_files(
    runner: TaskRunner, bundle: Path
) -> None:
    result = await runner.run(attempt(bundle, "add", {"a": 2, "b": 3}))
    assert assert_succeeded(result) == {"o0": 5}
    assert "adding 2 and 3" in result.stdout_path.read_text()
    assert "added 2 and 3" in result.stderr_path.read_text()
    assert result.usage.cpu_seconds > 0
    assert result.usage.peak_memory_bytes > MIB
    assert result.usage.wall_seconds > 0
    print(f"\nusage of add: {result.usage}")


async def test_a_named_tuple_gives_one_output_per_field(runner: TaskRunner, bundle: Path) -> None:
    result = await runner.run(
        attempt(bundle, "stats", {"xs": [1, 2, 3, 6]}, outputs=("total", "mean"))
    )
    assert assert_succeeded(result) == {"total": 12, "mean": 3.0}


async def test_large_inputs_go_through_a_file(runner: TaskRunner, bundle: Path) -> None:
    xs = list(range(100_000))
    result = await runner.run(attempt(bundle, "stats", {"xs": xs}, outputs=("total", "mean")))
    assert assert_succeeded(result) == {"total": sum(xs), "mean": sum(xs) / len(xs)}
    assert (result.stdout_path.parent / "inputs.json").exists()


async def test_a_dataclass_goes_in_and_out_as_a_record(runner: TaskRunner, bundle: Path) -> None:
    result = await runner.run(attempt(bundle, "shift", {"p": {"x": 1.0, "y": 2.0}, "dx": 0.5}))
    assert assert_succeeded(result) == {"o0": {"x": 1.5, "y": 2.0}}


async def test_a_task_returning_none_has_no_outputs(runner: TaskRunner, bundle: Path) -> None:
    result = await runner.run(attempt(bundle, "nothing", outputs=()))
    assert assert_succeeded(result) == {}


async def test_the_example_project_runs(runner: TaskRunner) -> None:
    spec = AttemptSpec(
        attempt_id="examples/say_hello/0",
        bundle_dir=EXAMPLES,
        module="workflows.example",
        function="say_hello",
        inputs={"name": "worker"},
        interface=TypedInterface(outputs={"o0": Variable(type=INT)}),
        limits=ResourceSpec(),
        timeout_seconds=None,
        environment={},
    )
    assert assert_succeeded(await runner.run(spec)) == {"o0": "Hello, worker!"}


# --- user errors -------------------------------------------------------------------


async def test_a_user_exception_gives_its_type_message_and_traceback_tail(
    runner: TaskRunner, bundle: Path
) -> None:
    result = await runner.run(attempt(bundle, "boom", {"x": 7}))
    assert result.phase is TaskAttemptPhase.FAILED
    assert result.outputs is None
    error = result.error
    assert error is not None
    assert error.kind is ErrorKind.USER
    assert error.code == "UserError"
    assert "ValueError: bad input 7" in error.message
    assert error.traceback_tail is not None
    tail = error.traceback_tail.splitlines()
    assert len(tail) <= 20
    assert tail[-1] == "ValueError: bad input 7"
    assert any('raise ValueError(f"bad input {x}")' in line for line in tail)
    assert not any("child.py" in line for line in tail)


async def test_an_input_of_the_wrong_type_is_a_user_error_naming_it(
    runner: TaskRunner, bundle: Path
) -> None:
    result = await runner.run(attempt(bundle, "add", {"a": "two", "b": 3}))
    assert result.phase is TaskAttemptPhase.FAILED
    assert result.error is not None
    assert result.error.kind is ErrorKind.USER
    assert result.error.code == "InputError"
    assert "input 'a'" in result.error.message


async def test_an_output_of_the_wrong_type_is_a_user_error_naming_it(
    runner: TaskRunner, bundle: Path
) -> None:
    result = await runner.run(attempt(bundle, "wrong_output"))
    assert result.phase is TaskAttemptPhase.FAILED
    assert result.error is not None
    assert result.error.kind is ErrorKind.USER
    assert result.error.code == "OutputError"
    assert "output 'o0'" in result.error.message


async def test_outputs_that_differ_from_the_registered_interface_are_refused(
    runner: TaskRunner, bundle: Path
) -> None:
    result = await runner.run(attempt(bundle, "add", {"a": 1, "b": 1}, outputs=("sum",)))
    assert result.phase is TaskAttemptPhase.FAILED
    assert result.error is not None
    assert result.error.code == "OutputError"
    assert "registered interface" in result.error.message


async def test_a_missing_task_is_a_load_error(runner: TaskRunner, bundle: Path) -> None:
    missing_module = attempt(bundle, "add")
    missing_module = AttemptSpec(**{**missing_module.__dict__, "module": "runner_tasks.nope"})
    result = await runner.run(missing_module)
    assert result.error is not None
    assert result.error.code == "TaskLoadError"
    assert "runner_tasks.nope" in result.error.message

    result = await runner.run(attempt(bundle, "no_such_task"))
    assert result.error is not None
    assert result.error.code == "TaskLoadError"
    assert "no_such_task" in result.error.message


async def test_a_process_that_exits_without_a_result_fails(
    runner: TaskRunner, bundle: Path
) -> None:
    result = await runner.run(attempt(bundle, "exit_hard", {"code": 3}, outputs=()))
    assert result.phase is TaskAttemptPhase.FAILED
    assert result.error is not None
    assert result.error.code == "ProcessExited"
    assert "status 3" in result.error.message


# --- limits ------------------------------------------------------------------------


async def test_exceeding_the_memory_limit_is_oom_killed(runner: TaskRunner, bundle: Path) -> None:
    limit = 200 * MIB
    result = await runner.run(attempt(bundle, "allocate", {"mib": 300}, memory_bytes=limit))
    assert result.phase is TaskAttemptPhase.FAILED
    assert result.error is not None
    assert result.error.kind is ErrorKind.USER
    assert result.error.code == "OOMKilled"
    assert str(limit) in result.error.message
    assert result.usage.peak_memory_bytes > limit
    assert str(result.usage.peak_memory_bytes) in result.error.message
    print(f"\nOOM: {result.error.message}")


async def test_staying_under_the_memory_limit_succeeds(runner: TaskRunner, bundle: Path) -> None:
    limit = 200 * MIB
    result = await runner.run(attempt(bundle, "allocate", {"mib": 50}, memory_bytes=limit))
    assert assert_succeeded(result) == {"o0": 50 * MIB}
    assert 50 * MIB < result.usage.peak_memory_bytes < limit
    print(f"\npeak of a 50 MiB task: {result.usage.peak_memory_bytes / MIB:.1f} MiB")


async def test_a_task_past_its_timeout_is_timed_out(runner: TaskRunner, bundle: Path) -> None:
    result = await runner.run(
        attempt(bundle, "sleep_for", {"seconds": 60}, outputs=(), timeout_seconds=0.5)
    )
    assert result.phase is TaskAttemptPhase.TIMED_OUT
    assert result.error is not None
    assert result.error.code == "Timeout"
    assert "0.5 s" in result.error.message


# --- abort, crashes, cleanup ---------------------------------------------------------


async def test_abort_ends_a_running_attempt_aborted(runner: TaskRunner, bundle: Path) -> None:
    spec = attempt(bundle, "sleep_for", {"seconds": 60}, outputs=())
    started = asyncio.Event()

    async def on_started() -> None:
        started.set()

    running = asyncio.create_task(runner.run(spec, on_started))
    await started.wait()
    with pytest.raises(AttemptAlreadyRunning):
        await runner.run(spec)
    assert await runner.abort(spec.attempt_id) is True
    result = await running
    assert result.phase is TaskAttemptPhase.ABORTED
    assert await runner.abort(spec.attempt_id) is False
    assert await runner.abort("never/ran") is False


async def test_a_segfault_is_a_system_error_naming_the_signal(
    runner: TaskRunner, bundle: Path
) -> None:
    result = await runner.run(attempt(bundle, "segfault", outputs=()))
    assert result.phase is TaskAttemptPhase.FAILED
    assert result.error is not None
    assert result.error.kind is ErrorKind.SYSTEM
    assert result.error.code == "ChildCrashed"
    assert "SIGSEGV" in result.error.message
    assert result.error.traceback_tail is not None
    assert "Fatal Python error" in result.error.traceback_tail  # faulthandler's dump


async def test_a_dead_zygote_fails_its_attempts_and_is_restarted(
    runner: TaskRunner, bundle: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    running = asyncio.create_task(
        runner.run(
            attempt(bundle, "report_and_sleep", {"marker": str(marker), "seconds": 60}, outputs=())
        )
    )
    child_pid, zygote_pid = (int(n) for n in (await written(marker)).split())
    os.kill(zygote_pid, signal.SIGKILL)
    result = await running
    assert result.phase is TaskAttemptPhase.FAILED
    assert result.error is not None
    assert result.error.kind is ErrorKind.SYSTEM
    assert result.error.code == "WorkerCrashed"
    assert "SIGKILL" in result.error.message
    await until_gone(child_pid)

    again = await runner.run(attempt(bundle, "whoami"))
    assert assert_succeeded(again)["o0"]["ppid"] != zygote_pid


async def test_what_a_task_leaves_running_is_killed(runner: TaskRunner, bundle: Path) -> None:
    result = await runner.run(attempt(bundle, "spawn_sleeper"))
    sleeper = assert_succeeded(result)["o0"]
    await until_gone(sleeper)


async def test_close_leaves_no_process_behind(tmp_path: Path, bundle: Path) -> None:
    task_runner = TaskRunner(tmp_path / "work")
    marker = tmp_path / "marker"
    running = asyncio.create_task(
        task_runner.run(
            attempt(bundle, "report_and_sleep", {"marker": str(marker), "seconds": 60}, outputs=())
        )
    )
    child_pid, zygote_pid = (int(n) for n in (await written(marker)).split())
    other = tmp_path / "other-bundle"
    other.mkdir()
    (other / "runner_tasks").symlink_to(bundle / "runner_tasks")
    await task_runner.run(attempt(other, "nothing", outputs=()))
    zygotes = set(task_runner.warm_bundles().values())
    assert zygote_pid in zygotes
    assert len(zygotes) == 2
    assert set(_zygotes_of(os.getpid())) == zygotes

    await task_runner.close()
    result = await running
    assert result.phase is TaskAttemptPhase.FAILED
    assert result.error is not None
    assert result.error.code == "WorkerShutdown"
    for pid in (child_pid, *zygotes):
        assert not alive(pid), pid
    assert _zygotes_of(os.getpid()) == []
    await task_runner.close()  # again: nothing to do
    with pytest.raises(RunnerClosed):
        await task_runner.run(attempt(bundle, "nothing", outputs=()))


async def test_cancelling_run_kills_the_attempt(
    runner: TaskRunner, bundle: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    running = asyncio.create_task(
        runner.run(
            attempt(bundle, "report_and_sleep", {"marker": str(marker), "seconds": 60}, outputs=())
        )
    )
    child_pid = int((await written(marker)).split()[0])
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert not alive(child_pid)


def _zygotes_of(pid: int) -> list[int]:
    """Children of ``pid`` that are zygotes (other tests of the session may own other children)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
            command = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if f"\nPPid:\t{pid}\n" in status and b"services.launcher.worker.zygote" in command:
            found.append(int(entry))
    return found


# --- warm interpreters and concurrency ---------------------------------------------


async def test_a_warm_zygote_serves_later_attempts_with_the_module_loaded(
    runner: TaskRunner, bundle: Path
) -> None:
    timings = []
    seen = []
    for _ in range(3):
        began = time.perf_counter()
        seen.append(assert_succeeded(await runner.run(attempt(bundle, "whoami")))["o0"])
        timings.append((time.perf_counter() - began) * 1000)
    (zygote,) = runner.warm_bundles().values()
    assert [s["ppid"] for s in seen] == [zygote] * 3
    assert len({s["pid"] for s in seen}) == 3
    # The first child imported the module itself; then the zygote did, for the rest.
    assert seen[0]["imported_in"] == seen[0]["pid"]
    assert seen[1]["imported_in"] == zygote
    assert seen[2]["imported_in"] == zygote
    print(f"\nrun() of whoami, cold then warm: {', '.join(f'{t:.1f} ms' for t in timings)}")


async def test_a_module_that_starts_a_thread_is_never_imported_by_the_zygote(
    runner: TaskRunner, bundle: Path
) -> None:
    threaded = [
        AttemptSpec(
            **{**attempt(bundle, "imported_in").__dict__, "module": "runner_tasks.threaded"}
        )
        for _ in range(3)
    ]
    for spec in threaded:
        result = await runner.run(spec)
        (zygote,) = runner.warm_bundles().values()
        assert assert_succeeded(result)["o0"] != zygote  # imported by each child itself


async def test_a_zygote_that_started_a_thread_is_replaced(runner: TaskRunner, bundle: Path) -> None:
    spec = attempt(bundle, "where")
    seen = []
    for i in range(3):
        spec = AttemptSpec(
            **{
                **spec.__dict__,
                "attempt_id": f"tainted/{i}",
                "module": "runner_tasks.zygote_threads",
            }
        )
        seen.append(assert_succeeded(await runner.run(spec))["o0"])
    # The first zygote imported the module after the first attempt, started a
    # thread doing so, and was retired; its successor never imports it.
    assert seen[1]["ppid"] != seen[0]["ppid"]
    assert seen[2]["ppid"] == seen[1]["ppid"]
    assert all(s["imported_in"] == s["pid"] for s in seen)
    await until_gone(seen[0]["ppid"])


async def test_environment_and_working_folder_belong_to_the_attempt(
    runner: TaskRunner, bundle: Path
) -> None:
    name = "CONTRAIL_TEST_ONLY_IN_THE_CHILD"
    assert name not in os.environ
    first = await runner.run(
        attempt(
            bundle,
            "read_environment",
            {"name": name},
            outputs=("value", "cwd"),
            environment={name: "yes"},
        )
    )
    second = await runner.run(
        attempt(bundle, "read_environment", {"name": name}, outputs=("value", "cwd"))
    )
    one, two = assert_succeeded(first), assert_succeeded(second)
    assert one["value"] == "yes"
    assert two["value"] == ""
    assert name not in os.environ
    assert Path(one["cwd"]) == first.stdout_path.parent / "work"
    assert Path(two["cwd"]) == second.stdout_path.parent / "work"
    assert one["cwd"] != two["cwd"]
    assert (Path(one["cwd"]) / "scratch.txt").read_text() == "mine"


async def test_four_attempts_run_at_once(runner: TaskRunner, bundle: Path, tmp_path: Path) -> None:
    folder = tmp_path / "rendezvous"
    folder.mkdir()
    results = await asyncio.gather(
        *(
            runner.run(attempt(bundle, "rendezvous", {"folder": str(folder), "me": i, "count": 4}))
            for i in range(4)
        )
    )
    pids = {assert_succeeded(result)["o0"] for result in results}
    assert len(pids) == 4
    assert len(runner.warm_bundles()) == 1


async def test_the_least_recently_used_bundle_loses_its_zygote(
    tmp_path: Path, bundle: Path
) -> None:
    task_runner = TaskRunner(tmp_path / "work", max_warm_bundles=1)
    try:
        other = tmp_path / "other-bundle"
        other.mkdir()
        (other / "runner_tasks").symlink_to(bundle / "runner_tasks")
        first = assert_succeeded(await task_runner.run(attempt(bundle, "whoami")))["o0"]
        await task_runner.run(attempt(other, "nothing", outputs=()))
        assert list(task_runner.warm_bundles()) == [other.resolve()]
        await until_gone(first["ppid"])
    finally:
        await task_runner.close()


# --- bundles -----------------------------------------------------------------------


def _tarball(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> str:
    with tarfile.open(path, "w:gz") as tar:
        for info, content in members:
            tar.addfile(info, io.BytesIO(content) if info.isreg() else None)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _file(name: str, content: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(content)
    return info, content


def _link(name: str, target: str) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return info, b""


def test_a_bundle_unpacks_once_by_digest(tmp_path: Path) -> None:
    tarball = tmp_path / "bundle.tgz"
    digest = _tarball(
        tarball,
        [
            _file("pkg/__init__.py", b""),
            _file("pkg/tasks.py", b"X = 1\n"),
            _link("pkg/t", "tasks.py"),
        ],
    )
    cache = tmp_path / "cache"
    folder = unpack_bundle(tarball, cache, digest)
    assert folder == cache / digest
    assert (folder / "pkg" / "tasks.py").read_text() == "X = 1\n"
    assert (folder / "pkg" / "t").read_text() == "X = 1\n"
    tarball.unlink()  # a second call doesn't need it: the cache entry is complete
    assert unpack_bundle(tarball, cache, f"sha256:{digest}") == folder
    assert sorted(p.name for p in cache.iterdir()) == [digest]


@pytest.mark.parametrize(
    ("members", "why"),
    [
        ([_file("/etc/evil", b"x")], "absolute"),
        ([_file("pkg/../../evil", b"x")], ".."),
        ([_link("pkg/out", "../../outside")], "outside"),
        ([_link("pkg/abs", "/etc/passwd")], "outside"),
        # Each link stays inside on its own; through the first, the second leaves.
        ([_link("a", "."), _link("a/b", ".."), _file("a/b/evil", b"x")], "outside"),
    ],
)
def test_an_unsafe_bundle_is_refused(
    tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes]], why: str
) -> None:
    tarball = tmp_path / "bundle.tgz"
    digest = _tarball(tarball, members)
    cache = tmp_path / "cache"
    with pytest.raises(BundleError, match=why):
        unpack_bundle(tarball, cache, digest)
    assert not cache.exists() or list(cache.iterdir()) == []
    assert not (tmp_path / "evil").exists()
    assert not (tmp_path / "outside").exists()


def test_a_bundle_with_another_digest_is_refused(tmp_path: Path) -> None:
    tarball = tmp_path / "bundle.tgz"
    _tarball(tarball, [_file("pkg/__init__.py", b"")])
    with pytest.raises(BundleError, match="sha256"):
        unpack_bundle(tarball, tmp_path / "cache", "0" * 64)
    with pytest.raises(BundleError, match="not a sha256"):
        unpack_bundle(tarball, tmp_path / "cache", "../../etc")

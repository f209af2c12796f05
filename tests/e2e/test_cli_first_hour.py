"""A Flyte user's first hour, end to end: each rough edge a new user met, as they meet it.

Every command runs the installed ``contrail`` as a subprocess from a folder of
the user's own (a temporary folder, never the checkout), against the stack's
gateway and Kafka, and checks the exit status, that the message names the
fault (and the fix), and that no traceback is printed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from shared.settings import StackSettings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CONTRAIL = REPO / ".venv" / "bin" / "contrail"
EXAMPLES = REPO / "examples" / "workflows"
LAUNCHED = re.compile(r"^(?:Launched|Relaunched as|Recovered as) execution (\S+) ", re.MULTILINE)
WATCH = re.compile(r"^Watch it with: contrail (get execution .+ --watch)$", re.MULTILINE)

FLOWS = """
import time

from contrail import map_task, task, workflow


@task
def ok(x: int) -> int:
    return x + 1


@task(retries=1)
def boom(x: int) -> int:
    print("about to fail", flush=True)
    raise ValueError("boom")


@workflow
def fails(x: int = 1) -> int:
    return boom(x=ok(x=x))


@task
def double(x: int) -> int:
    return 2 * x


@workflow
def mapped(xs: list[int]) -> list[int]:
    return map_task(double)(x=xs)


@task
def nap(seconds: float) -> str:
    time.sleep(seconds)
    return "done"


@workflow
def slow(seconds: float = 60.0) -> str:
    return nap(seconds=seconds)
"""


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def execution(self) -> str:
        """The name of the execution the command launched."""
        found = LAUNCHED.search(self.stdout)
        assert found, self.output
        return found.group(1)


Run = Callable[..., Result]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The user's own folder, outside the checkout: every command runs there."""
    folder = tmp_path_factory.mktemp("firsthour")
    assert REPO not in folder.parents
    return folder


@pytest.fixture(scope="module")
def run(stack: StackSettings, home: Path) -> Run:
    """Run ``contrail ARGS...`` in ``home`` against the stack, with an empty config."""
    config = home / "config.yaml"
    config.write_text("")

    def run(
        *args: str | Path, timeout: float = 120, user_traceback: bool = False, **env: str
    ) -> Result:
        """``user_traceback``: the output may hold a traceback of the user's own task."""
        environment = {
            **os.environ,
            "CONTRAIL_CONFIG": str(config),
            "CONTRAIL_ENDPOINT": stack.gateway_url,
            "CONTRAIL_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
            "COLUMNS": "200",
            "NO_COLOR": "1",
            **env,
        }
        for name in ("CONTRAIL_PROJECT", "CONTRAIL_DOMAIN", "CONTRAIL_HOME"):
            if name not in env:
                environment.pop(name, None)
        done = subprocess.run(
            [str(CONTRAIL), *map(str, args)],
            cwd=home,
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        result = Result(done.returncode, done.stdout, done.stderr)
        if user_traceback:
            assert "contrail/cli" not in result.output, result.output
        else:
            assert "Traceback" not in result.output, result.output
        return result

    return run


def _json(result: Result) -> Any:
    assert result.code == 0, result.output
    return json.loads(result.stdout)


def _error(result: Result) -> str:
    """The one error line of a failed command (its lines joined: Rich may wrap)."""
    assert result.code == 1, result.output
    assert result.stderr.startswith("error: "), result.output
    return " ".join(result.stderr.split())


@pytest.fixture(scope="module")
def project(run: Run) -> str:
    """A project of this module's own, created as a user creates one."""
    name = f"e2e-{uuid.uuid4().hex[:10]}"
    created = run("create", "project", name)
    assert created.code == 0, created.output
    assert f"Created project {name}" in created.stdout
    again = run("create", "project", name)
    assert again.code == 0, again.output
    assert "exists already" in again.stdout
    assert run("register", EXAMPLES, "--project", name).code == 0
    return name


@pytest.fixture(scope="module")
def flows(run: Run, home: Path, project: str) -> str:
    """``flows.steps`` registered in ``project``: a failing, a mapping and a slow workflow."""
    root = home / "steps-project"
    (root / "flows").mkdir(parents=True)
    (root / "flows" / "__init__.py").write_text("")
    (root / "flows" / "steps.py").write_text(FLOWS)
    registered = run("register", root / "flows", "--project", project)
    assert registered.code == 0, registered.output
    return project


# --- the local stack, from any folder ----------------------------------------------------


@pytest.mark.skipif(
    os.environ.get("CONTRAIL_TEST_STACK", "local").lower() != "local",
    reason="the local stack of `contrail demo` only",
)
def test_demo_status_and_logs_find_the_stack_from_any_folder(run: Run, home: Path) -> None:
    status = run("demo", "status")
    assert status.code == 0, status.output
    assert str(REPO / ".contrail") in " ".join(status.stdout.split())
    assert "stopped" not in status.stdout
    logs = run("demo", "logs", "kafka", "-n", "2")
    assert logs.code == 0, logs.output
    assert len(logs.stdout.splitlines()) == 2

    elsewhere = home / "no-stack"
    none = run("demo", "status", CONTRAIL_HOME=str(elsewhere))
    assert none.code == 1
    assert "no local stack is running" in " ".join(none.stderr.split())
    assert "contrail demo up" in none.stderr
    no_logs = run("demo", "logs", "registry", CONTRAIL_HOME=str(elsewhere))
    assert "no log of registry" in _error(no_logs)


def test_init_points_to_the_one_stack(run: Run, home: Path) -> None:
    made = run("init", "my-project")
    assert made.code == 0, made.output
    readme = (home / "my-project" / "README.md").read_text()
    assert "contrail demo up" not in readme
    assert "contrail demo status" in readme
    assert "contrail create project" in readme


def test_version(run: Run) -> None:
    from contrail import __version__

    shown = run("--version")
    assert shown.code == 0, shown.output
    assert shown.stdout.strip() == f"contrail {__version__}"


# --- projects are created explicitly ----------------------------------------------------


def test_reading_an_unknown_project_is_an_error_naming_the_known_ones(
    run: Run, project: str
) -> None:
    for command in (
        ("get", "workflows"),
        ("get", "tasks", "some.task", "--version", "v1"),
        ("get", "executions"),
        ("get", "execution", "nope"),
        ("launch", "workflows.example.wf"),
    ):
        line = _error(run(*command, "-p", "walk-doesnotexist"))
        assert "project 'walk-doesnotexist' does not exist" in line, command
        assert "flytesnacks" in line
        assert "contrail create project walk-doesnotexist" in line, command
    shown = _error(run("get", "projects", "walk-doesnotexist"))
    assert "project 'walk-doesnotexist' does not exist" in shown
    typo = _error(run("get", "workflows", "-p", "flytesnack"))
    assert "did you mean flytesnacks?" in typo


def test_registering_or_running_in_an_unknown_project_is_refused(run: Run) -> None:
    for command in (
        ("register", EXAMPLES),
        ("run", "--remote", EXAMPLES / "example.py", "wf"),
    ):
        result = run(*command, "-p", "walk-doesnotexist")
        line = _error(Result(result.code, "", result.stderr))
        assert "project 'walk-doesnotexist' does not exist" in line, command
        assert "contrail create project walk-doesnotexist" in line, command
        assert "Registration" not in result.stdout
    projects = _json(run("get", "projects", "-o", "json"))
    assert "walk-doesnotexist" not in {p["name"] for p in projects}


def test_create_project_refuses_a_bad_name(run: Run) -> None:
    line = _error(run("create", "project", "Bad Project!"))
    assert "project 'Bad Project!' is not valid" in line
    assert "lower-case letters" in line


# --- launching and watching -------------------------------------------------------------


def test_a_launch_prints_the_command_that_watches_it(run: Run, project: str) -> None:
    launched = run("launch", "workflows.example.wf", "-i", "name=you", "-p", project, "--wait")
    assert launched.code == 0, launched.output
    name = launched.execution
    shown = WATCH.search(launched.stdout)
    assert shown is not None, launched.stdout
    assert shown.group(1) == f"get execution {name} -p {project} -d development --watch"
    assert "console" not in launched.stdout

    watched = run(*shown.group(1).split())
    assert watched.code == 0, watched.output
    assert "n0 workflows.example.say_hello  SUCCEEDED  1 attempt" in watched.stdout
    assert "n1 workflows.example.greeting_length  SUCCEEDED  1 attempt" in watched.stdout
    shown_once = run("get", "execution", name, "-p", project)
    assert "n0 workflows.example.say_hello  SUCCEEDED" in shown_once.stdout

    relaunched = run("relaunch", name, "-p", project, "--wait")
    assert relaunched.code == 0, relaunched.output
    assert f"Execution {relaunched.execution} SUCCEEDED" in relaunched.stdout
    assert "Hello, you!" in relaunched.stdout


def test_a_bad_execution_name_says_what_a_name_may_hold(run: Run, project: str) -> None:
    line = _error(run("launch", "workflows.example.wf", "-n", "Bad Name!", "-p", project))
    assert "execution name 'Bad Name!' is not valid" in line
    assert "lower-case letters, digits" in line
    assert "pydantic" not in line
    relaunch = _error(run("relaunch", "whatever", "-n", "Bad Name!", "-p", project))
    assert "execution name 'Bad Name!' is not valid" in relaunch


def test_launch_a_task_on_its_own(run: Run, project: str) -> None:
    launched = run(
        "launch", "--task", "workflows.example.say_hello", "-i", "name=task", "-p", project,
        "--wait",
    )  # fmt: skip
    assert launched.code == 0, launched.output
    assert "Hello, task!" in launched.stdout
    neither = _error(run("launch", "-p", project))
    assert "give a launch plan to launch, or --task TASK" in neither
    unknown = _error(run("launch", "--task", "no.such.task", "-p", project))
    assert "no task named no.such.task" in unknown


def test_phase_offers_only_phases_that_happen(run: Run, project: str) -> None:
    help_text = run("get", "executions", "--help").stdout.lower()
    assert "succeeding" not in help_text
    assert "timed_out" not in help_text
    refused = run("get", "executions", "--phase", "succeeding", "-p", project)
    assert refused.code == 2
    assert "succeeding" in refused.stderr.lower()


def test_a_record_input_with_an_unknown_field_is_refused(run: Run, project: str) -> None:
    order = '{"item": "a", "quantity": 1, "unit_price": 2.0, "colour": "red"}'
    line = _error(
        run("launch", "workflows.records.invoice_wf", "-i", f"order={order}", "-p", project)
    )
    assert "colour: no such field (fields: item, quantity, unit_price)" in line


# --- abort --------------------------------------------------------------------------------


def test_abort_of_a_finished_execution_says_so(run: Run, flows: str) -> None:
    project = flows
    done = run("launch", "workflows.example.wf", "-i", "name=x", "-p", project, "--wait")
    assert done.code == 0, done.output
    line = _error(run("abort", done.execution, "-p", project))
    assert f"execution {done.execution} already ended SUCCEEDED" in line
    assert "nothing to abort" in line

    slow = run("launch", "flows.steps.slow", "-i", "seconds=60", "-p", project)
    assert slow.code == 0, slow.output
    aborted = run("abort", slow.execution, "--cause", "not needed", "-p", project)
    assert aborted.code == 0, aborted.output
    assert "not needed" in aborted.stdout
    ended = run("get", "execution", slow.execution, "-p", project, "--watch")
    assert "ABORTED" in ended.stdout
    again = _error(run("abort", slow.execution, "--cause", "another cause", "-p", project))
    assert f"execution {slow.execution} already ended ABORTED (cause: not needed)" in again
    assert "another cause" not in again


# --- events --------------------------------------------------------------------------------


def test_events_tail_refuses_an_unknown_type(run: Run) -> None:
    line = _error(run("events", "tail", "--type", "bogus", "--timeout", "1"))
    assert "--type 'bogus' is not an event type of contrail.executions" in line
    assert "execution, node, task_attempt" in line


# --- failures, logs, recover --------------------------------------------------------------


def test_a_failed_attempt_s_traceback_is_in_its_stderr_log(run: Run, flows: str) -> None:
    project = flows
    failed = run("launch", "flows.steps.fails", "-p", project, "--wait", user_traceback=True)
    assert failed.code == 1, failed.output
    name = failed.execution
    assert "ValueError: boom" in failed.stderr

    for attempt in ((), ("--attempt", "1"), ("--attempt", "2")):
        err = run(
            "logs", name, "--node", "n1", "--stderr", *attempt, "-p", project, user_traceback=True
        )
        assert err.code == 0, err.output
        assert "Traceback (most recent call last)" in err.stdout, attempt
        assert 'raise ValueError("boom")' in err.stdout
        assert err.stdout.rstrip().endswith("ValueError: boom")
    last = run("logs", name, "--node", "n1", "-p", project)
    assert last.stdout.strip() == "about to fail"
    assert "n1 ran 2 attempts" in last.stderr
    assert "--attempt N" in last.stderr
    every = run("logs", name, "-p", project)
    assert "--- n1 (attempt 2; earlier: --node n1 --attempt N, N < 2) ---" in every.stdout

    recovered = run("recover", name, "-p", project, "--wait", user_traceback=True)
    assert recovered.code == 1, recovered.output
    assert f"execution {recovered.execution} ended FAILED" in " ".join(recovered.stderr.split())
    tree = run("get", "execution", recovered.execution, "-p", project, user_traceback=True)
    assert re.search(r"n0 flows\.steps\.ok  SUCCEEDED\s+recovered", tree.stdout), tree.stdout
    assert re.search(r"n1 flows\.steps\.boom  FAILED  2 attempts", tree.stdout), tree.stdout


def test_logs_of_a_map_node_point_to_its_items(run: Run, flows: str) -> None:
    project = flows
    done = run("launch", "flows.steps.mapped", "-i", "xs=[1, 2]", "-p", project, "--wait")
    assert done.code == 0, done.output
    line = _error(run("logs", done.execution, "--node", "n0", "-p", project))
    assert "node n0 of execution" in line
    assert "runs no task itself" in line
    assert "--node n0[0]" in line
    item = run("logs", done.execution, "--node", "n0[0]", "-p", project)
    assert item.code == 0, item.output


# --- launch plans ---------------------------------------------------------------------------


def test_launchplan_activate_defaults_to_the_newest_version(run: Run, project: str) -> None:
    name = "workflows.scheduled.hourly"
    newest = _json(run("get", "launchplans", name, "-p", project, "-o", "json"))[0]
    version = newest["identifier"]["version"]
    activated = run("launchplan", "activate", name, "-p", project)
    assert activated.code == 0, activated.output
    assert f"version {version}" in activated.stdout
    assert "is now ACTIVE" in activated.stdout
    deactivated = run("launchplan", "deactivate", name, "-p", project)
    assert deactivated.code == 0, deactivated.output
    assert f"version {version}" in deactivated.stdout
    assert "is now INACTIVE" in deactivated.stdout
    nothing = _error(run("launchplan", "deactivate", name, "-p", project))
    assert f"no version of launch plan {name} is active" in nothing


# --- contrail run guides to the entity and its inputs ------------------------------------


def test_run_a_file_lists_its_entities(run: Run) -> None:
    for listed in (
        run("run", EXAMPLES / "example.py"),
        run("run", EXAMPLES / "example.py", "--help"),
    ):
        assert listed.code == 0, listed.output
        rows = {
            line.split("│")[0].strip(): line for line in listed.stdout.splitlines() if "│" in line
        }
        assert set(rows) == {"say_hello", "greeting_length", "wf"}
        assert "workflow" in rows["wf"]
        assert "--name str?" in rows["wf"]
        assert "task" in rows["say_hello"]
        assert "ENTITY --help" in listed.stdout


def test_run_entity_help_lists_its_inputs_with_types_and_defaults(run: Run) -> None:
    shown = run("run", EXAMPLES / "records.py", "invoice_wf", "--help")
    assert shown.code == 0, shown.output
    assert re.search(
        r"--order\s+│ workflows\.records\.Order\s+│ \{\"item\": \"widget\"", shown.stdout
    )
    assert re.search(r"o0\s+│ workflows\.records\.Invoice", shown.stdout)
    defaulted = run("run", EXAMPLES / "example.py", "wf", "--help")
    assert re.search(r'--name\s+│ str\s+│ "union"', defaulted.stdout), defaulted.stdout
    required = run("run", EXAMPLES / "example.py", "say_hello", "--help")
    assert re.search(r"--name\s+│ str\s+│ \(required\)", required.stdout), required.stdout
    unknown = _error(run("run", EXAMPLES / "example.py", "nope"))
    assert "no task, workflow or launch plan named 'nope'" in unknown
    assert "say_hello" in unknown


# --- register -----------------------------------------------------------------------------


def test_registering_an_unchanged_project_says_so_once(run: Run, project: str) -> None:
    again = run("register", EXAMPLES, "--project", project)
    assert again.code == 0, again.output
    assert "successful with version" not in again.stdout
    assert (
        len(
            re.findall(
                r"^Nothing changed: the \d+ entities are registered already",
                again.stdout,
                re.MULTILINE,
            )
        )
        == 1
    )


def test_copy_none_warns_and_the_launch_fails_in_one_line(
    run: Run, home: Path, project: str
) -> None:
    root = home / "nocode-project"
    (root / "nocode").mkdir(parents=True)
    (root / "nocode" / "__init__.py").write_text("")
    (root / "nocode" / "hello.py").write_text(
        "from contrail import task\n\n\n@task\ndef hi(name: str) -> str:\n    return f'hi {name}'\n"
    )
    registered = run("register", root / "nocode", "--copy", "none", "-p", project)
    assert registered.code == 0, registered.output
    warning = " ".join(registered.stderr.split())
    assert "warning: --copy none and no image" in warning
    assert "nocode.hello" in warning
    assert "--copy auto" in warning

    launched = run("launch", "--task", "nocode.hello.hi", "-i", "name=x", "-p", project, "--wait")
    assert launched.code == 1, launched.output
    lines = [line for line in launched.stderr.splitlines() if line.strip()]
    assert len(lines) == 2, launched.stderr  # the execution ended FAILED, and why
    why = lines[1]
    assert "the worker has no copy of the task's code" in why
    assert "module 'nocode.hello'" in why
    assert "--copy auto" in why


# --- the SDK ------------------------------------------------------------------------------


def test_remote_relaunch_and_recover_return_runs_that_wait(
    stack: StackSettings, run: Run, project: str
) -> None:
    from contrail.remote import Remote

    launched = run("launch", "workflows.example.wf", "-i", "name=sdk", "-p", project, "--wait")
    assert launched.code == 0, launched.output
    with Remote(stack.gateway_url, project=project) as remote:
        again = remote.relaunch(launched.execution)
        assert again.wait(timeout=60) is again
        assert again.outputs == {"o0": "Hello, sdk!", "o1": 11}
        recovered = remote.recover(launched.execution).wait(timeout=60)
        assert recovered.execution.recovered_from
        attempts = [a for node in again.nodes() for a in node.attempts]
        assert len(attempts) == 2
        assert all(isinstance(a.queued_at, datetime) for a in attempts)
        assert all(node.recovered for node in recovered.nodes())

"""Executions end to end: ``run --remote``, ``launch``, ``get``, ``logs``, ``events tail``,
``abort``, ``relaunch``, and ``Remote.run`` from Python.

Each test runs the installed ``contrail`` command as a subprocess against the
stack's gateway (``CONTRAIL_ENDPOINT``) and Kafka (``CONTRAIL_KAFKA_BOOTSTRAP``),
in a project of its own, with the launcher and workers of the stack.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shared.settings import StackSettings
from tests.eventually import eventually

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CONTRAIL = REPO / ".venv" / "bin" / "contrail"
EXAMPLES = REPO / "examples" / "workflows"
LAUNCHED = re.compile(r"^(?:Launched|Relaunched as|Recovered as) execution (\S+) ", re.MULTILINE)
WATCH = re.compile(r"^Watch it with: (contrail get execution .+ --watch)$", re.MULTILINE)

CHATTY = """
import sys
import time

from contrail import task, workflow


@task
def chatty(seconds: float) -> str:
    for i in range(3):
        print(f"tick {i}", flush=True)
        time.sleep(seconds)
    print("to stderr", file=sys.stderr, flush=True)
    return "done"


@workflow
def slow(seconds: float = 0.1) -> str:
    return chatty(seconds=seconds)
"""


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def execution(self) -> str:
        """The name of the execution the command launched."""
        found = LAUNCHED.search(self.stdout)
        assert found, self.stdout + self.stderr
        return found.group(1)


Run = Callable[..., Result]


@pytest.fixture(scope="module")
def run(stack: StackSettings, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Run ``contrail ARGS...`` against the stack, with an empty config of its own."""
    config = tmp_path_factory.mktemp("config") / "config.yaml"
    config.write_text("")

    def run(*args: str | Path, cwd: Path = REPO, timeout: float = 120) -> Result:
        env = {
            **os.environ,
            "CONTRAIL_CONFIG": str(config),
            "CONTRAIL_ENDPOINT": stack.gateway_url,
            "CONTRAIL_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
            "COLUMNS": "200",
            "NO_COLOR": "1",
        }
        env.pop("CONTRAIL_PROJECT", None)
        env.pop("CONTRAIL_DOMAIN", None)
        done = subprocess.run(
            [str(CONTRAIL), *map(str, args)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        result = Result(done.returncode, done.stdout, done.stderr)
        assert "Traceback" not in result.stdout + result.stderr, result.stderr
        return result

    return run


@pytest.fixture(scope="module")
def chatty_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project of its own whose task prints, and sleeps as long as it is told."""
    root = tmp_path_factory.mktemp("chatty")
    (root / "flows").mkdir()
    (root / "flows" / "__init__.py").write_text("")
    (root / "flows" / "slow.py").write_text(CHATTY)
    return root / "flows" / "slow.py"


def _project() -> str:
    """A new project, created as a user creates one (projects are never made implicitly)."""
    from contrail.remote import Remote

    name = f"e2e-{uuid.uuid4().hex[:10]}"
    with Remote(StackSettings().gateway_url) as remote:
        remote.create_project(name)
    return name


def _json(result: Result) -> Any:
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def _until(
    run: Run,
    project: str,
    name: str,
    phases: set[str],
    timeout: float = 60,
    *,
    until: Callable[[Any], bool] | None = None,
) -> Any:
    """``get execution NAME -o json`` once its phase is one of ``phases`` (and ``until``
    holds of it); fails showing the last document if that does not happen in ``timeout`` s."""
    return eventually(
        lambda: _json(run("get", "execution", name, "--project", project, "-o", "json")),
        lambda document: document["phase"] in phases and (until is None or until(document)),
        timeout=timeout,
        interval=0.3,
        what=f"{name} {'/'.join(sorted(phases))}",
    )


def _attempts(document: Any) -> list[str]:
    """``n0#1 RUNNING``: the attempts of an execution document's nodes."""
    return [
        f"{node['node_path']}#{attempt['attempt']} {attempt['phase']}"
        for node in document.get("nodes", [])
        for attempt in node.get("attempts", [])
    ]


def test_run_remote_wait_get_and_events(run: Run) -> None:
    project = _project()
    result = run(
        "run", "--remote", EXAMPLES / "example.py", "wf", "--name", "x", "--wait",
        "--project", project,
    )  # fmt: skip
    assert result.code == 0, result.stdout + result.stderr
    name = result.execution
    shown_command = WATCH.search(result.stdout)
    assert shown_command is not None, result.stdout
    assert shown_command.group(1) == (
        f"contrail get execution {name} -p {project} -d development --watch"
    )
    assert "SUCCEEDED" in result.stdout
    assert re.search(r"o0\s+│ str\s+│ Hello, x!", result.stdout), result.stdout
    assert re.search(r"o1\s+│ int\s+│ 9\b", result.stdout), result.stdout

    listed = _json(
        run("get", "executions", "--project", project, "--phase", "SUCCEEDED", "-o", "json")
    )
    assert [e["name"] for e in listed] == [name]
    assert (
        run(
            "get", "executions", "--project", project, "--phase", "FAILED", "-o", "json"
        ).stdout.strip()
        == "[]"
    )
    table = run("get", "executions", "--project", project, "--workflow", "workflows.example.wf")
    assert name in table.stdout
    assert "SUCCEEDED" in table.stdout

    document = _json(run("get", "execution", name, "--project", project, "-o", "json"))
    assert document["phase"] == "SUCCEEDED"
    assert document["outputs"] == {"o0": "Hello, x!", "o1": 9}
    assert document["inputs"] == {"name": "x"}
    assert [n["node_path"] for n in document["nodes"]] == ["n0", "n1"]
    assert all(n["attempts"][0]["phase"] == "SUCCEEDED" for n in document["nodes"])

    shown = run("get", "execution", name, "--project", project)
    assert "├── n0 workflows.example.say_hello  SUCCEEDED  1 attempt" in shown.stdout
    assert "└── n1 workflows.example.greeting_length  SUCCEEDED  1 attempt" in shown.stdout

    # 2 execution + 2 x (node QUEUED, RUNNING, SUCCEEDED + attempt QUEUED, RUNNING, SUCCEEDED) + 1
    tail = run(
        "events", "tail", "--project", project, "--from-beginning", "--max", "15",
        "--timeout", "60", "-o", "json",
    )  # fmt: skip
    events = [json.loads(line) for line in tail.stdout.splitlines()]
    assert {e["data"]["execution"]["name"] for e in events} == {name}
    assert sorted(e["data"]["seq"] for e in events) == list(range(15))
    assert events[-1]["type"] == "contrail.execution.phase_changed"
    assert events[-1]["data"]["phase"] == "SUCCEEDED"

    lines = run(
        "events", "tail", "--project", project, "--type", "execution", "--from-beginning",
        "--max", "3", "--timeout", "60",
    )  # fmt: skip
    phases = [line.split()[-1] for line in lines.stdout.splitlines()]
    assert phases == ["QUEUED", "RUNNING", "SUCCEEDED"], lines.stdout


def test_launch_with_typed_inputs_and_relaunch(run: Run) -> None:
    project = _project()
    assert run("register", EXAMPLES, "--project", project).code == 0
    launched = run(
        "launch", "workflows.example.wf", "--input", "name=bob", "--project", project, "--wait"
    )
    assert launched.code == 0, launched.stdout + launched.stderr
    assert "Hello, bob!" in launched.stdout
    assert re.search(r"o1\s+│ int\s+│ 11\b", launched.stdout)

    mapped = run(
        "launch", "workflows.mapping.sum_of_squares", "-i", "xs=[1, 2, 3]", "--project", project,
        "--wait", "--name", "squares",
    )  # fmt: skip
    assert mapped.code == 0, mapped.stdout + mapped.stderr
    assert "[0]  SUCCEEDED" in mapped.stdout
    assert re.search(r"o0\s+│ int\s+│ 14\b", mapped.stdout)

    relaunched = run("relaunch", launched.execution, "--project", project)
    assert relaunched.code == 0, relaunched.stderr
    assert relaunched.execution != launched.execution
    document = _until(run, project, relaunched.execution, {"SUCCEEDED", "FAILED"})
    assert document["phase"] == "SUCCEEDED"
    assert document["inputs"] == {"name": "bob"}
    assert document["relaunched_from"]


def test_bad_inputs_and_unknown_names_are_one_red_line(run: Run) -> None:
    project = _project()
    assert run("register", EXAMPLES, "--project", project).code == 0
    bad = run("launch", "workflows.branching.classify", "-i", "n=abc", "-i", "zz=1", "-p", project)
    assert bad.code == 1
    assert "the inputs of workflows.branching.classify are invalid (2 problems)" in bad.stderr
    assert "input n: expected int, got str 'abc'" in bad.stderr
    assert "input zz: unknown input 'zz'" in bad.stderr
    assert "Traceback" not in bad.stderr
    unknown = run("launch", "nope", "--project", project)
    assert unknown.code == 1
    assert "no launch plan named nope" in unknown.stderr
    missing = run("get", "execution", "nope", "--project", project)
    assert missing.code == 1
    assert missing.stderr.startswith("error:")


def test_failing_workflow_exits_non_zero_with_the_error(run: Run) -> None:
    project = _project()
    result = run(
        "run", "--remote", EXAMPLES / "branching.py", "only_positive", "--n", "-1", "--wait",
        "--project", project,
    )  # fmt: skip
    assert result.code == 1
    assert "ended FAILED" in result.stderr
    assert "BranchFailed: [n0] n must be positive" in result.stderr
    failed = _json(
        run("get", "executions", "--project", project, "--phase", "FAILED", "-o", "json")
    )
    assert [e["name"] for e in failed] == [result.execution]


def test_logs_and_abort(run: Run, chatty_file: Path) -> None:
    project = _project()
    done = run(
        "run", "--remote", chatty_file, "slow", "--seconds", "0.05", "--wait", "-p", project,
        cwd=chatty_file.parent.parent,
    )  # fmt: skip
    assert done.code == 0, done.stdout + done.stderr
    out = run("logs", done.execution, "--node", "n0", "--project", project)
    assert out.stdout.splitlines() == ["tick 0", "tick 1", "tick 2"]
    err = run("logs", done.execution, "--node", "n0", "--stderr", "--project", project)
    assert err.stdout.strip() == "to stderr"
    every = run("logs", done.execution, "--project", project)
    assert "--- n0 (attempt 1) ---" in every.stdout
    assert "tick 2" in every.stdout

    slow = run("launch", "flows.slow.slow", "-i", "seconds=2", "-p", project, "--name", "slow1")
    assert slow.code == 0, slow.stderr
    followed = run("logs", "slow1", "--node", "n0", "--follow", "--project", project, timeout=60)
    assert followed.stdout.splitlines() == ["tick 0", "tick 1", "tick 2"]

    # A 30 s task, aborted once its attempt runs on a worker.
    doomed = run("launch", "flows.slow.slow", "-i", "seconds=10", "-p", project)
    _until(
        run, project, doomed.execution, {"RUNNING"},
        until=lambda document: _attempts(document) == ["n0#1 RUNNING"],
    )  # fmt: skip
    aborted = run("abort", doomed.execution, "--cause", "not needed", "--project", project)
    assert aborted.code == 0, aborted.stderr
    document = _until(run, project, doomed.execution, {"ABORTED", "FAILED", "SUCCEEDED"}, 30)
    assert document["phase"] == "ABORTED", document
    assert "not needed" in document["error"]["message"]
    assert _attempts(document) == ["n0#1 ABORTED"], document


def test_remote_run_from_python(stack: StackSettings) -> None:
    from contrail import ExecutionFailed
    from contrail.remote import Remote
    from contrail.serialize import find_project_root, load_modules

    example, branching = load_modules(
        [EXAMPLES / "example.py", EXAMPLES / "branching.py"], find_project_root(EXAMPLES)
    )
    with Remote(stack.gateway_url, project=_project()) as remote:
        run = remote.run(example.wf, name="x")
        assert run.url.endswith(f"/executions/{run.name}")
        assert run.wait(timeout=60) is run
        assert run.outputs == ("Hello, x!", 9)
        assert "--- n0 (attempt 1) ---" in run.logs()

        failing = remote.run(branching.only_positive, n=-1)
        with pytest.raises(ExecutionFailed, match="n must be positive"):
            failing.wait(timeout=60)

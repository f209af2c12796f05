"""``Remote``'s execution calls and ``Run`` over a fake transport (client logic only).

The real launcher is exercised by ``tests/e2e/test_cli_executions.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from contrail import ExecutionFailed
from contrail.remote import Conflict, InvalidRequest, NotFound, Remote
from contrail.run import Run, RunNotDone, outputs_of
from shared.phases import ExecutionPhase

Handler = Callable[[httpx.Request], httpx.Response]
REPO = Path(__file__).resolve().parents[2]
BASE = "/api/v1/executions/flytesnacks/development"


def _example_wf() -> Any:
    """``wf`` of examples/workflows/example.py, imported as its project's module."""
    from contrail.serialize import find_project_root, load_modules

    file = REPO / "examples" / "workflows" / "example.py"
    (module,) = load_modules([file], find_project_root(file))
    return module.wf


def _remote(handler: Handler) -> Remote:
    return Remote("http://contrail.test", transport=httpx.MockTransport(handler))


def _execution(name: str = "x1", phase: str = "QUEUED", **extra: Any) -> dict[str, Any]:
    return {
        "project": "flytesnacks",
        "domain": "development",
        "name": name,
        "phase": phase,
        "inputs": {"name": "x"},
        "workflow": {"name": "workflows.example.wf", "version": "v1"},
        "launch_plan": {"name": "workflows.example.wf", "version": "v1"},
        **extra,
    }


def _created(name: str = "x1") -> httpx.Response:
    url = f"http://contrail.test/console/projects/flytesnacks/domains/development/executions/{name}"
    return httpx.Response(201, json={"execution": _execution(name), "url": url})


# --- Remote ---------------------------------------------------------------------------------


def test_launch_posts_one_target_with_inputs_and_returns_the_url() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("POST", "/api/v1/executions")
        seen.append(json.loads(request.content))
        return _created()

    execution = _remote(handler).launch(
        "workflows.example.wf", inputs={"name": "x"}, labels={"team": "ml"}, project="p1"
    )
    assert seen == [
        {
            "project": "p1",
            "domain": "development",
            "name": None,
            "launch_plan": {"name": "workflows.example.wf", "version": None},
            "workflow": None,
            "task": None,
            "inputs": {"name": "x"},
            "labels": {"team": "ml"},
        }
    ]
    assert execution.name == "x1"
    assert execution.phase is ExecutionPhase.QUEUED
    assert execution.url.endswith("/console/projects/flytesnacks/domains/development/executions/x1")


def test_launch_needs_exactly_one_target() -> None:
    remote = _remote(lambda request: _created())
    with pytest.raises(ValueError, match="exactly one"):
        remote.launch()
    with pytest.raises(ValueError, match="exactly one"):
        remote.launch("lp", task="t")


def test_launch_errors_keep_each_input_problem() -> None:
    body = {
        "error": {
            "code": "invalid_inputs",
            "message": "2 inputs are not valid",
            "details": [
                {"input": "n", "message": "expected int, got 'a'"},
                {"input": "zz", "message": "unknown input"},
            ],
        }
    }
    remote = _remote(lambda request: httpx.Response(400, json=body))
    with pytest.raises(InvalidRequest) as caught:
        remote.launch(workflow="wf", inputs={"n": "a", "zz": 1})
    assert caught.value.code == "invalid_inputs"
    assert [d["input"] for d in caught.value.details] == ["n", "zz"]

    taken = {"error": {"code": "conflict", "message": "execution x1 exists", "details": []}}
    with pytest.raises(Conflict):
        _remote(lambda request: httpx.Response(409, json=taken)).launch("lp", name="x1")


def test_get_execution_reads_nested_identifiers_and_finished_at() -> None:
    answer = {
        "id": {"project": "flytesnacks", "domain": "development", "name": "x1"},
        "phase": "FAILED",
        "error": {"kind": "USER", "code": "ValueError", "message": "[n0] boom"},
        "started_at": "2026-11-22T18:00:00Z",
        "finished_at": "2026-11-22T18:00:04Z",
    }

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == f"{BASE}/x1"
        return httpx.Response(200, json=answer)

    execution = _remote(handler).get_execution("x1")
    assert (execution.key, execution.phase, execution.is_done) == (
        "flytesnacks/development/x1",
        ExecutionPhase.FAILED,
        True,
    )
    assert execution.ended_at is not None
    assert execution.error is not None
    assert str(execution.error) == "ValueError: [n0] boom"
    assert execution.url.endswith("/executions/x1")  # built when the API gives none


def test_list_executions_filters_and_follows_pages() -> None:
    queries: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        query = dict(request.url.params)
        queries.append(query)
        if query.get("token") == "t2":
            return httpx.Response(200, json={"items": [_execution("b")], "next_token": None})
        return httpx.Response(200, json={"items": [_execution("a")], "next_token": "t2"})

    found = _remote(handler).list_executions(
        phase="failed", workflow="workflows.example.wf", limit=None
    )
    assert [e.name for e in found] == ["a", "b"]
    assert queries[0]["phase"] == "FAILED"
    assert queries[0]["workflow"] == "workflows.example.wf"
    assert queries[0]["project"] == "flytesnacks"
    assert "launch_plan" not in queries[0]


def _nodes(*attempts: int) -> dict[str, Any]:
    return {
        "items": [
            {
                "node_path": "n0",
                "phase": "SUCCEEDED",
                "attempts": [{"attempt": a, "phase": "SUCCEEDED"} for a in attempts],
            },
            {"node_path": "n1", "phase": None, "attempts": []},
        ]
    }


def test_logs_read_the_latest_attempt_unless_told() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(f"{request.url.path}?{request.url.query.decode()}")
        if request.url.path.endswith("/nodes"):
            return httpx.Response(200, json=_nodes(1, 2))
        return httpx.Response(200, text="hello\n")

    remote = _remote(handler)
    assert "".join(remote.logs("x1", "n0")) == "hello\n"
    assert paths[-1] == f"{BASE}/x1/nodes/n0/attempts/2/logs?stream=stdout&follow=false"
    assert "".join(remote.logs("x1", "n0", 1, stream="stderr")) == "hello\n"
    assert paths[-1] == f"{BASE}/x1/nodes/n0/attempts/1/logs?stream=stderr&follow=false"


def test_logs_of_an_unknown_node_or_a_node_without_attempts() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/nodes"):
            return httpx.Response(200, json=_nodes(1))
        return httpx.Response(200, json=_execution(phase="SUCCEEDED"))

    remote = _remote(handler)
    with pytest.raises(NotFound, match=r"no node n9 \(nodes: n0, n1\)"):
        list(remote.logs("x1", "n9"))
    with pytest.raises(NotFound, match="node n1 of execution x1 has no task attempt"):
        list(remote.logs("x1", "n1", follow=True))


def test_abort_relaunch_recover() -> None:
    seen: list[tuple[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, json.loads(request.content)))
        if request.url.path.endswith("/abort"):
            return httpx.Response(202)
        return _created("x2")

    remote = _remote(handler)
    remote.abort("x1", "no longer needed")
    assert remote.relaunch("x1").name == "x2"
    assert remote.recover("x1", new_name="x3").name == "x2"
    assert seen == [
        (f"{BASE}/x1/abort", {"cause": "no longer needed"}),
        (f"{BASE}/x1/relaunch", {"name": None}),
        (f"{BASE}/x1/recover", {"name": "x3"}),
    ]


# --- Run --------------------------------------------------------------------------------------


class Phases:
    """A fake launcher whose execution moves through ``phases``, one per GET."""

    def __init__(self, *phases: str, outputs: dict[str, Any] | None = None, **final: Any) -> None:
        self.phases = list(phases)
        self.outputs = outputs
        self.final = final
        self.gets = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/nodes"):
            return httpx.Response(200, json=_nodes(1))
        if request.url.path.endswith("/logs"):
            return httpx.Response(200, text="said hello")
        self.gets += 1
        phase = self.phases[min(self.gets, len(self.phases)) - 1]
        extra: dict[str, Any] = {}
        if phase == "SUCCEEDED" and self.outputs is not None:
            extra["outputs"] = self.outputs
        if phase in ("FAILED", "ABORTED", "TIMED_OUT"):
            extra.update(self.final)
        return httpx.Response(200, json=_execution(phase=phase, **extra))


def _run(handler: Phases, interface: Any = None) -> Run:
    remote = _remote(handler)
    return Run(remote, remote.get_execution("x1"), interface)


def test_wait_follows_the_phases_and_outputs_come_back_typed() -> None:
    from contrail.run import interface_of

    wf = _example_wf()
    fake = Phases("QUEUED", "RUNNING", "SUCCEEDED", outputs={"o0": "Hello, x!", "o1": 9})
    run = _run(fake, interface_of(wf))
    assert (run.phase, run.done) == (ExecutionPhase.QUEUED, False)
    assert run.wait(poll=0) is run
    assert run.phase is ExecutionPhase.SUCCEEDED
    assert run.outputs == ("Hello, x!", 9)
    assert "said hello" in run.logs()
    assert run.logs("n0") == "said hello"


def test_outputs_without_types_are_the_literals() -> None:
    fake = Phases("SUCCEEDED", outputs={"o0": "Hello, x!", "o1": 9})
    assert _run(fake).outputs == {"o0": "Hello, x!", "o1": 9}


def test_outputs_of_follows_the_return_style() -> None:
    from contrail import task

    @task
    def one() -> int:
        return 1

    @task
    def nothing() -> None:
        return None

    assert outputs_of({"o0": 3}, one.interface) == 3
    assert outputs_of({}, nothing.interface) is None


def test_wait_raises_execution_failed_with_the_error() -> None:
    error = {"kind": "USER", "code": "BranchFailed", "message": "[n0] n must be positive"}
    run = _run(Phases("RUNNING", "FAILED", error=error))
    with pytest.raises(ExecutionFailed) as caught:
        run.wait(poll=0)
    assert caught.value.phase is ExecutionPhase.FAILED
    assert caught.value.error is not None
    assert caught.value.error.code == "BranchFailed"
    assert "ended FAILED: BranchFailed: [n0] n must be positive" in str(caught.value)
    with pytest.raises(ExecutionFailed):
        _ = run.outputs


def test_wait_without_raising_and_with_a_timeout() -> None:
    aborted = _run(Phases("ABORTED", error={"kind": "USER", "code": "Aborted", "message": "stop"}))
    assert aborted.wait(poll=0, raise_on_failure=False).phase is ExecutionPhase.ABORTED

    stuck = _run(Phases("RUNNING"))
    with pytest.raises(TimeoutError, match="still RUNNING"):
        stuck.wait(timeout=0.05, poll=0.01)
    with pytest.raises(RunNotDone, match=r"run.wait\(\)"):
        _ = stuck.outputs


def test_remote_run_of_a_registered_launch_plan_name() -> None:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return _created()

    run = _remote(handler).run("workflows.example.wf", execution_name="x1", name="x")
    assert run.name == "x1"
    assert bodies[0]["launch_plan"] == {"name": "workflows.example.wf", "version": None}
    assert bodies[0]["inputs"] == {"name": "x"}
    assert bodies[0]["name"] == "x1"


def test_remote_run_of_a_local_workflow_registers_then_launches() -> None:
    wf = _example_wf()
    registered: list[tuple[str, str]] = []
    launches: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/v1/data_proxy/upload":
            digest = json.loads(request.content)["digest"]
            return httpx.Response(200, json={"uri": f"s3://bundles/{digest}", "exists": True})
        if path == "/api/v1/executions":
            launches.append(json.loads(request.content))
            return _created()
        body = json.loads(request.content)
        registered.append((path.rsplit("/", 1)[-1], body["identifier"]["version"]))
        if path == "/api/v1/tasks":
            assert body["spec"]["code"]["bundle"].startswith("s3://bundles/")
        return httpx.Response(201, json={**body, "digest": "d", "created": True})

    run = _remote(handler).run(wf, name="x", project="p1")
    versions = {version for _, version in registered}
    assert len(versions) == 1
    kinds = [kind for kind, _ in registered]
    assert kinds.index("workflows") > kinds.index("tasks")
    assert kinds.index("launch_plans") > kinds.index("workflows")
    assert launches == [
        {
            "project": "p1",
            "domain": "development",
            "name": None,
            "launch_plan": None,
            "workflow": {"name": "workflows.example.wf", "version": versions.pop()},
            "task": None,
            "inputs": {"name": "x"},
            "labels": {},
        }
    ]
    assert run.interface is not None


def test_remote_run_checks_inputs_before_registering() -> None:
    from contrail.task import InputError

    wf = _example_wf()

    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"nothing should be sent: {request.url}")

    with pytest.raises(InputError):
        _remote(handler).run(wf, name=3)

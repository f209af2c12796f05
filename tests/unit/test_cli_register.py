"""Registration logic without a stack: plans, versions, spec files, order, CLI errors."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from contrail.cli.main import app
from contrail.cli.register import success_line
from contrail.registration import (
    Outcome,
    Plan,
    Registrar,
    RegistrationFailed,
    check_version,
    compute_version,
    plan_of,
    read_spec_documents,
    with_bundle,
    with_image,
)
from contrail.remote import Conflict, Remote
from shared.identifiers import ResourceType
from shared.literals import SimpleType
from shared.specs import (
    CodeLocation,
    EntityRef,
    LaunchPlanSpec,
    Node,
    NodeKind,
    TaskSpec,
    TypedInterface,
    Variable,
    WorkflowSpec,
)

STR = SimpleType(kind="str")


def _task(name: str, image: str | None = None) -> TaskSpec:
    return TaskSpec(
        name=name,
        image=image,
        interface=TypedInterface(outputs={"o0": Variable(type=STR)}),
        code=CodeLocation(module="workflows.example", function=name.rsplit(".", 1)[-1]),
    )


def _workflow(name: str, task: str) -> WorkflowSpec:
    return WorkflowSpec(
        name=name,
        interface=TypedInterface(),
        nodes=[
            Node(
                id="n0",
                kind=NodeKind.TASK,
                task=EntityRef(resource_type=ResourceType.TASK, name=task),
            )
        ],
    )


def _plan() -> Plan:
    return plan_of(
        [_task("wf.a"), _task("wf.b", image="custom:1")],
        [_workflow("wf.sub", "wf.a"), _workflow("wf.main", "wf.b")],
        [
            LaunchPlanSpec(
                name="wf.nightly",
                workflow=EntityRef(resource_type=ResourceType.WORKFLOW, name="wf.main"),
            )
        ],
    )


def test_every_workflow_gets_a_default_launch_plan() -> None:
    plan = _plan()
    assert [lp.name for lp in plan.launch_plans] == ["wf.nightly", "wf.sub", "wf.main"]
    assert plan.launch_plans[1].workflow.name == "wf.sub"
    assert plan.count == 7


def test_image_only_where_none_is_set_and_bundle_on_python_tasks() -> None:
    plan = with_bundle(with_image(_plan(), "python:3.11"), "s3://contrail/bundles/x/bundle.tgz")
    assert [t.image for t in plan.tasks] == ["python:3.11", "custom:1"]
    assert {t.code.bundle for t in plan.tasks if t.code} == {"s3://contrail/bundles/x/bundle.tgz"}
    assert with_image(_plan(), None).tasks[0].image is None


def test_version_is_a_digest_of_bundle_and_specs() -> None:
    specs = _plan().specs()
    version = compute_version("a" * 64, specs)
    assert len(version) == 20
    assert version == compute_version("a" * 64, list(reversed(specs)))
    assert version != compute_version("b" * 64, specs)
    assert version != compute_version("a" * 64, with_image(_plan(), "other").specs())
    assert compute_version(None, specs) != version


def test_versions_are_checked_before_anything_is_sent() -> None:
    assert check_version("v1.2_3-a") == "v1.2_3-a"
    for bad in ("", "bad version!", "-leading", "x" * 129):
        with pytest.raises(RegistrationFailed, match="is not valid"):
            check_version(bad)


def test_success_line_is_pyflytes() -> None:
    assert success_line("workflows.example.say_hello", ResourceType.TASK, "abc123") == (
        "[✔] Registration workflows.example.say_hello type TASK successful with version abc123"
    )


def test_spec_documents_json_yaml_and_lists(tmp_path: Path) -> None:
    task = {"kind": "task", "spec": _task("wf.a").model_dump(mode="json")}
    workflow = {"kind": "workflow", "spec": _workflow("wf.w", "wf.a").model_dump(mode="json")}
    (tmp_path / "one.json").write_text(json.dumps(task))
    (tmp_path / "list.json").write_text(json.dumps([task, workflow]))
    (tmp_path / "multi.yaml").write_text(
        "kind: task\nspec: " + json.dumps(task["spec"]) + "\n---\nkind: launch_plan\n"
        "spec: {name: wf.w, workflow: {resource_type: workflow, name: wf.w}}\n"
    )
    assert [s.name for s in read_spec_documents(tmp_path / "one.json")] == ["wf.a"]
    assert [type(s) for s in read_spec_documents(tmp_path / "list.json")] == [
        TaskSpec,
        WorkflowSpec,
    ]
    assert [type(s) for s in read_spec_documents(tmp_path / "multi.yaml")] == [
        TaskSpec,
        LaunchPlanSpec,
    ]


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("bad.json", '{"kind": "task",\n "spec": }', "not valid JSON at line 2, column"),
        ("bad.yaml", "kind: task\nspec: [\n", "not valid YAML at line 3"),
        ("bad.yaml", "just a string\n", "expected a mapping with kind and spec"),
        ("bad.yaml", "kind: job\nspec: {}\n", "unknown kind 'job'"),
        ("bad.yaml", "kind: task\nspec: {name: '1bad'}\n", "not a valid task spec: spec."),
        ("dup.json", '{"kind": "task", "kind": "workflow"}', "key 'kind' is given twice"),
        (
            "dup.yaml",
            "kind: task\nspec:\n  name: a\n  name: b\n",
            "'name' is given twice (spec.name)",
        ),
        (
            "dup.yaml",
            "kind: task\nspec: {name: a}\n---\nkind: task\nkind: job\n",
            "'kind' is given",
        ),
        ("alias.yaml", "kind: task\nspec: &s {name: a}\nx: *s\n", "line 3, column 4: aliases"),
    ],
)
def test_bad_spec_documents_name_file_and_place(
    tmp_path: Path, name: str, text: str, problem: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(RegistrationFailed) as caught:
        read_spec_documents(path)
    assert str(caught.value).startswith(str(path))
    assert problem in str(caught.value)


def _recording_remote(refuse: str | None = None) -> tuple[Remote, list[tuple[str, str]]]:
    calls: list[tuple[str, str]] = []
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        name = body["identifier"]["name"]
        with lock:
            calls.append((request.url.path.rsplit("/", 1)[-1], name))
        if name == refuse:
            return httpx.Response(
                409,
                json={"error": {"code": "conflict", "message": "differs", "details": []}},
            )
        return httpx.Response(
            201, json={"identifier": body["identifier"], "digest": "d", "created": True}
        )

    return Remote("http://r.test", transport=httpx.MockTransport(handler)), calls


def test_tasks_then_workflows_in_order_then_launch_plans() -> None:
    remote, calls = _recording_remote()
    outcomes: list[Outcome] = []
    ok = Registrar(remote, "p", "d", "v1", outcomes.append).register_plan(_plan())
    assert ok
    kinds = [kind for kind, _ in calls]
    assert kinds == ["tasks"] * 2 + ["workflows"] * 2 + ["launch_plans"] * 3
    assert [name for kind, name in calls if kind == "workflows"] == ["wf.sub", "wf.main"]
    assert all(outcome.created for outcome in outcomes)


def test_a_refused_task_stops_before_the_workflows() -> None:
    remote, calls = _recording_remote(refuse="wf.b")
    outcomes: list[Outcome] = []
    ok = Registrar(remote, "p", "d", "v1", outcomes.append).register_plan(_plan())
    assert not ok
    assert {kind for kind, _ in calls} == {"tasks"}
    failed = [o for o in outcomes if o.error is not None]
    assert [o.name for o in failed] == ["wf.b"]
    assert isinstance(failed[0].error, Conflict)


# --- the command line, without a stack -------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CONTRAIL_CONFIG", str(tmp_path / "config.yaml"))
    (tmp_path / "config.yaml").write_text(
        f"admin:\n  endpoint: http://127.0.0.1:{_closed_port()}\n"
    )
    return CliRunner()


def test_unreachable_api_is_one_line_without_traceback(runner: CliRunner) -> None:
    result = runner.invoke(app, ["get", "tasks"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot reach the Contrail API at http://127.0.0.1:")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


def test_malformed_config_is_one_line(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("admin: [\n")
    result = runner.invoke(app, ["get", "workflows"])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {tmp_path / 'config.yaml'}: not valid YAML at line")


def test_bad_spec_file_is_reported_before_any_request(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text("kind: task\nspec: [\n")
    result = runner.invoke(app, ["register", "files", str(tmp_path / "spec.yaml")])
    assert result.exit_code == 1
    assert "not valid YAML at line 3" in result.stderr
    assert "Traceback" not in result.output


def test_bad_archive_names_the_member(runner: CliRunner, tmp_path: Path) -> None:
    import io
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        info = tarfile.TarInfo("../evil.py")
        tar.addfile(info, io.BytesIO(b""))
    (tmp_path / "evil.tgz").write_bytes(raw.getvalue())
    result = runner.invoke(app, ["register", "files", "--archive", str(tmp_path / "evil.tgz")])
    assert result.exit_code == 1
    assert "member '../evil.py' has a '..' component" in result.stderr


def test_usage_errors_exit_2(runner: CliRunner) -> None:
    assert runner.invoke(app, ["launchplan", "activate"]).exit_code == 2
    assert runner.invoke(app, ["register", "/no/such/folder"]).exit_code == 2
    assert runner.invoke(app, ["get", "tasks", "-o", "xml"]).exit_code == 2


def test_init_refuses_a_non_empty_folder(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "proj")])
    assert result.exit_code == 0, result.output
    written = sorted(
        str(p.relative_to(tmp_path / "proj")) for p in (tmp_path / "proj").rglob("*") if p.is_file()
    )
    assert written == [
        ".contrailignore",
        "README.md",
        "requirements.txt",
        "workflows/__init__.py",
        "workflows/example.py",
    ]
    assert "# proj" in (tmp_path / "proj" / "README.md").read_text()
    again = runner.invoke(app, ["init", str(tmp_path / "proj")])
    assert again.exit_code == 1
    assert "already exists and is not an empty folder" in again.stderr
    unknown = runner.invoke(app, ["init", str(tmp_path / "other"), "--template", "nope"])
    assert unknown.exit_code == 1
    assert "no template 'nope' (available: basic)" in unknown.stderr

"""``contrail register``, ``package``, ``register files``, ``get`` and ``launchplan``, end to end.

Each test runs the installed ``contrail`` command as a subprocess against the
stack's gateway, in a project of its own, and reads back what it registered.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.settings import StackSettings
from tests.auth import auth_headers

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CONTRAIL = REPO / ".venv" / "bin" / "contrail"
EXAMPLES = REPO / "examples"
LINE = re.compile(
    r"^\[✔\] Registration (?P<name>\S+) type (?P<kind>TASK|WORKFLOW|LAUNCH_PLAN) "
    r"successful with version (?P<version>\S+)$",
    re.MULTILINE,
)
TOTAL = re.compile(r"^Successfully registered (\d+) entities", re.MULTILINE)


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def registered(self) -> list[tuple[str, str, str]]:
        """(name, kind, version) of every success line."""
        return [(m["name"], m["kind"], m["version"]) for m in LINE.finditer(self.stdout)]


Run = Callable[..., Result]


def _project() -> str:
    """A new project, created as a user creates one (projects are never made implicitly)."""
    from contrail.remote import Remote

    name = f"e2e-{uuid.uuid4().hex[:10]}"
    with Remote(StackSettings().gateway_url) as remote:
        remote.create_project(name)
    return name


@pytest.fixture(scope="module")
def run(stack: StackSettings, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Run ``contrail ARGS...`` against the stack; a config file of its own, no user config."""
    config = tmp_path_factory.mktemp("config") / "config.yaml"
    config.write_text("")

    def run(*args: str | Path, cwd: Path = REPO, timeout: float = 120) -> Result:
        env = {
            **os.environ,
            "CONTRAIL_CONFIG": str(config),
            "CONTRAIL_ENDPOINT": stack.gateway_url,
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
        return Result(done.returncode, done.stdout, done.stderr)

    return run


def _no_traceback(result: Result) -> None:
    assert "Traceback" not in result.stdout + result.stderr


def _json(result: Result) -> Any:
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


@dataclass
class Registered:
    project: str
    version: str
    entities: list[tuple[str, str, str]]
    output: Result

    def names(self, kind: str) -> list[str]:
        return [name for name, k, _ in self.entities if k == kind]


@pytest.fixture(scope="module")
def registered(run: Run) -> Registered:
    """``contrail register examples/workflows`` into a new project."""
    project = _project()
    result = run("register", EXAMPLES / "workflows", "--project", project)
    assert result.code == 0, result.stdout + result.stderr
    entities = result.registered()
    versions = {version for _, _, version in entities}
    assert len(versions) == 1, versions
    return Registered(project, versions.pop(), entities, result)


def test_register_examples_prints_every_entity_and_the_total(registered: Registered) -> None:
    result = registered.output
    _no_traceback(result)
    kinds = [kind for _, kind, _ in registered.entities]
    assert kinds.count("TASK") >= 2
    assert kinds.count("WORKFLOW") >= 1
    assert kinds.count("LAUNCH_PLAN") >= kinds.count("WORKFLOW")
    # tasks, then workflows, then launch plans
    assert kinds == sorted(kinds, key=["TASK", "WORKFLOW", "LAUNCH_PLAN"].index)
    total = TOTAL.search(result.stdout)
    assert total is not None
    assert int(total.group(1)) == len(registered.entities)
    assert f"Computed version is {registered.version}" in result.stdout
    for name in ("workflows.example.say_hello", "workflows.example.greeting_length"):
        assert (name, "TASK", registered.version) in registered.entities
    assert ("workflows.example.wf", "WORKFLOW", registered.version) in registered.entities
    assert ("workflows.example.wf", "LAUNCH_PLAN", registered.version) in registered.entities


def test_registered_entities_are_visible_with_get(run: Run, registered: Registered) -> None:
    p = registered.project
    tasks = _json(run("get", "tasks", "--project", p, "-o", "json"))
    assert {t["identifier"]["name"] for t in tasks} == set(registered.names("TASK"))
    assert {t["identifier"]["version"] for t in tasks} == {registered.version}
    bundles = {t["spec"]["code"]["bundle"] for t in tasks if t["spec"].get("code")}
    assert len(bundles) == 1
    assert bundles.pop().startswith(f"s3://contrail/bundles/{p}/development/")

    workflow = _json(
        run(
            "get",
            "workflows",
            "workflows.example.wf",
            "--version",
            registered.version,
            "--project",
            p,
            "-o",
            "json",
        )
    )
    assert workflow["identifier"]["name"] == "workflows.example.wf"
    assert workflow["closure"]["primary"]["identifier"]["version"] == registered.version
    closure_tasks = {t["identifier"]["name"] for t in workflow["closure"]["tasks"]}
    assert {"workflows.example.say_hello", "workflows.example.greeting_length"} <= closure_tasks

    table = run("get", "workflows", "--project", p)
    assert table.code == 0, table.stderr
    assert "VERSION" in table.stdout
    assert "workflows.example.wf" in table.stdout

    as_yaml = run("get", "launchplans", "--project", p, "-o", "yaml")
    assert as_yaml.code == 0
    assert "workflows.example.wf" in as_yaml.stdout

    projects = _json(run("get", "projects", "-o", "json"))
    assert p in {project["name"] for project in projects}


def test_the_uploaded_bundle_holds_the_sources(
    run: Run, registered: Registered, stack: StackSettings
) -> None:
    tasks = _json(run("get", "tasks", "--project", registered.project, "-o", "json"))
    uri = next(t["spec"]["code"]["bundle"] for t in tasks if t["spec"].get("code"))
    url = httpx.get(
        f"{stack.gateway_url}/api/v1/data_proxy/download",
        params={"uri": uri},
        timeout=10,
        headers=auth_headers(),
    ).json()["url"]
    content = httpx.get(url, timeout=10).content
    with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as tar:
        names = tar.getnames()
    assert "workflows/example.py" in names
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)


def test_reregistering_the_same_version_changes_nothing(run: Run, registered: Registered) -> None:
    again = run("register", EXAMPLES / "workflows", "--project", registered.project)
    assert again.code == 0, again.stderr
    assert f"Computed version is {registered.version}" in again.stdout
    assert again.registered() == []  # no line per unchanged entity: one says it
    count = len(registered.entities)
    assert (
        f"Nothing changed: the {count} entities are registered already "
        f"with version {registered.version}"
    ) in again.stdout


def test_package_then_register_files(run: Run, tmp_path: Path) -> None:
    archive = tmp_path / "contrail-package.tgz"
    packaged = run("package", "--pkgs", EXAMPLES / "workflows", "-o", archive)
    assert packaged.code == 0, packaged.stderr
    assert "Successfully packaged" in packaged.stdout
    refused = run("package", "--pkgs", EXAMPLES / "workflows", "-o", archive)
    assert refused.code == 1
    assert "use --force" in refused.stderr

    project = _project()
    result = run(
        "register",
        "files",
        "--archive",
        archive,
        "--project",
        project,
        "--domain",
        "staging",
        "--version",
        "from-archive",
    )
    assert result.code == 0, result.stdout + result.stderr
    entities = result.registered()
    assert entities
    assert {version for _, _, version in entities} == {"from-archive"}
    assert TOTAL.search(result.stdout) is not None

    tasks = _json(run("get", "tasks", "--project", project, "--domain", "staging", "-o", "json"))
    assert {t["identifier"]["name"] for t in tasks} == {n for n, k, _ in entities if k == "TASK"}
    assert all(
        t["spec"]["code"]["bundle"].startswith(f"s3://contrail/bundles/{project}/staging/")
        for t in tasks
        if t["spec"].get("code")
    )


def test_launch_plan_activate_and_deactivate(run: Run, registered: Registered) -> None:
    p, v = registered.project, registered.version
    name = "workflows.example.wf"
    activated = run("launchplan", "activate", name, "--version", v, "--project", p)
    assert activated.code == 0, activated.stderr
    assert "is now ACTIVE" in activated.stdout
    shown = _json(run("get", "launchplans", name, "--version", v, "--project", p, "-o", "json"))
    assert shown["state"] == "ACTIVE"
    deactivated = run("launchplan", "deactivate", name, "--version", v, "--project", p)
    assert deactivated.code == 0, deactivated.stderr
    assert "is now INACTIVE" in deactivated.stdout
    missing = run("launchplan", "activate", "no.such.plan", "--version", v, "--project", p)
    assert missing.code == 1
    assert missing.stderr.startswith("error: ")
    _no_traceback(missing)


def test_a_bad_archive_is_refused_naming_the_member(run: Run, tmp_path: Path) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        info = tarfile.TarInfo("specs/link")
        info.type = tarfile.SYMTYPE
        info.linkname = "../../../etc/passwd"
        tar.addfile(info)
    archive = tmp_path / "bad.tgz"
    archive.write_bytes(raw.getvalue())
    result = run("register", "files", "--archive", archive, "--project", _project())
    assert result.code == 1
    assert "member 'specs/link' is a symbolic link" in result.stderr
    assert "outside the archive root" in result.stderr
    _no_traceback(result)


def test_an_import_error_names_file_and_line(run: Run, tmp_path: Path) -> None:
    copy = tmp_path / "examples"
    shutil.copytree(EXAMPLES, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "workflows" / "broken.py").write_text(
        '"""A module that does not import."""\n\nimport no_such_module_anywhere  # line 3\n'
    )
    result = run("register", copy / "workflows", "--project", _project())
    assert result.code == 1
    assert "broken.py" in result.stderr
    assert re.search(r"broken\.py(:| line |, line )3\b", result.stderr), result.stderr
    _no_traceback(result)


def test_a_workflow_that_does_not_compile_lists_node_and_input(run: Run, tmp_path: Path) -> None:
    spec = tmp_path / "wf.yaml"
    spec.write_text(
        "kind: workflow\n"
        "spec:\n"
        "  name: broken.wf\n"
        "  interface: {}\n"
        "  nodes:\n"
        "    - id: n0\n"
        "      kind: task\n"
        "      task: {resource_type: task, name: no.such.task}\n"
    )
    result = run("register", "files", spec, "--project", _project(), "--version", "v1")
    assert result.code == 1
    assert "[✘] Registration broken.wf type WORKFLOW failed" in result.stdout
    assert "n0" in result.stderr
    assert "compile_error" in result.stderr
    _no_traceback(result)


def test_a_different_spec_under_the_same_version_is_a_conflict(run: Run, tmp_path: Path) -> None:
    project = _project()

    def task(retries: int) -> Path:
        path = tmp_path / f"task{retries}.json"
        path.write_text(
            json.dumps(
                {
                    "kind": "task",
                    "spec": {
                        "name": "files.task",
                        "interface": {},
                        "command": ["echo", "hi"],
                        "retries": retries,
                    },
                }
            )
        )
        return path

    first = run("register", "files", task(0), "--project", project, "--version", "v1")
    assert first.code == 0, first.stderr
    assert ("files.task", "TASK", "v1") in first.registered()
    second = run("register", "files", task(3), "--project", project, "--version", "v1")
    assert second.code == 1
    assert "retries" in second.stderr
    assert "registered 0, submitted 3" in second.stderr
    _no_traceback(second)


def test_init_then_register_the_new_project(run: Run, tmp_path: Path) -> None:
    created = run("init", tmp_path / "hello")
    assert created.code == 0, created.stderr
    result = run("register", tmp_path / "hello" / "workflows", "--project", _project())
    assert result.code == 0, result.stdout + result.stderr
    names = {name for name, _, _ in result.registered()}
    assert {"workflows.example.say_hello", "workflows.example.wf"} <= names

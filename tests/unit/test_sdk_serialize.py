"""Loading a project and serializing it: names, order, default launch plans, determinism."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

from contrail.serialize import (
    Entities,
    UserCodeError,
    collect,
    find_project_root,
    load_modules,
)
from shared.identifiers import ResourceType
from shared.specs import EntityRef, canonical_json

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


@pytest.fixture(scope="module")
def example_modules() -> list[ModuleType]:
    return load_modules([EXAMPLES / "workflows"], find_project_root(EXAMPLES / "workflows"))


def _write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def test_find_project_root_walks_up_while_init_exists(tmp_path: Path) -> None:
    assert find_project_root(EXAMPLES / "workflows" / "example.py") == EXAMPLES
    assert find_project_root(EXAMPLES / "workflows") == EXAMPLES
    assert find_project_root(EXAMPLES) == EXAMPLES
    _write(tmp_path, {"a/__init__.py": "", "a/b/__init__.py": "", "a/b/c.py": ""})
    assert find_project_root(tmp_path / "a" / "b" / "c.py") == tmp_path.resolve()


def test_modules_are_named_from_the_root(example_modules: list[ModuleType]) -> None:
    names = [m.__name__ for m in example_modules]
    assert names[0] == "workflows"
    assert "workflows.example" in names
    assert names == sorted(names)


def test_collect_on_examples(example_modules: list[ModuleType]) -> None:
    entities = collect(example_modules)
    assert isinstance(entities, Entities)
    assert "workflows.example.say_hello" in entities.tasks
    assert "workflows.example.greeting_length" in entities.tasks
    assert list(entities.tasks) == sorted(entities.tasks)
    assert list(entities.launch_plans) == sorted(entities.launch_plans)
    workflows = list(entities.workflows)
    assert {
        "workflows.example.wf",
        "workflows.records.invoice_wf",
        "workflows.mapping.sum_of_squares",
        "workflows.branching.classify",
        "workflows.subworkflow.loud_greeting",
        "workflows.resilient.daily_report",
        "workflows.scheduled.hourly_report",
    } <= set(workflows)
    assert workflows.index("workflows.example.wf") < workflows.index(
        "workflows.subworkflow.loud_greeting"
    )
    # Every workflow has its default launch plan, named like it; plus the scheduled one.
    for name in workflows:
        plan = entities.launch_plans[name]
        assert plan.workflow == EntityRef(resource_type=ResourceType.WORKFLOW, name=name)
        assert plan.schedule is None
        assert plan.default_inputs == {}
    hourly = entities.launch_plans["workflows.scheduled.hourly"]
    assert hourly.schedule is not None
    assert hourly.schedule.cron == "0 * * * *"
    assert hourly.schedule.kickoff_time_input == "kickoff"
    assert [n.channel.value for n in hourly.notifications] == ["email", "slack"]
    assert hourly.default_inputs == {"team": "platform"}
    # References carry only kind and name: the registry fills in the rest.
    node = entities.workflows["workflows.example.wf"].nodes[0]
    assert node.task == EntityRef(
        resource_type=ResourceType.TASK, name="workflows.example.say_hello"
    )
    assert len(entities) == len(entities.tasks) + len(workflows) + len(entities.launch_plans)


def test_the_example_workflow_spec(example_modules: list[ModuleType]) -> None:
    wf = collect(example_modules).workflows["workflows.example.wf"]
    assert wf.interface.inputs["name"].default == "union"
    assert wf.interface.inputs["name"].required is False
    assert [n.id for n in wf.nodes] == ["n0", "n1"]
    assert list(wf.outputs) == ["o0", "o1"]


_DIGEST = """
import hashlib, sys
from pathlib import Path
from contrail.serialize import collect, find_project_root, load_modules
from shared.specs import canonical_json
path = Path(sys.argv[1])
entities = collect(load_modules([path], find_project_root(path)))
out = hashlib.sha256()
for group in (entities.tasks, entities.workflows, entities.launch_plans):
    for name, spec in group.items():
        out.update(name.encode() + b"\\0" + canonical_json(spec) + b"\\0")
print(out.hexdigest())
"""


def test_serialization_is_byte_identical_across_processes(
    example_modules: list[ModuleType],
) -> None:
    digests = set()
    for seed in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-c", _DIGEST, str(EXAMPLES / "workflows")],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
        )
        digests.add(done.stdout.strip())
    assert len(digests) == 1
    again = collect(example_modules)
    assert canonical_json(again.workflows["workflows.branching.classify"]) == canonical_json(
        collect(example_modules).workflows["workflows.branching.classify"]
    )


def test_sub_workflows_come_before_their_parents(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "ordpkg/__init__.py": "",
            "ordpkg/a.py": """
                from contrail import workflow
                from ordpkg.z import child

                @workflow
                def parent(x: int) -> int:
                    return child(x=x)
            """,
            "ordpkg/z.py": """
                from contrail import task, workflow

                @task
                def inc(x: int) -> int:
                    return x + 1

                @workflow
                def child(x: int) -> int:
                    return inc(x=x)
            """,
        },
    )
    entities = collect(load_modules([tmp_path / "ordpkg" / "a.py"], tmp_path))
    assert list(entities.workflows) == ["ordpkg.z.child", "ordpkg.a.parent"]
    assert list(entities.tasks) == ["ordpkg.z.inc"]
    assert list(entities.launch_plans) == ["ordpkg.a.parent", "ordpkg.z.child"]


def test_import_error_names_file_and_line(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "brokenpkg/__init__.py": "",
            "brokenpkg/broken.py": "import os\n\nvalue = x + 1\n",
        },
    )
    with pytest.raises(UserCodeError) as caught:
        load_modules([tmp_path / "brokenpkg"], tmp_path)
    assert str(caught.value).endswith("broken.py:3: NameError: name 'x' is not defined")


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    _write(tmp_path, {"synpkg/__init__.py": "", "synpkg/bad.py": "x = 1\ndef (:\n"})
    with pytest.raises(UserCodeError, match=r"bad\.py:2: SyntaxError"):
        load_modules([tmp_path / "synpkg"], tmp_path)


def test_definition_error_at_import_names_file_and_line(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "defpkg/__init__.py": "",
            "defpkg/tasks.py": """
                from contrail import task

                @task
                def bad(x: set[int]) -> int:
                    return 0
            """,
        },
    )
    with pytest.raises(UserCodeError) as caught:
        load_modules([tmp_path / "defpkg"], tmp_path)
    message = str(caught.value)
    assert "tasks.py:4: DefinitionError" in message
    assert "defpkg.tasks.bad" in message
    assert "parameter 'x'" in message


def test_hidden_dirs_and_pycache_are_skipped(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "hidpkg/__init__.py": "",
            "hidpkg/ok.py": "",
            "hidpkg/.hidden/bad.py": "raise RuntimeError('imported')\n",
            "hidpkg/__pycache__/bad.py": "raise RuntimeError('imported')\n",
        },
    )
    modules = load_modules([tmp_path / "hidpkg"], tmp_path)
    assert [m.__name__ for m in modules] == ["hidpkg", "hidpkg.ok"]


def test_a_path_outside_the_root_or_missing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UserCodeError, match="no such file"):
        load_modules([tmp_path / "missing"], tmp_path)
    _write(tmp_path, {"inside/x.py": "", "other/y.py": ""})
    with pytest.raises(UserCodeError, match="not under the project root"):
        load_modules([tmp_path / "other" / "y.py"], tmp_path / "inside")


def test_a_task_defined_inside_a_function_is_refused(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "nestpkg/__init__.py": "",
            "nestpkg/nested.py": """
                from contrail import task, workflow

                def make():
                    @task
                    def inner(x: int) -> int:
                        return x
                    return inner

                inner = make()

                @workflow
                def uses(x: int) -> int:
                    return inner(x=x)
            """,
        },
    )
    modules = load_modules([tmp_path / "nestpkg"], tmp_path)
    with pytest.raises(UserCodeError, match=r"nested\.py:5.*top level of a module"):
        collect(modules)


def test_the_registry_compiles_the_examples(example_modules: list[ModuleType]) -> None:
    """A contract test: what the SDK writes is what the registry's compiler accepts."""
    from services.registry.domain import compiler
    from services.registry.domain import launch_plans as plans
    from shared.identifiers import Identifier
    from shared.specs import WorkflowClosure

    def identifier(kind: ResourceType, name: str) -> Identifier:
        return Identifier(
            resource_type=kind, project="p", domain="development", name=name, version="v1"
        )

    entities = collect(example_modules)
    tasks = {identifier(ResourceType.TASK, name): spec for name, spec in entities.tasks.items()}
    closures: dict[Identifier, WorkflowClosure] = {}
    for name, spec in entities.workflows.items():
        wf_id = identifier(ResourceType.WORKFLOW, name)
        closures[wf_id] = compiler.compile_workflow(wf_id, spec, tasks, closures)
    for plan in entities.launch_plans.values():
        assert plans.check_launch_plan(plan, entities.workflows[plan.workflow.name]) == []

"""Every example workflow runs locally with real outputs; ``contrail run`` runs them too."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from contrail import ExecutionFailed, InputError
from contrail.cli.run import register_run_command
from contrail.serialize import find_project_root, load_modules

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
EXAMPLE = EXAMPLES / "workflows" / "example.py"


@pytest.fixture(scope="module")
def examples() -> dict[str, ModuleType]:
    modules = load_modules([EXAMPLES / "workflows"], find_project_root(EXAMPLES))
    return {m.__name__.removeprefix("workflows."): m for m in modules}


def entity(examples: dict[str, ModuleType], module: str, name: str) -> Callable[..., Any]:
    found: Callable[..., Any] = getattr(examples[module], name)
    return found


# --- local runs, from Python ----------------------------------------------------


def test_example_wf(examples: dict[str, ModuleType]) -> None:
    wf = entity(examples, "example", "wf")
    assert wf(name="x") == ("Hello, x!", 9)
    assert wf() == ("Hello, union!", 13)
    assert entity(examples, "example", "say_hello")(name="x") == "Hello, x!"
    assert entity(examples, "example", "greeting_length")(greeting="abc") == 3


def test_records(examples: dict[str, ModuleType]) -> None:
    module = examples["records"]
    invoice = entity(examples, "records", "invoice_wf")()
    assert invoice == module.Invoice(item="widget", total=135.0, discounted=True)
    small = module.Order(item="nut", quantity=2, unit_price=1.5)
    assert entity(examples, "records", "invoice_wf")(order=small) == module.Invoice(
        item="nut", total=3.0, discounted=False
    )
    with pytest.raises(InputError, match="input 'order'"):
        entity(examples, "records", "invoice_wf")(order={"item": "nut"})


def test_mapping(examples: dict[str, ModuleType]) -> None:
    assert entity(examples, "mapping", "sum_of_squares")() == 30
    assert entity(examples, "mapping", "sum_of_squares")(xs=[]) == 0
    assert entity(examples, "mapping", "inverses")() == [1.0, 0.5, None, 0.25, 0.2]
    with pytest.raises(ExecutionFailed, match="min_success_ratio"):
        entity(examples, "mapping", "inverses")(xs=[0, 0, 1])


def test_branching(examples: dict[str, ModuleType]) -> None:
    classify = entity(examples, "branching", "classify")
    assert classify(n=1) == "2 is small"
    assert classify() == "6 is medium"
    assert classify(n=10) == "20 is large"
    assert entity(examples, "branching", "only_positive")(n=4) == "4 is small"
    with pytest.raises(ExecutionFailed, match="n must be positive"):
        entity(examples, "branching", "only_positive")(n=-4)


def test_subworkflow(examples: dict[str, ModuleType]) -> None:
    assert entity(examples, "subworkflow", "loud_greeting")() == "HELLO, CONTRAIL! (16)"


def test_resilient(examples: dict[str, ModuleType]) -> None:
    assert entity(examples, "resilient", "daily_report")(day="d") == "3 rows, first d:0"


def test_scheduled(examples: dict[str, ModuleType]) -> None:
    kickoff = datetime(2024, 6, 1, 9, 30, tzinfo=UTC)
    assert entity(examples, "scheduled", "hourly")(kickoff=kickoff) == (
        "platform report for 2024-06-01 09:30"
    )
    assert entity(examples, "scheduled", "hourly_report")(kickoff=kickoff) == (
        "data report for 2024-06-01 09:30"
    )


# --- contrail run ---------------------------------------------------------------

app = typer.Typer(pretty_exceptions_enable=False)


@app.callback()
def _root() -> None:
    """The run command alone, as ``contrail`` mounts it."""


register_run_command(app)
runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["run", *args])
    return result.exit_code, result.stdout, result.stderr


def test_run_prints_outputs() -> None:
    code, out, err = run(str(EXAMPLE), "wf", "--name", "x")
    assert code == 0, err
    assert "Hello, x!" in out
    assert "9" in out


ORDER = '{"item": "a", "quantity": 1, "unit_price": 2}'


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("records.py invoice_wf --order", '"total": 2.0'),
        ("mapping.py sum_of_squares --xs [1,2]", "5"),
        ("branching.py classify --n 9", "18 is medium"),
        ("scheduled.py hourly --kickoff 2024-06-01T09:00:00Z", "platform report"),
        ("scheduled.py hourly_report --kickoff 2024-06-01T09:00 --team t", "t report"),
        ("example.py say_hello --name=y", "Hello, y!"),
    ],
)
def test_run_reads_inputs_by_type(args: str, expected: str) -> None:
    file, *rest = args.split()
    if rest[-1] == "--order":
        rest.append(ORDER)
    code, out, err = run(str(EXAMPLES / "workflows" / file), *rest)
    assert code == 0, err
    assert expected in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("example.py nope", "no task, workflow or launch plan named 'nope'"),
        ("example.py wf --nme x", "unknown input --nme"),
        ("example.py greeting_length --greeting", "missing value"),
        ("example.py wf --name a --name b", "given twice"),
        ("example.py wf stray", "unexpected argument 'stray'"),
        ("mapping.py sum_of_squares --xs [1,", "--xs"),
        ("branching.py classify --n two", "expected an int"),
        ("branching.py only_positive --n -1", "n must be positive"),
        ("missing.py wf", "no such file"),
    ],
)
def test_run_errors_are_one_line(args: str, message: str) -> None:
    file, *rest = args.split()
    code, out, err = run(str(EXAMPLES / "workflows" / file), *rest)
    assert code == 1
    assert message in err
    assert "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1


def test_run_shows_the_tail_of_a_user_exception() -> None:
    code, _, err = run(str(EXAMPLES / "workflows" / "mapping.py"), "checked_inverse", "--x", "0")
    assert code == 1
    assert "ZeroDivisionError: no inverse of 0" in err
    assert 'mapping.py", line' in err
    assert "in checked_inverse" in err
    assert "Traceback" not in err


def test_contrail_run_command_in_a_subprocess() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "contrail.cli.main", "run", str(EXAMPLE), "wf", "--name", "x"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Hello, x!" in done.stdout

"""``@task``: interfaces read from signatures, options, decoration errors, specs."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

import pytest

from contrail import DefinitionError, Resources, TaskEnvironment, task
from contrail.resources import ResourcesError, parse_cpu, parse_memory
from shared.literals import FLOAT, INT, STR, ListType, RecordType, optional
from shared.specs import CodeLocation, Parameter, Variable

# --- interfaces -------------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Point:
    x: float
    y: float


class Stats(NamedTuple):
    mean: float
    n: int


@task
def add(a: int, b: int = 2) -> int:
    """Add two numbers."""
    return a + b


@task
def stats(values: list[float]) -> Stats:
    return Stats(mean=sum(values) / len(values), n=len(values))


@task
def split(text: str) -> tuple[str, int]:
    return text, len(text)


@task
def nothing(p: Point, color: Color | None = None) -> None:
    return None


def test_single_output_is_o0_and_defaults_are_literals() -> None:
    interface = add.spec().interface
    assert interface.inputs == {
        "a": Parameter(type=INT),
        "b": Parameter(type=INT, default=2, required=False),
    }
    assert interface.outputs == {"o0": Variable(type=INT)}


def test_named_tuple_gives_named_outputs() -> None:
    outputs = stats.spec().interface.outputs
    assert list(outputs) == ["mean", "n"]
    assert outputs["mean"].type == FLOAT
    assert stats.spec().interface.inputs["values"].type == ListType(item=FLOAT)


def test_tuple_gives_o0_o1() -> None:
    outputs = split.spec().interface.outputs
    assert {name: v.type for name, v in outputs.items()} == {"o0": STR, "o1": INT}


def test_none_gives_no_outputs_and_records_and_enums_map() -> None:
    interface = nothing.spec().interface
    assert interface.outputs == {}
    point = interface.inputs["p"].type
    assert isinstance(point, RecordType)
    assert point.name.endswith("Point")
    color = interface.inputs["color"]
    assert color.required is False
    assert color.default is None


def test_task_spec_names_module_and_function() -> None:
    spec = add.spec()
    assert spec.name == f"{__name__}.add"
    assert spec.code == CodeLocation(module=__name__, function="add")
    assert spec.description == "Add two numbers."
    assert spec.image is None
    assert spec.retries == 0
    assert spec.cache is False


# --- decoration errors --------------------------------------------------------------


def test_unmappable_annotation_names_function_file_line_and_parameter() -> None:
    with pytest.raises(DefinitionError) as caught:

        @task
        def bad(x: set[int]) -> int:
            return 0

    message = str(caught.value)
    assert "test_sdk_task.test_unmappable_annotation_names_function_file_line_and_parameter" in (
        message
    )
    assert ".bad" in message
    assert "test_sdk_task.py:" in message
    assert "parameter 'x'" in message


def test_missing_annotation_is_an_error() -> None:
    with pytest.raises(DefinitionError, match="parameter 'x' has no type annotation"):

        @task
        def bad(x) -> int:  # type: ignore[no-untyped-def]
            return 0


def test_missing_return_annotation_is_an_error() -> None:
    with pytest.raises(DefinitionError, match="return has no type annotation"):

        @task
        def bad(x: int):  # type: ignore[no-untyped-def]
            return x


def test_unmappable_return_names_return() -> None:
    with pytest.raises(DefinitionError, match=r"return: .*object"):

        @task
        def bad(x: int) -> object:
            return x


def test_default_of_the_wrong_type_is_an_error() -> None:
    with pytest.raises(DefinitionError, match="parameter 'x': the default 'a'"):

        @task
        def bad(x: int = "a") -> int:  # type: ignore[assignment]
            return x


def test_varargs_are_refused() -> None:
    with pytest.raises(DefinitionError, match=r"\*args"):

        @task
        def bad(*xs: int) -> int:
            return 0


def test_cache_needs_a_cache_version() -> None:
    with pytest.raises(DefinitionError, match="cache=True needs a cache_version"):

        @task(cache=True)
        def bad(x: int) -> int:
            return x


def test_bad_options_are_refused() -> None:
    with pytest.raises(DefinitionError, match="retries"):

        @task(retries=-1)
        def bad_retries(x: int) -> int:
            return x

    with pytest.raises(DefinitionError, match="timeout"):

        @task(timeout=0)
        def bad_timeout(x: int) -> int:
            return x

    with pytest.raises(DefinitionError, match=r"limit .* below the request"):

        @task(requests=Resources(cpu=2), limits=Resources(cpu=1))
        def bad_limits(x: int) -> int:
            return x


def test_task_defined_in_a_function_runs_but_does_not_serialize() -> None:
    @task
    def local(x: int) -> int:
        return x + 1

    assert local(x=1) == 2
    with pytest.raises(DefinitionError, match="top level of a module"):
        local.spec()


# --- options ----------------------------------------------------------------------


@task(
    requests=Resources(cpu="500m", memory="512Mi"),
    limits=Resources(cpu=1, memory="1Gi"),
    retries=3,
    timeout=timedelta(minutes=2),
    cache=True,
    cache_version="v1",
    image="ghcr.io/acme/app:1",
    environment={"B": "2", "A": "1"},
)
def configured(x: int) -> int:
    return x


def test_options_go_to_the_spec() -> None:
    spec = configured.spec()
    assert spec.resources.requests.cpu == 0.5
    assert spec.resources.requests.memory_bytes == 512 * 2**20
    assert spec.resources.limits.cpu == 1.0
    assert spec.resources.limits.memory_bytes == 2**30
    assert spec.retries == 3
    assert spec.timeout_seconds == 120.0
    assert spec.cache is True
    assert spec.cache_version == "v1"
    assert spec.image == "ghcr.io/acme/app:1"
    assert list(spec.environment) == ["A", "B"]


env = TaskEnvironment(
    "etl",
    image="img:1",
    resources=Resources(cpu=1, memory="1G"),
    environment={"LEVEL": "info", "REGION": "eu"},
    retries=2,
)


@env.task
def from_env(x: int) -> int:
    return x


@env.task(retries=5, environment={"LEVEL": "debug"}, image="img:2")
def overridden(x: int) -> int:
    return x


def test_task_environment_defaults_and_overrides() -> None:
    spec = from_env.spec()
    assert spec.image == "img:1"
    assert spec.retries == 2
    assert spec.resources.requests.cpu == 1.0
    assert spec.resources.limits.cpu == 1.0
    assert spec.resources.requests.memory_bytes == 10**9
    assert spec.environment == {"LEVEL": "info", "REGION": "eu"}
    own = overridden.spec()
    assert own.retries == 5
    assert own.image == "img:2"
    assert own.environment == {"LEVEL": "debug", "REGION": "eu"}
    assert env.tasks == [from_env, overridden]
    assert from_env(x=3) == 3


def test_task_environment_refuses_resources_with_requests() -> None:
    with pytest.raises(DefinitionError, match="not both"):
        TaskEnvironment("x", resources=Resources(cpu=1), requests=Resources(cpu=1))


# --- resources ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "cores"), [("500m", 0.5), ("2", 2.0), (0.5, 0.5), (1, 1.0), ("1.5", 1.5)]
)
def test_cpu_quantities(value: str | float, cores: float) -> None:
    assert parse_cpu(value) == cores


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("512Mi", 512 * 2**20),
        ("1Gi", 2**30),
        ("1G", 10**9),
        ("1000M", 10**9),
        (1024, 1024),
        ("1.5Gi", 3 * 2**29),
    ],
)
def test_memory_quantities(value: str | int, size: int) -> None:
    assert parse_memory(value) == size


@pytest.mark.parametrize("value", ["lots", "1Xi", "-1", "1.2.3"])
def test_bad_memory_is_a_clear_error(value: str) -> None:
    with pytest.raises(ResourcesError, match="memory"):
        parse_memory(value)


def test_bad_cpu_is_a_clear_error() -> None:
    with pytest.raises(ResourcesError, match="cpu"):
        Resources(cpu="fast")
    with pytest.raises(ResourcesError, match="cpu"):
        parse_cpu(-1)


# --- local runs -------------------------------------------------------------------


def test_tasks_run_locally_with_type_checks() -> None:
    from contrail import InputError, OutputError

    assert add(a=1) == 3
    assert add(1, 5) == 6
    assert stats(values=[1.0, 3.0]) == Stats(mean=2.0, n=2)
    assert split(text="abc") == ("abc", 3)
    assert nothing(p=Point(x=1, y=2)) is None
    with pytest.raises(InputError, match=r"input 'a' \(int\)"):
        add(a="x")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="missing input 'a'"):
        add()  # type: ignore[call-arg]

    @task
    def liar(x: int) -> int:
        return "not an int"  # type: ignore[return-value]

    with pytest.raises(OutputError, match=r"output 'o0' \(int\)"):
        liar(x=1)


def test_optional_output_type() -> None:
    @task
    def maybe(x: int) -> int | None:
        return None if x < 0 else x

    assert maybe(x=-1) is None
    assert maybe.interface.outputs["o0"].type == optional(INT)

"""What the CLI prints: documents, tables and errors (one line, no traceback)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import typer
import yaml
from rich.console import Console

from contrail.cli import output
from contrail.cli.get import entity_document, launch_plan_row, task_row, workflow_row
from contrail.cli.output import (
    CLIError,
    OutputFormat,
    describe_error,
    format_size,
    format_time,
    make_table,
    render_document,
    reported_errors,
)
from contrail.config import ConfigError
from contrail.remote import Conflict, Entity, InvalidRequest, NotFound, ServerUnavailable
from shared.identifiers import Identifier, ResourceType

CREATED = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def _entity(resource_type: ResourceType, spec: dict[str, object], **extra: object) -> Entity:
    return Entity(
        identifier=Identifier(
            resource_type=resource_type,
            project="flytesnacks",
            domain="development",
            name="workflows.example.wf",
            version="abc",
        ),
        digest="d" * 64,
        created_at=CREATED,
        spec=spec,
        **extra,
    )


def test_documents_are_plain_json_and_yaml() -> None:
    data = {"name": "ü", "items": [1, 2]}
    assert json.loads(render_document(data, OutputFormat.JSON)) == data
    assert yaml.safe_load(render_document(data, OutputFormat.YAML)) == data
    assert render_document(data, OutputFormat.YAML).startswith("name: ü\n")


def test_rows_by_kind() -> None:
    interface: dict[str, object] = {"inputs": {"name": {}}, "outputs": {"o0": {}, "o1": {}}}
    task = _entity(ResourceType.TASK, {"interface": interface, "code": {"module": "m"}})
    assert task_row(task) == [
        "abc",
        "workflows.example.wf",
        "python",
        "name",
        "o0, o1",
        "2025-01-02 03:04:05Z",
    ]
    workflow = _entity(ResourceType.WORKFLOW, {"interface": interface, "nodes": [{}, {}]})
    assert workflow_row(workflow)[2:5] == ["name", "o0, o1", "2"]
    plan = _entity(
        ResourceType.LAUNCH_PLAN,
        {"workflow": {"name": "wf"}, "schedule": {"cron": "0 * * * *"}},
        state="ACTIVE",
    )
    assert launch_plan_row(plan)[2:5] == ["ACTIVE", "wf", "0 * * * *"]
    document = entity_document(plan)
    assert document["identifier"]["resource_type"] == "launch_plan"
    assert document["state"] == "ACTIVE"
    assert "closure" not in document


def test_table_renders_every_cell() -> None:
    console = Console(width=200, record=True)
    console.print(make_table(["VERSION", "NAME"], [["v1", "[bold]not markup"]]))
    text = console.export_text()
    assert "VERSION" in text
    assert "[bold]not markup" in text


def test_times_and_sizes() -> None:
    assert format_time(None) == "-"
    assert format_time(CREATED) == "2025-01-02 03:04:05Z"
    assert format_size(999) == "999 B"
    assert format_size(12_345) == "12.3 kB"
    assert format_size(3_100_000) == "3.1 MB"


def test_compile_errors_list_node_and_input() -> None:
    error = InvalidRequest(
        "workflow workflows.example.wf does not compile",
        status=400,
        code="compile_error",
        details=[
            {"code": "unbound_input", "node": "n1", "input": "greeting", "message": "not bound"},
            {"code": "cycle", "node": "n2", "input": None, "message": "n2 -> n3 -> n2"},
        ],
    )
    headline, details = describe_error(error)
    assert headline == "workflow workflows.example.wf does not compile (compile_error)"
    assert details == [
        "node n1, input greeting: not bound [unbound_input]",
        "node n2: n2 -> n3 -> n2 [cycle]",
    ]


def test_conflicts_say_what_differs() -> None:
    error = Conflict(
        "task t version v exists with a different spec",
        status=409,
        code="conflict",
        details=[{"path": "retries", "registered": 0, "submitted": 3}],
    )
    headline, details = describe_error(error)
    assert headline.endswith("what differs:")
    assert details == ["retries: registered 0, submitted 3"]
    assert error.differences == error.details


def test_validation_details_name_the_field() -> None:
    error = InvalidRequest(
        "bad", status=400, code="invalid_request", details=[{"field": "spec.name", "message": "x"}]
    )
    assert describe_error(error)[1] == ["spec.name: x"]


@pytest.mark.parametrize(
    "error",
    [
        CLIError("contrail-package.tgz exists; use --force"),
        ConfigError("/home/u/.contrail/config.yaml: not valid YAML at line 1, column 8"),
        NotFound("no task flytesnacks/development/x/v1", status=404, code="not_found"),
        ServerUnavailable("cannot reach the Contrail API at http://127.0.0.1:1: refused"),
    ],
)
def test_user_errors_print_one_red_line_and_exit_1(
    error: Exception, monkeypatch: pytest.MonkeyPatch
) -> None:
    console = Console(width=300, record=True, color_system=None)
    monkeypatch.setattr(output, "errors", console)
    with pytest.raises(typer.Exit) as caught, reported_errors():
        raise error
    assert caught.value.exit_code == 1
    text = console.export_text()
    assert text.startswith("error: ")
    assert str(error).split(" (")[0] in text
    assert "Traceback" not in text
    assert text.count("\n") == 1


def test_bugs_are_not_hidden() -> None:
    with pytest.raises(ZeroDivisionError), reported_errors():
        _ = 1 / 0

"""The one error model: each ``ServiceError`` answers its own status and code, one handler."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.launcher.adapters.registry import RegistryClient, RegistryUnavailable
from services.launcher.service_layer import errors as launcher_errors
from services.launcher.service_layer.launch import Target, resolve_inputs
from services.openapi import document
from services.registry.domain.errors import CompilationFailed, CompileError
from services.registry.service_layer import errors as registry_errors
from shared.errors import ServiceError
from shared.literals import INT, STR, ListType
from shared.service.errors import install_error_handlers
from shared.specs import Parameter, TypedInterface, WorkflowClosure


class Teapot(registry_errors.RegistryError):
    """A subclass the handler has never heard of."""

    status = 418
    code = "teapot"


class NarrowerNotFound(launcher_errors.ExecutionNotFound):
    """A subclass that only narrows a meaning: it keeps its parent's status and code."""


def _client(raised: list[Exception]) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/raise")
    async def raise_it() -> None:
        raise raised[0]

    return TestClient(app, raise_server_exceptions=False)


def _answer(exc: Exception) -> tuple[int, dict[str, Any]]:
    response = _client([exc]).get("/raise")
    return response.status_code, response.json()


def _subclasses(cls: type[ServiceError]) -> list[type[ServiceError]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def test_a_new_subclass_answers_its_own_status_not_a_silent_400() -> None:
    status, body = _answer(Teapot("short and stout", [{"field": "spout"}]))

    assert status == 418
    assert body == {
        "error": {"code": "teapot", "message": "short and stout", "details": [{"field": "spout"}]}
    }


def test_a_subclass_that_narrows_a_meaning_keeps_its_parents_status() -> None:
    status, body = _answer(NarrowerNotFound("no execution p/d/x"))

    assert status == 404
    assert body["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (registry_errors.InvalidRequest("x"), 400, "invalid_request"),
        (registry_errors.InvalidIdentifier("x"), 400, "invalid_identifier"),
        (registry_errors.CompileRejected("x"), 400, "compile_error"),
        (registry_errors.NotFound("x"), 404, "not_found"),
        (registry_errors.Conflict("x"), 409, "conflict"),
        (registry_errors.TooLarge("x"), 413, "too_large"),
        (registry_errors.UnsupportedMediaType("x"), 415, "unsupported_media_type"),
        (CompilationFailed([CompileError("cycle", "a cycle", node="n0")]), 400, "compile_error"),
        (launcher_errors.LaunchError("x"), 400, "invalid_request"),
        (launcher_errors.InvalidInputs("x"), 400, "invalid_inputs"),
        (launcher_errors.InputsTooLarge("x"), 413, "inputs_too_large"),
        (launcher_errors.TargetNotFound("x"), 404, "not_found"),
        (launcher_errors.NameTaken("x"), 409, "conflict"),
        (launcher_errors.ExecutionNotFound("x"), 404, "not_found"),
        (launcher_errors.AttemptNotFound("x"), 404, "not_found"),
    ],
)
def test_each_service_error_answers_its_status_and_code(
    exc: ServiceError, status: int, code: str
) -> None:
    answered, body = _answer(exc)

    assert (answered, body["error"]["code"]) == (status, code)


def test_every_service_error_says_its_status_and_code() -> None:
    for cls in _subclasses(ServiceError):
        if cls in (Teapot, NarrowerNotFound):
            continue
        assert 400 <= cls.status < 600, cls
        assert cls.code != ServiceError.code, f"{cls.__qualname__} has no code of its own"


def test_a_compile_failure_lists_each_error_as_a_detail() -> None:
    errors = [
        CompileError("unknown_node", "node n9 does not exist", node="n1", input="x"),
        CompileError("cycle", "n1 -> n2 -> n1"),
    ]

    status, body = _answer(CompilationFailed(errors))

    assert status == 400
    assert body["error"]["details"] == [error.as_dict() for error in errors]


def test_an_unexpected_exception_is_a_500_with_the_same_body() -> None:
    status, body = _answer(RuntimeError("boom"))

    assert status == 500
    assert body == {
        "error": {"code": "internal_error", "message": "the service failed: RuntimeError"}
    }


def test_an_unknown_route_and_a_bad_parameter_keep_the_body() -> None:
    client = _client([RuntimeError()])

    missing = client.get("/nowhere")
    wrong_method = client.post("/raise")

    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    assert (wrong_method.status_code, wrong_method.json()["error"]["code"]) == (
        405,
        "method_not_allowed",
    )
    assert wrong_method.headers["allow"] == "GET"


def _target(**inputs: Parameter) -> Target:
    interface = TypedInterface(inputs=inputs, outputs={})
    closure = WorkflowClosure.model_validate(
        {
            "primary": {
                "identifier": {
                    "resource_type": "workflow",
                    "project": "p",
                    "domain": "development",
                    "name": "wf",
                    "version": "v1",
                },
                "spec": {"name": "wf", "interface": interface.model_dump(), "nodes": []},
                "order": [],
                "upstream": {},
            },
            "tasks": [],
        }
    )
    return Target(closure=closure, fixed_inputs={"region": "eu"})


def test_the_launch_inputs_report_every_problem_at_once() -> None:
    target = _target(
        xs=Parameter(type=ListType(item=INT)),
        n=Parameter(type=INT),
        region=Parameter(type=STR),
    )

    with pytest.raises(launcher_errors.InvalidInputs) as caught:
        resolve_inputs(target, {"xs": [1, "two"], "colour": "red", "region": "us"})

    problems = {(d["input"], d["code"]) for d in caught.value.details}
    assert problems == {
        ("colour", "unknown_input"),
        ("region", "fixed_input"),
        ("xs", "type_mismatch"),
        ("n", "missing_input"),
    }
    assert caught.value.message == "the inputs of wf are invalid (4 problems)"
    status, body = _answer(caught.value)
    assert status == 400
    assert len(body["error"]["details"]) == 4


async def test_a_registry_that_fails_or_is_unreachable_is_a_503_for_the_launcher() -> None:
    def failing(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"error": {"code": "internal_error", "message": "x"}})

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    for handler, message in [
        (failing, "the registry answered 500 to GET /api/v1/tasks/p/d/t/v1"),
        (unreachable, "the registry is unreachable: connection refused"),
    ]:
        client = RegistryClient("http://registry")
        client._client = httpx.AsyncClient(
            base_url="http://registry", transport=httpx.MockTransport(handler)
        )
        with pytest.raises(RegistryUnavailable) as caught:
            await client.task("p", "d", "t", "v1")
        await client.close()

        assert caught.value.message == message
        assert _answer(caught.value) == (
            503,
            {"error": {"code": "unavailable", "message": message}},
        )


@pytest.mark.parametrize("service", ["registry", "launcher", "notifier", "metrics"])
def test_the_openapi_documents_say_the_one_error_body(service: str) -> None:
    spec = document(service)
    error = {"$ref": "#/components/schemas/ErrorBody"}

    assert "ErrorBody" in spec["components"]["schemas"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "422" not in responses, (path, method)
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    assert response["content"]["application/json"]["schema"] == error, (
                        path,
                        method,
                        status,
                    )


def test_the_launcher_documents_the_errors_of_a_launch() -> None:
    create = document("launcher")["paths"]["/api/v1/executions"]["post"]

    assert {"400", "404", "409", "413", "503"} <= set(create["responses"])

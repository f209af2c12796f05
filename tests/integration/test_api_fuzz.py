"""Schemathesis over every service's OpenAPI document, against the running stack.

Each operation under ``/api/v1/`` of ``docs/openapi/<service>.json`` is called
through the gateway with the documented examples and a bounded number of
generated requests (derandomized: a failure reproduces). Every answer must be
no server error and match its own document: a documented status, its content
type and its schema. The generated data is steered off the demo's project
(``flytesnacks``, the documents' example) and the stack's principals, so nothing
lands among real entities and no grant of the stack is revoked.

Each finding is fixed in its service and kept as a plain regression test in
``test_hostile_input.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shared.settings import StackSettings
from tests.auth import auth_headers

pytestmark = pytest.mark.integration

OPENAPI_DIR = Path(__file__).resolve().parents[2] / "docs" / "openapi"
# The documents' example project and the stack's own principals (whose grants a generated
# DELETE /api/v1/auth/grants must never hit) are swapped for names of the fuzz run's own.
STEERED = {
    "flytesnacks": "fuzz-project",
    **{name: "fuzz-principal" for name in ("admin", "svc-launcher", "svc-notifier", "svc-metrics")},
}
MAX_EXAMPLES = 12
"""Generated requests per operation (with the documented examples): the whole module
stays near a minute on the local stack."""

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


FuzzTest = Callable[[Case[Any], StackSettings], None]


def _schema(service: str) -> BaseSchema:
    schema = schemathesis.openapi.from_path(OPENAPI_DIR / f"{service}.json")
    # The coverage phase derives hundreds of thousands of cases from the spec
    # bodies at collection; examples and bounded fuzzing keep the run short.
    schema.config.phases.coverage.enabled = False
    schema.config.seed = 12
    # /healthz and /readyz answer at /api/v1/<service>/ on the gateway; the API is under /api/v1/.
    return schema.include(path_regex=r"^/api/v1/")


def _each_operation(schema: BaseSchema) -> Callable[[FuzzTest], FuzzTest]:
    """``schema.parametrize()``, typed: one test per operation."""
    parametrize: Callable[[FuzzTest], FuzzTest] = schema.parametrize()
    return parametrize


def _steered(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _steered(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_steered(item) for item in value]
    return STEERED.get(value, value) if isinstance(value, str) else value


def _call(case: Case[Any], stack: StackSettings) -> None:
    for part in ("path_parameters", "query", "body"):
        value = getattr(case, part, None)
        if isinstance(value, dict | list):
            setattr(case, part, _steered(value))
    case.call_and_validate(
        base_url=stack.gateway_url, headers=auth_headers(), checks=CHECKS, timeout=30
    )


FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)

registry = _schema("registry")
launcher = _schema("launcher")
notifier = _schema("notifier")
metrics = _schema("metrics")


@_each_operation(registry)
@FUZZ
def test_the_registry_api(case: Case[Any], stack: StackSettings) -> None:
    _call(case, stack)


@_each_operation(launcher)
@FUZZ
def test_the_launcher_api(case: Case[Any], stack: StackSettings) -> None:
    _call(case, stack)


@_each_operation(notifier)
@FUZZ
def test_the_notifier_api(case: Case[Any], stack: StackSettings) -> None:
    _call(case, stack)


@_each_operation(metrics)
@FUZZ
def test_the_metrics_api(case: Case[Any], stack: StackSettings) -> None:
    _call(case, stack)

"""Every route of every service takes the authentication dependency, but health's.

Read from each app's OpenAPI document: the bearer scheme there comes from
``shared.auth.dependency.authenticate`` alone, so an operation without it is a
route that nobody authenticates.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI

from services.launcher.entrypoints.http import build_app as launcher_app
from services.metrics.entrypoints.http import build_app as metrics_app
from services.notifier.entrypoints.http import build_app as notifier_app
from services.registry.entrypoints.http import build_app as registry_app

OPEN = {"/healthz", "/readyz"}


@pytest.mark.parametrize(
    "build", [registry_app, launcher_app, notifier_app, metrics_app], ids=lambda b: b.__module__
)
def test_every_route_but_health_authenticates(build: Callable[[], FastAPI]) -> None:
    document = build().openapi()
    operations = [
        (method, path, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]
    assert len(operations) > len(OPEN)
    missing = [
        f"{method.upper()} {path}"
        for method, path, operation in operations
        if path not in OPEN and {"HTTPBearer": []} not in operation.get("security", [])
    ]
    assert missing == []
    undocumented = [
        f"{method.upper()} {path}"
        for method, path, operation in operations
        if path not in OPEN and not {"401", "403"} <= set(operation["responses"])
    ]
    assert undocumented == []

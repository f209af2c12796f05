"""The published OpenAPI documents are generated from the apps (CI fails on drift)."""

from __future__ import annotations

from services.openapi import document, stale


def test_docs_openapi_is_generated_from_the_apps() -> None:
    assert stale() == [], "run `python -m services.openapi` and commit docs/openapi/"


def test_the_registry_documents_its_api() -> None:
    paths = document("registry")["paths"]
    assert "/api/v1/tasks" in paths
    assert "/api/v1/workflows/{project}/{domain}/{name}/{version}" in paths
    assert "/api/v1/data_proxy/upload" in paths
    assert "/readyz" in paths

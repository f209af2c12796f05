"""The credentials tests use against the stack: its admin token, headers, tokens of one role.

The local stack keeps its admin token in ``<CONTRAIL_HOME>/secrets/admin.token``
(``contrail demo up`` makes it); an external stack is reached with
``CONTRAIL_TOKEN``. Every test HTTP client sends ``headers=auth_headers()``,
and the session exports ``CONTRAIL_TOKEN`` (``tests/conftest.py``) so that
CLI subprocesses and ``Remote()`` carry it too.
"""

from __future__ import annotations

import os

import httpx

from contrail.demo.credentials import ADMIN, read_token
from contrail.demo.layout import Layout
from shared.settings import StackSettings


def admin_token() -> str | None:
    """The stack's admin token (its secrets file, else ``CONTRAIL_TOKEN``), None when neither."""
    if os.environ.get("CONTRAIL_TEST_STACK", "local").lower() != "external":
        token = read_token(Layout.of(StackSettings()), ADMIN)
        if token:
            return token
    return os.environ.get("CONTRAIL_TOKEN") or None


def auth_headers(token: str | None = None) -> dict[str, str]:
    """``Authorization: Bearer`` with ``token`` (default: the admin's); ``{}`` without one."""
    token = admin_token() if token is None else token
    return {"Authorization": f"Bearer {token}"} if token else {}


def service_token(service: str) -> str | None:
    """The token of a stack service's account (launcher, notifier, metrics), for a test's copy."""
    from contrail.demo.credentials import service_token_env

    return service_token_env(service, Layout.of(StackSettings())).get("CONTRAIL_SERVICE_TOKEN")


def new_token(project: str, role: str, *, domain: str | None = None) -> str:
    """A new token granting ``role`` on ``project`` only, made by the admin through the gateway."""
    body: dict[str, object] = {"project": project, "role": role}
    if domain is not None:
        body["domain"] = domain
    response = httpx.post(
        f"{StackSettings().gateway_url}/api/v1/auth/tokens",
        json=body,
        headers=auth_headers(),
        timeout=30,
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token

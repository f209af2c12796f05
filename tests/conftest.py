"""The infrastructure the tests run against.

``CONTRAIL_TEST_STACK`` chooses it:

- ``local`` (the default): the local stack of ``contrail demo up``, brought up
  if it is not healthy, and stopped after the session if this session started it;
- ``docker``: Kafka, PostgreSQL and MinIO in testcontainers (needs a Docker
  engine), with the services, gateway and worker as local processes;
- ``external``: services already running, named by the ``CONTRAIL_*`` variables.

The session exports the stack's admin token as ``CONTRAIL_TOKEN`` (``tests.auth``),
so that the CLI's subprocesses and ``Remote()`` carry it as a user's would.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from shared.settings import StackSettings
from tests.auth import admin_token


def _stack_mode() -> str:
    return os.environ.get("CONTRAIL_TEST_STACK", "local").lower()


def _export_token() -> None:
    token = admin_token()
    if token:
        os.environ["CONTRAIL_TOKEN"] = token


_export_token()  # a stack that is up already: before any test module spawns a CLI


@pytest.fixture(scope="session")
def stack() -> Iterator[StackSettings]:
    """Settings that point at a healthy stack, for the whole session."""
    mode = _stack_mode()
    if mode == "external":
        yield StackSettings()
        return
    if mode == "docker":
        from tests.infra_docker import docker_stack

        with docker_stack() as settings:
            _export_token()
            yield settings
        return
    if mode != "local":
        raise pytest.UsageError(f"CONTRAIL_TEST_STACK={mode!r}: use local, docker or external")
    from contrail.demo.stack import Stack

    local = Stack(StackSettings())
    # Stop afterwards only a stack this session started from nothing: one that
    # was partly running (a developer restarting a service) stays up.
    started_here = not local.running()
    if not local.is_healthy():
        local.up(progress=False)
    _export_token()  # a stack brought up just now has made its token
    yield local.settings
    if started_here and not os.environ.get("CONTRAIL_TEST_KEEP_STACK"):
        local.down()

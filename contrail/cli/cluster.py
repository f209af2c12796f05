"""The cluster a command talks to: its resolved config and a client, an unknown project named."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from contrail.cli.projects import require_project
from contrail.config import Config, load_config
from contrail.errors import NotFound
from contrail.remote import Remote


@contextmanager
def connected(
    project: str | None, domain: str | None, endpoint: str | None
) -> Iterator[tuple[Config, Remote]]:
    """The config the options resolve to, and a client of its endpoint, project and domain.

    A ``NotFound`` from inside is checked against the project: an unknown
    project is named as such, with the known ones.

    Raises:
        ConfigError: the config file is malformed, or a project or domain is not valid.
    """
    config = load_config(endpoint=endpoint, project=project, domain=domain)
    with Remote(config.endpoint, project=config.project, domain=config.domain) as remote:
        try:
            yield config, remote
        except NotFound:
            require_project(remote, config.project)
            raise

"""Values read back from rows: an entity's identifier from its four columns."""

from __future__ import annotations

import asyncpg

from shared.identifiers import Identifier, ResourceType


def identifier_of(kind: ResourceType, row: asyncpg.Record) -> Identifier:
    """The identifier of kind ``kind`` a row holds in ``project, domain, name, version``."""
    return Identifier(
        resource_type=kind,
        project=row["project"],
        domain=row["domain"],
        name=row["name"],
        version=row["version"],
    )

"""Identifiers from paths and bodies, refused with ``invalid_identifier`` naming each bad part."""

from __future__ import annotations

from collections.abc import Sequence

from services.registry.domain.validation import identifier_errors
from services.registry.service_layer.errors import InvalidIdentifier
from shared.identifiers import Identifier, ResourceType

# Stand-ins for the parts a check is not about: valid, so they add no error.
_ANY_NAME = "any"
_ANY_VERSION = "any"


def _refuse(errors: list[str], field_prefix: str) -> None:
    if errors:
        raise InvalidIdentifier(
            "; ".join(errors),
            [
                {"field": f"{field_prefix}{error.split(' ', 1)[0]}", "message": error}
                for error in errors
            ],
        )


def identifier_of(
    kind: ResourceType,
    project: str,
    domain: str,
    name: str,
    version: str,
    *,
    field_prefix: str = "",
) -> Identifier:
    """The identifier, or InvalidIdentifier naming each part at fault."""
    _refuse(identifier_errors(project, domain, name, version), field_prefix)
    return Identifier(
        resource_type=kind, project=project, domain=domain, name=name, version=version
    )


def check_project_and_domain(project: str, domain: str) -> None:
    _refuse(identifier_errors(project, domain, _ANY_NAME, _ANY_VERSION), "")


def check_project_and_domains(project: str, domains: Sequence[str]) -> None:
    errors: list[str] = []
    for domain in domains or [""]:
        errors += [
            e
            for e in identifier_errors(project, domain, _ANY_NAME, _ANY_VERSION)
            if e not in errors
        ]
    _refuse(errors, "")

"""Identifiers of registered entities and executions, and their URNs."""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

NAME_PATTERN = r"^[a-z0-9]([a-z0-9_.-]{0,126}[a-z0-9])?$"
"""Projects, domains and execution names: lower-case, digits, '_', '.', '-'."""

NAME_RULE = (
    "1 to 128 lower-case letters, digits, '-', '_' or '.', "
    "beginning and ending with a letter or a digit"
)
"""``NAME_PATTERN`` in words, for messages."""

DEFAULT_DOMAINS: tuple[str, ...] = ("development", "staging", "production")


def bad_names(**names: str | None) -> list[str]:
    """One line per name that does not match ``NAME_PATTERN`` (None: not given, not checked).

    ``bad_names(execution_name="Bad Name!")`` is
    ``["execution name 'Bad Name!' is not valid: it may hold ..."]``.
    """
    return [
        f"{kind.replace('_', ' ')} {value!r} is not valid: it may hold {NAME_RULE}"
        for kind, value in names.items()
        if value is not None and re.fullmatch(NAME_PATTERN, value) is None
    ]


class ResourceType(StrEnum):
    TASK = "task"
    WORKFLOW = "workflow"
    LAUNCH_PLAN = "launch_plan"


class Identifier(BaseModel):
    """``(project, domain, name, version)`` of a registered, immutable entity."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    resource_type: ResourceType
    project: str = Field(pattern=NAME_PATTERN)
    domain: str = Field(pattern=NAME_PATTERN)
    name: str = Field(min_length=1, max_length=255)
    version: str = Field(min_length=1, max_length=128)

    @property
    def urn(self) -> str:
        return (
            f"urn:contrail:{self.resource_type.value}:"
            f"{self.project}:{self.domain}:{self.name}:{self.version}"
        )


class ExecutionIdentifier(BaseModel):
    """An execution: unique by name within its project and domain."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    project: str = Field(pattern=NAME_PATTERN)
    domain: str = Field(pattern=NAME_PATTERN)
    name: str = Field(pattern=NAME_PATTERN)

    @property
    def urn(self) -> str:
        return f"urn:contrail:execution:{self.project}:{self.domain}:{self.name}"

    @property
    def key(self) -> str:
        """The Kafka key of every record about this execution."""
        return f"{self.project}/{self.domain}/{self.name}"

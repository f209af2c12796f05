"""Roles and grants: what a principal may do, per project (and optionally per domain).

The roles are ordered: ``viewer`` reads; ``launcher`` also launches, aborts,
relaunches and recovers; ``editor`` also registers and manages subscriptions;
``admin`` also manages projects, tokens and grants. A grant on project ``*``
holds for every project.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

ALL_PROJECTS = "*"

_ORDER = ("viewer", "launcher", "editor", "admin")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,62}$")


class Role(StrEnum):
    VIEWER = "viewer"
    LAUNCHER = "launcher"
    EDITOR = "editor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _ORDER.index(self.value)

    def allows(self, other: Role) -> bool:
        """Whether holding this role is enough for what ``other`` may do."""
        return self.rank >= other.rank


@dataclass(frozen=True, order=True)
class Grant:
    """``role`` on ``project`` (``*``: every project), on one ``domain`` or (None) all of them."""

    project: str
    domain: str | None
    role: Role

    def covers(self, project: str, domain: str | None) -> bool:
        """Whether this grant applies to ``project`` (and ``domain``; None: the whole project)."""
        if self.project not in (ALL_PROJECTS, project):
            return False
        return self.domain is None or self.domain == domain

    def text(self) -> str:
        """``project[/domain]:role``, the form OIDC claims and the CLI use."""
        scope = self.project if self.domain is None else f"{self.project}/{self.domain}"
        return f"{scope}:{self.role.value}"

    def as_json(self) -> dict[str, str | None]:
        return {"project": self.project, "domain": self.domain, "role": self.role.value}


class InvalidGrant(ValueError):
    """A grant's text, project, domain or role is malformed."""


def check_scope(project: str, domain: str | None) -> None:
    """Refuse a project or domain that is neither ``*`` nor a plain name."""
    if project != ALL_PROJECTS and not _NAME.match(project):
        raise InvalidGrant(f"project {project!r} is neither '*' nor a project name")
    if domain is not None and not _NAME.match(domain):
        raise InvalidGrant(f"domain {domain!r} is not a domain name")
    if project == ALL_PROJECTS and domain is not None:
        raise InvalidGrant("a grant on every project ('*') names no domain")


def parse_role(text: str) -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise InvalidGrant(f"role {text!r} is not one of {', '.join(_ORDER)}") from None


def parse_grant(text: str) -> Grant:
    """``flytesnacks:launcher``, ``flytesnacks/development:editor`` or ``*:admin``."""
    scope, sep, role = text.strip().rpartition(":")
    if not sep or not scope:
        raise InvalidGrant(f"grant {text!r} is not project[/domain]:role")
    project, _, domain = scope.partition("/")
    grant = Grant(project, domain or None, parse_role(role))
    check_scope(grant.project, grant.domain)
    return grant

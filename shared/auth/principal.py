"""Who is calling, and what its grants let it do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from shared.auth.errors import Forbidden
from shared.auth.roles import ALL_PROJECTS, Grant, Role, check_scope, parse_role

PrincipalKind = Literal["user", "service"]
Via = Literal["token", "oidc", "anonymous"]


@dataclass(frozen=True)
class Principal:
    name: str
    kind: PrincipalKind
    grants: tuple[Grant, ...]
    token_id: str | None = None
    via: Via = "token"

    def can(self, role: Role, project: str, domain: str | None = None) -> bool:
        """Whether a grant gives at least ``role`` on ``project`` (and ``domain``).

        Without ``domain`` only grants on the whole project count: a grant on one
        domain does not reach the others.
        """
        return any(g.role.allows(role) and g.covers(project, domain) for g in self.grants)

    def require(self, role: Role, project: str, domain: str | None = None) -> None:
        """Unless ``can``: ``Forbidden`` (403) naming the principal, the role and the scope."""
        if self.can(role, project, domain):
            return
        where = "every project" if project == ALL_PROJECTS else f"project {project}"
        if domain is not None:
            where += f", domain {domain}"
        held = ", ".join(g.text() for g in self.grants) or "none"
        raise Forbidden(
            f"{self.name} may not do this: it needs role {role.value} on {where} "
            f"(its grants: {held})",
            [
                {
                    "principal": self.name,
                    "role": role.value,
                    "project": project,
                    "domain": domain,
                }
            ],
        )

    def projects(self, role: Role) -> set[str] | None:
        """The projects on which the principal holds ``role`` (project-wide); None: all of them."""
        found: set[str] = set()
        for grant in self.grants:
            if grant.domain is not None or not grant.role.allows(role):
                continue
            if grant.project == ALL_PROJECTS:
                return None
            found.add(grant.project)
        return found

    def as_json(self) -> dict[str, Any]:
        """The answer of ``GET /api/v1/auth/whoami``."""
        return {
            "name": self.name,
            "kind": self.kind,
            "via": self.via,
            "token_id": self.token_id,
            "grants": [g.as_json() for g in self.grants],
        }

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Principal:
        """A principal as ``whoami`` answered it (other services resolve through the registry)."""
        grants = []
        for g in body.get("grants", []):
            check_scope(g["project"], g.get("domain"))
            grants.append(Grant(g["project"], g.get("domain"), parse_role(g["role"])))
        return cls(
            name=str(body["name"]),
            kind="service" if body.get("kind") == "service" else "user",
            grants=tuple(grants),
            token_id=body.get("token_id"),
            via=body.get("via", "token"),
        )


ANONYMOUS = Principal(
    "anonymous", "user", (Grant(ALL_PROJECTS, None, Role.ADMIN),), token_id=None, via="anonymous"
)
"""Who every request is when authentication is off (``CONTRAIL_AUTH_ENABLED=false``)."""


def require_list(
    principal: Principal, role: Role, project: str | None, domain: str | None = None
) -> None:
    """A list over one project needs ``role`` on it; over every project, ``role`` on ``*``.

    A principal with grants on some projects only names one (``?project=``); the
    403 says which it may read.
    """
    if project is not None:
        principal.require(role, project, domain)
        return
    readable = principal.projects(role)
    if readable is None:
        return
    raise Forbidden(
        f"{principal.name} may not list across projects: name one with ?project= "
        f"(it holds {role.value} on: {', '.join(sorted(readable)) or 'none'})",
        [{"principal": principal.name, "role": role.value, "field": "project"}],
    )

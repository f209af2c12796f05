"""Access control's use cases: who a credential is, tokens and grants, and their rules.

Who may do what with tokens and grants:

- anyone sees their own tokens and grants, and revokes their own tokens;
- an admin of a project creates tokens and grants on it, and sees, and
  revokes, the tokens of principals that hold a grant on it;
- a token for an existing principal is only made by someone who administers
  every project that principal holds a grant on (else a project's admin could
  mint a token carrying someone else's wider grants);
- grants on ``*`` need admin on ``*``.
"""

from __future__ import annotations

import asyncio
import secrets
import string
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from services.registry.service_layer.errors import InvalidRequest, NotFound
from shared.audit import audit_record
from shared.auth.errors import Unauthenticated
from shared.auth.principal import Principal
from shared.auth.roles import ALL_PROJECTS, Grant, InvalidGrant, Role, check_scope
from shared.auth.tokens import (
    SALT_BYTES,
    MalformedToken,
    NewToken,
    hash_token,
    looks_like_token,
    new_token,
    token_id_of,
    verify_token,
)
from shared.db.paging import decode_token, encode_token
from shared.events.catalogue import AuditAction
from shared.outbox.writer import OutboxMessage

BOOTSTRAP_PRINCIPALS: dict[str, Literal["user", "service"]] = {
    "admin": "user",
    "svc-launcher": "service",
    "svc-notifier": "service",
    "svc-metrics": "service",
}
"""The principals ``python -m services.registry.auth bootstrap`` makes sure of, each ``*``:admin."""


@dataclass(frozen=True)
class StoredPrincipal:
    name: str
    kind: Literal["user", "service"]
    grants: tuple[Grant, ...]


@dataclass(frozen=True)
class StoredToken:
    """A token's metadata: everything but the token."""

    id: str
    principal: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        def moment(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "id": self.id,
            "principal": self.principal,
            "name": self.name,
            "created_at": moment(self.created_at),
            "expires_at": moment(self.expires_at),
            "revoked_at": moment(self.revoked_at),
            "last_used_at": moment(self.last_used_at),
        }


class AuthStore(Protocol):
    async def credential(
        self, token_id: str
    ) -> tuple[str, bytes, StoredToken, StoredPrincipal] | None: ...

    async def touch(self, token_id: str, at: datetime) -> None: ...

    async def principal(self, name: str) -> StoredPrincipal | None: ...

    async def create_token(
        self,
        principal: str,
        kind: str,
        grants: Sequence[Grant],
        token: NewToken,
        label: str,
        expires_at: datetime | None,
        audit: Sequence[OutboxMessage] = (),
    ) -> tuple[StoredToken, StoredPrincipal]: ...

    async def tokens(
        self, principals: Sequence[str] | None, limit: int, before: int | None
    ) -> list[tuple[int, StoredToken]]: ...

    async def token(self, token_id: str) -> tuple[StoredToken, StoredPrincipal] | None: ...

    async def revoke(
        self, token_id: str, at: datetime, audit: Sequence[OutboxMessage] = ()
    ) -> StoredToken | None: ...

    async def grants(self, principal: str | None) -> list[tuple[str, Grant]]: ...

    async def add_grant(
        self, principal: str, kind: str, grant: Grant, audit: Sequence[OutboxMessage] = ()
    ) -> bool: ...

    async def delete_grant(
        self, principal: str, grant: Grant, audit: Sequence[OutboxMessage] = ()
    ) -> bool: ...

    async def principals_on(self, projects: Sequence[str]) -> list[str]: ...

    async def live_token_count(self, principal: str, now: datetime) -> int: ...


JwtVerifier = Callable[[str], Awaitable[Principal]]


# --- who a credential is ----------------------------------------------------------------


async def resolve(
    store: AuthStore, credential: str, now: datetime, verify_jwt: JwtVerifier | None
) -> Principal:
    """The principal of an API token (checked against its hash) or of an OIDC JWT."""
    if looks_like_token(credential):
        return await _resolve_token(store, credential, now)
    if credential.count(".") == 2:
        if verify_jwt is None:
            raise Unauthenticated(
                "JWTs are not accepted here: no OIDC issuer is configured (CONTRAIL_OIDC_ISSUER)"
            )
        return await verify_jwt(credential)
    raise Unauthenticated("the credential is neither a Contrail API token (ctr_...) nor a JWT")


async def _resolve_token(store: AuthStore, token: str, now: datetime) -> Principal:
    try:
        token_id = token_id_of(token)
    except MalformedToken as exc:
        raise Unauthenticated(str(exc)) from None
    found = await store.credential(token_id)
    # The hash is checked before anything else is said about the token.
    if found is None or not await asyncio.to_thread(verify_token, token, found[0], found[1]):
        raise Unauthenticated(f"token {token_id} is not valid (unknown, or not its secret)")
    _, _, meta, principal = found
    if meta.revoked_at is not None:
        raise Unauthenticated(f"token {token_id} was revoked at {meta.revoked_at.isoformat()}")
    if meta.expires_at is not None and meta.expires_at <= now:
        raise Unauthenticated(f"token {token_id} expired at {meta.expires_at.isoformat()}")
    await store.touch(token_id, now)
    return Principal(principal.name, principal.kind, principal.grants, token_id, "token")


# --- tokens ---------------------------------------------------------------------------------


def grant_of(project: str, domain: str | None, role: str) -> Grant:
    try:
        role_ = Role(role)
        check_scope(project, domain)
    except (InvalidGrant, ValueError) as exc:
        message = str(exc) if isinstance(exc, InvalidGrant) else f"role {role!r} is unknown"
        raise InvalidRequest(message, [{"field": "grant", "message": message}]) from None
    return Grant(project, domain, role_)


def _require_admin_over(actor: Principal, target: StoredPrincipal) -> None:
    """``actor`` administers every project ``target`` holds a grant on (or is ``target``)."""
    if actor.name == target.name and actor.via == "token":
        return
    for grant in target.grants:
        actor.require(Role.ADMIN, grant.project)


def _service_account_name(grant: Grant) -> str:
    project = "all" if grant.project == ALL_PROJECTS else grant.project
    suffix = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(4))
    return f"{project}-{grant.role.value}-{suffix}"


@dataclass(frozen=True)
class CreatedToken:
    token: str
    meta: StoredToken
    principal: StoredPrincipal


def _audit(
    action: AuditAction, grant: Grant | None, resource: str, details: dict[str, Any]
) -> list[OutboxMessage]:
    return [
        audit_record(
            action,
            service="registry",
            project=grant.project if grant is not None else None,
            domain=grant.domain if grant is not None else None,
            resource=resource,
            details=details,
        )
    ]


async def create_token(
    store: AuthStore,
    actor: Principal,
    grant: Grant,
    *,
    principal: str | None,
    label: str,
    expires_in_seconds: int | None,
    now: datetime,
) -> CreatedToken:
    """A token (shown once) for ``principal``, or for a new service account, holding ``grant``."""
    actor.require(Role.ADMIN, grant.project, grant.domain)
    kind: Literal["user", "service"] = "user"
    if principal is None:
        principal, kind = _service_account_name(grant), "service"
    else:
        existing = await store.principal(principal)
        if existing is not None:
            _require_admin_over(actor, existing)
            kind = existing.kind
    expires_at = now + timedelta(seconds=expires_in_seconds) if expires_in_seconds else None
    token = new_token()
    audit = _audit(
        AuditAction.TOKEN_CREATE,
        grant,
        f"token/{token.token_id}",
        {"token_id": token.token_id, "principal": principal, "grant": grant.text()},
    )
    meta, stored = await store.create_token(
        principal, kind, [grant], token, label, expires_at, audit
    )
    return CreatedToken(token.token, meta, stored)


async def visible_principals(store: AuthStore, actor: Principal) -> list[str] | None:
    """Whose tokens ``actor`` may see and revoke (None: everyone's)."""
    administered = actor.projects(Role.ADMIN)
    if administered is None:
        return None
    names = set(await store.principals_on(sorted(administered))) if administered else set()
    names.add(actor.name)
    return sorted(names)


async def list_tokens(
    store: AuthStore, actor: Principal, principal: str | None, limit: int, page_token: str | None
) -> tuple[list[StoredToken], str | None]:
    visible = await visible_principals(store, actor)
    if principal is not None:
        if visible is not None and principal not in visible:
            actor.require(Role.ADMIN, ALL_PROJECTS)
        visible = [principal]
    rows = await store.tokens(visible, limit + 1, decode_token(page_token))
    items = [token for _, token in rows[:limit]]
    next_token = encode_token(rows[limit - 1][0]) if len(rows) > limit else None
    return items, next_token


async def revoke_token(
    store: AuthStore, actor: Principal, token_id: str, now: datetime
) -> StoredToken:
    found = await store.token(token_id)
    if found is None:
        raise NotFound(f"no token {token_id}")
    meta, owner = found
    if owner.name != actor.name:
        visible = await visible_principals(store, actor)
        if visible is not None and owner.name not in visible:
            _require_admin_over(actor, owner)
    audit = _audit(
        AuditAction.TOKEN_REVOKE,
        owner.grants[0] if len(owner.grants) == 1 else None,
        f"token/{token_id}",
        {"token_id": token_id, "principal": owner.name},
    )
    revoked = await store.revoke(token_id, now, audit if meta.revoked_at is None else ())
    assert revoked is not None
    return revoked


# --- grants -----------------------------------------------------------------------------------


async def list_grants(
    store: AuthStore, actor: Principal, principal: str | None
) -> list[tuple[str, Grant]]:
    """The grants ``actor`` may see: its own, and those on projects it administers."""
    administered = actor.projects(Role.ADMIN)
    rows = await store.grants(principal)
    if administered is None:
        return rows
    return [
        (name, grant) for name, grant in rows if name == actor.name or grant.project in administered
    ]


def _grant_change(
    actor: Principal, action: AuditAction, principal: str, grant: Grant
) -> list[OutboxMessage]:
    """Check that ``actor`` administers the grant's scope; the change's audit record."""
    actor.require(Role.ADMIN, grant.project, grant.domain)
    details = {"principal": principal, "grant": grant.text()}
    return _audit(action, grant, f"principal/{principal}", details)


async def create_grant(store: AuthStore, actor: Principal, principal: str, grant: Grant) -> bool:
    """Add ``grant`` to ``principal`` (a user, created if missing): whether it is new."""
    audit = _grant_change(actor, AuditAction.GRANT_CREATE, principal, grant)
    return await store.add_grant(principal, "user", grant, audit)


async def delete_grant(store: AuthStore, actor: Principal, principal: str, grant: Grant) -> None:
    audit = _grant_change(actor, AuditAction.GRANT_DELETE, principal, grant)
    if not await store.delete_grant(principal, grant, audit):
        raise NotFound(f"{principal} holds no grant {grant.text()}")


# --- the local stack's principals ---------------------------------------------------------------


async def bootstrap(
    store: AuthStore,
    now: datetime,
    reissue: Sequence[str] = (),
    adopted: Collection[str] = (),
) -> dict[str, str]:
    """Make sure of ``admin`` and the service accounts, each ``*``:admin with a live token.

    Returns the tokens made now, by principal: for a principal without a live
    token, or named in ``reissue`` (its token file was lost). A principal in
    ``adopted`` has its token from elsewhere (``adopt``): it is never given one
    unasked, not even when that token was revoked.
    """
    everything = Grant(ALL_PROJECTS, None, Role.ADMIN)
    made: dict[str, str] = {}
    names = list(BOOTSTRAP_PRINCIPALS)
    unknown = [
        name for name in reissue if name not in names and await store.principal(name) is None
    ]
    if unknown:
        raise NotFound(f"no principal {', '.join(unknown)} to reissue a token for")
    names += [name for name in reissue if name not in names]
    for name in names:
        kind = BOOTSTRAP_PRINCIPALS.get(name)
        if kind is not None:
            await store.add_grant(name, kind, everything)
        if name in reissue or (
            name not in adopted and await store.live_token_count(name, now) == 0
        ):
            existing = await store.principal(name)
            assert existing is not None
            token = new_token()
            await store.create_token(
                name,
                existing.kind,
                [],
                token,
                "bootstrap",
                None,
                _audit(
                    AuditAction.TOKEN_CREATE,
                    None,
                    f"token/{token.token_id}",
                    {"token_id": token.token_id, "principal": name},
                ),
            )
            made[name] = token.token
    return made


def token_variable(principal: str) -> str:
    """The environment variable ``bootstrap --adopt-from-env`` reads ``principal``'s token from:
    ``CONTRAIL_ADMIN_TOKEN``, ``CONTRAIL_SVC_LAUNCHER_TOKEN``, ..."""
    return f"CONTRAIL_{principal.upper().replace('-', '_')}_TOKEN"


AdoptOutcome = Literal["adopted", "valid", "revoked", "expired"]


async def adopt(
    store: AuthStore, now: datetime, tokens: Mapping[str, str]
) -> dict[str, AdoptOutcome]:
    """Make ``tokens`` (principal -> ``ctr_...``, made outside, e.g. by ``make env``) valid.

    Each principal (one of ``BOOTSTRAP_PRINCIPALS``) is made sure of with its
    ``*``:admin grant, and its token stored (its hash only) unless it is
    already: ``adopted`` (stored now) or ``valid`` (stored before). A stored
    token that was revoked (or expired) stays so: revocation is for a token
    that leaked, and a rerun must not bring it back; the outcome says so, and
    a new one is made outside and adopted. A token stored for another
    principal, or whose id is stored with another secret, is refused.
    """
    everything = Grant(ALL_PROJECTS, None, Role.ADMIN)
    outcomes: dict[str, AdoptOutcome] = {}
    for name, token in tokens.items():
        kind = BOOTSTRAP_PRINCIPALS.get(name)
        if kind is None:
            raise InvalidRequest(
                f"{name} is not one of the stack's principals to adopt a token for"
            )
        try:
            token_id = token_id_of(token)
        except MalformedToken as exc:
            raise InvalidRequest(f"{token_variable(name)}: {exc}") from None
        await store.add_grant(name, kind, everything)
        found = await store.credential(token_id)
        if found is None:
            salt = secrets.token_bytes(SALT_BYTES)
            hashed = await asyncio.to_thread(hash_token, token, salt)
            await store.create_token(
                name,
                kind,
                [],
                NewToken(token, token_id, hashed, salt),
                "bootstrap",
                None,
                _audit(
                    AuditAction.TOKEN_CREATE,
                    None,
                    f"token/{token_id}",
                    {"token_id": token_id, "principal": name, "adopted": True},
                ),
            )
            outcomes[name] = "adopted"
            continue
        stored_hash, salt, meta, owner = found
        if owner.name != name or not await asyncio.to_thread(
            verify_token, token, stored_hash, salt
        ):
            raise InvalidRequest(
                f"{token_variable(name)}: token {token_id} is stored already, "
                "for another principal or with another secret: make a new one"
            )
        if meta.revoked_at is not None:
            outcomes[name] = "revoked"
        elif meta.expires_at is not None and meta.expires_at <= now:
            outcomes[name] = "expired"
        else:
            outcomes[name] = "valid"
    return outcomes

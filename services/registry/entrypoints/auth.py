"""Access control over HTTP: who am I, tokens, grants; and how the registry resolves credentials.

The registry is the one service that checks credentials itself (its tables,
and the OIDC issuer's keys); the others ask its ``whoami``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.registry.adapters.auth import PostgresAuthStore
from services.registry.entrypoints.openapi import error_responses
from services.registry.service_layer import auth as service
from services.registry.service_layer.errors import InvalidRequest
from shared.auth.dependency import Authenticated, Authenticator, authenticator_of
from shared.auth.oidc import OIDCConfig, OIDCVerifier
from shared.auth.principal import Principal
from shared.settings import RegistrySettings

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


def now() -> datetime:
    return datetime.now(UTC)


class LocalResolver:
    """API tokens against the registry's tables; JWTs against the configured OIDC issuer."""

    def __init__(self, store: service.AuthStore, oidc: OIDCVerifier | None) -> None:
        self.store = store
        self.oidc = oidc

    async def resolve(self, credential: str) -> Principal:
        verify = self.oidc.verify if self.oidc is not None else None
        return await service.resolve(self.store, credential, now(), verify)


def oidc_verifier(settings: RegistrySettings) -> OIDCVerifier | None:
    if not settings.oidc_issuer:
        return None
    if not settings.oidc_audience:
        raise ValueError("CONTRAIL_OIDC_AUDIENCE is required with CONTRAIL_OIDC_ISSUER")
    return OIDCVerifier(
        OIDCConfig(
            issuer=settings.oidc_issuer,
            audience=settings.oidc_audience,
            jwks_url=settings.oidc_jwks_url,
            roles_claim=settings.oidc_roles_claim,
            name_claim=settings.oidc_name_claim,
        )
    )


def local_authenticator(store: PostgresAuthStore, settings: RegistrySettings) -> Authenticator:
    return Authenticator(LocalResolver(store, oidc_verifier(settings)), settings.auth_cache_seconds)


def _store(request: Request) -> service.AuthStore:
    store: service.AuthStore = request.app.state.auth_store
    return store


Store = Annotated[service.AuthStore, Depends(_store)]


# --- representations -----------------------------------------------------------------------


class GrantBody(BaseModel):
    project: str = Field(description="A project, or * for every project.")
    domain: str | None = Field(default=None, description="One domain; none: the whole project.")
    role: str = Field(description="viewer, launcher, editor or admin.")


class Whoami(BaseModel):
    name: str
    kind: str
    via: str
    token_id: str | None
    grants: list[GrantBody]


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: str = Field(description="The project the token's grant is on (* for every one).")
    role: str = Field(description="viewer, launcher, editor or admin.")
    domain: str | None = Field(default=None, description="One domain; none: the whole project.")
    principal: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Whose token (a user, created if missing); none: a new service account "
        "<project>-<role>-<4 characters>.",
    )
    name: str = Field(default="", max_length=200, description="A label for people.")
    expires_in_seconds: int | None = Field(
        default=None, gt=0, le=10 * 365 * 86400, description="None: it never expires."
    )


class TokenMeta(BaseModel):
    id: str
    principal: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(TokenMeta):
    token: str = Field(description="The token: shown this once, stored only hashed.")
    grants: list[GrantBody]


class TokenPage(BaseModel):
    items: list[TokenMeta]
    next_page_token: str | None


class PrincipalGrant(GrantBody):
    model_config = ConfigDict(extra="forbid")

    principal: str = Field(min_length=1, max_length=200)


class GrantPage(BaseModel):
    items: list[PrincipalGrant]


def _grant_json(grant: Any) -> dict[str, Any]:
    return {"project": grant.project, "domain": grant.domain, "role": grant.role.value}


# --- routes ------------------------------------------------------------------------------------


@router.get("/whoami", response_model=Whoami, summary="Who the credential is, and its grants")
async def whoami(principal: Authenticated) -> dict[str, Any]:
    return principal.as_json()


@router.post(
    "/tokens",
    status_code=201,
    response_model=TokenCreated,
    summary="Create an API token (shown once)",
    description="Needs admin on the project (on * for a grant on *). Without principal, a new "
    "service account holds the one grant; with one, the grant is added to it.",
    responses=error_responses(400),
)
async def create_token(body: TokenCreate, principal: Authenticated, store: Store) -> JSONResponse:
    grant = service.grant_of(body.project, body.domain, body.role)
    created = await service.create_token(
        store,
        principal,
        grant,
        principal=body.principal,
        label=body.name,
        expires_in_seconds=body.expires_in_seconds,
        now=now(),
    )
    answer = {
        **created.meta.as_json(),
        "token": created.token,
        "grants": [_grant_json(g) for g in created.principal.grants],
    }
    return JSONResponse(answer, status_code=201)


@router.get(
    "/tokens",
    response_model=TokenPage,
    summary="Tokens' metadata, newest first",
    description="Your own tokens, and those of the principals holding a grant on a project "
    "you administer.",
    responses=error_responses(400),
)
async def list_tokens(
    principal: Authenticated,
    store: Store,
    of: Annotated[
        str | None, Query(alias="principal", description="Only this principal's.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    page_token: Annotated[str | None, Query(description="The previous page's token.")] = None,
) -> TokenPage:
    items, next_token = await service.list_tokens(store, principal, of, limit, page_token)
    return TokenPage(
        items=[TokenMeta(**item.as_json()) for item in items], next_page_token=next_token
    )


@router.delete(
    "/tokens/{token_id}",
    response_model=TokenMeta,
    summary="Revoke a token (in effect on every service within CONTRAIL_AUTH_CACHE_SECONDS)",
    responses=error_responses(404),
)
async def revoke_token(
    token_id: str, principal: Authenticated, store: Store, request: Request
) -> TokenMeta:
    revoked = await service.revoke_token(store, principal, token_id, now())
    authenticator_of(request).forget_token(token_id)
    return TokenMeta(**revoked.as_json())


@router.get(
    "/grants",
    response_model=GrantPage,
    summary="Grants: your own and those on projects you administer",
)
async def list_grants(
    principal: Authenticated,
    store: Store,
    of: Annotated[
        str | None, Query(alias="principal", description="Only this principal's.")
    ] = None,
) -> GrantPage:
    rows = await service.list_grants(store, principal, of)
    return GrantPage(
        items=[PrincipalGrant(principal=name, **_grant_json(grant)) for name, grant in rows]
    )


@router.post(
    "/grants",
    status_code=201,
    response_model=PrincipalGrant,
    summary="Grant a role to a principal (a user, created if missing)",
    description="Needs admin on the project (on * for a grant on *). The grant held already: 200.",
    responses={200: {"model": PrincipalGrant}, **error_responses(400)},
)
async def create_grant(
    body: PrincipalGrant, principal: Authenticated, store: Store
) -> JSONResponse:
    grant = service.grant_of(body.project, body.domain, body.role)
    added = await service.create_grant(store, principal, body.principal, grant)
    answer = {"principal": body.principal, **_grant_json(grant)}
    return JSONResponse(answer, status_code=201 if added else 200)


@router.delete(
    "/grants",
    response_model=PrincipalGrant,
    summary="Take a grant away",
    description="The grant in the query (principal, project, domain, role), or as a JSON body.",
    responses=error_responses(400, 404),
)
async def delete_grant(
    request: Request,
    principal: Authenticated,
    store: Store,
    of: Annotated[str | None, Query(alias="principal")] = None,
    project: str | None = None,
    domain: str | None = None,
    role: str | None = None,
) -> PrincipalGrant:
    if of is None:
        raw = await request.body()
        try:
            body = PrincipalGrant.model_validate(json.loads(raw or b"null"))
        except ValueError:
            message = "name the grant: principal, project, role (and domain) in the query or body"
            raise InvalidRequest(message, [{"field": "principal", "message": message}]) from None
        of, project, domain, role = body.principal, body.project, body.domain, body.role
    if project is None or role is None:
        message = "name the grant's project and role"
        raise InvalidRequest(message, [{"field": "project", "message": message}])
    grant = service.grant_of(project, domain, role)
    await service.delete_grant(store, principal, of, grant)
    return PrincipalGrant(principal=of, **_grant_json(grant))

"""The one FastAPI dependency that authenticates every request of every service.

``create_service_app`` puts ``authenticate`` on every router a service
includes (everything but /healthz, /readyz and /metrics); a route that checks
grants takes the principal as ``principal: Authenticated`` (FastAPI runs the
dependency once per request). The credential is ``Authorization: Bearer ...``,
or, for the console's pages (GET only, so no form can act through it), the
``contrail_token`` cookie.

The credential is resolved by the app's ``Authenticator``: the registry sets
one over its own tables and the OIDC issuer; any other service gets one that
asks the registry's ``GET /api/v1/auth/whoami``. Either way a resolved
credential is cached for at most ``auth_cache_seconds``.
"""

from __future__ import annotations

from typing import Annotated, Any, Protocol

import httpx
from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from shared.auth.cache import TTLCache, credential_key
from shared.auth.context import set_actor
from shared.auth.errors import AuthUnavailable, Unauthenticated
from shared.auth.principal import ANONYMOUS, Principal
from shared.settings import ServiceSettings

TOKEN_COOKIE = "contrail_token"

_bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="ctr_<id>_<secret> API token, or an OIDC JWT",
    description="A Contrail API token (`contrail auth token create`) or a JWT of the "
    "configured OIDC issuer.",
)


class Resolver(Protocol):
    async def resolve(self, credential: str) -> Principal:
        """The principal the credential stands for, or ``Unauthenticated``."""
        ...


class RemoteResolver:
    """Asks the registry who a credential is (the services other than the registry)."""

    def __init__(self, registry_url: str, timeout: float = 5.0) -> None:
        self._client = httpx.AsyncClient(base_url=registry_url, timeout=timeout)

    async def resolve(self, credential: str) -> Principal:
        try:
            response = await self._client.get(
                "/api/v1/auth/whoami", headers={"Authorization": f"Bearer {credential}"}
            )
        except httpx.HTTPError as exc:
            raise AuthUnavailable(
                f"the registry, which checks credentials, is unreachable: {type(exc).__name__}"
            ) from exc
        if response.status_code == 401:
            raise Unauthenticated(_message(response, "the registry refused the credential"))
        if response.status_code != 200:
            raise AuthUnavailable(
                f"the registry answered {response.status_code} when asked who the caller is"
            )
        principal = Principal.from_json(response.json())
        if principal.via == "anonymous":
            # Trusting it would let any credential in: the registry must check them too.
            raise AuthUnavailable(
                "the registry does not check credentials (CONTRAIL_AUTH_ENABLED is off there), "
                "so this service, which has it on, cannot tell who is calling"
            )
        return principal

    async def close(self) -> None:
        await self._client.aclose()


def _message(response: httpx.Response, default: str) -> str:
    try:
        body: Any = response.json()
        return str(body["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return default


class Authenticator:
    """A resolver behind a cache of at most ``ttl`` seconds."""

    def __init__(self, resolver: Resolver, ttl: float) -> None:
        self.resolver = resolver
        self.cache: TTLCache[Principal] = TTLCache(ttl)

    async def principal(self, credential: str) -> Principal:
        key = credential_key(credential)
        found = self.cache.get(key)
        if found is None:
            found = await self.resolver.resolve(credential)
            self.cache.put(key, found)
        return found

    def forget_token(self, token_id: str) -> None:
        """Drop a revoked token at once from this process's cache."""
        self.cache.discard_where(lambda p: p.token_id == token_id)


def authenticator_of(request: Request) -> Authenticator:
    """The app's authenticator; a service that set none resolves through the registry."""
    state = request.app.state
    found: Authenticator | None = getattr(state, "authenticator", None)
    if found is None:
        settings = _settings(request)
        found = Authenticator(
            RemoteResolver(settings.registry_base_url), settings.auth_cache_seconds
        )
        state.authenticator = found
    return found


def _settings(request: Request) -> ServiceSettings:
    settings: ServiceSettings = request.app.state.runtime.settings
    return settings


def credential_of(request: Request) -> str:
    """The bearer credential of the request, or ``Unauthenticated`` naming what is missing."""
    header = request.headers.get("authorization")
    if header is None:
        cookie = request.cookies.get(TOKEN_COOKIE)
        if cookie and request.method in ("GET", "HEAD"):
            return cookie
        raise Unauthenticated(
            "no credential: send 'Authorization: Bearer <token>' "
            "(create a token with `contrail auth token create`)"
        )
    scheme, _, credential = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthenticated("the Authorization header is not 'Bearer <token>'")
    return credential.strip()


async def authenticate(request: Request, _: Annotated[Any, Depends(_bearer)] = None) -> Principal:
    """The principal of the request (401 without a valid credential); the request's actor."""
    if not _settings(request).auth_enabled:
        set_actor(ANONYMOUS.name)
        return ANONYMOUS
    principal = await authenticator_of(request).principal(credential_of(request))
    set_actor(principal.name)
    return principal


Authenticated = Annotated[Principal, Depends(authenticate)]

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
    for status, description in (
        (401, "unauthenticated: no credential, or a malformed, unknown, expired or revoked one"),
        (403, "forbidden: the principal holds no grant for this on the project"),
    )
}

"""OIDC: JWT bearer tokens validated against the issuer's JWKS, their claims mapped to grants.

The JWKS is fetched once and kept; a token signed with a key id the set does not
hold makes it fetched again (the issuer rotated its keys), at most once every
``REFETCH_SECONDS``. Only asymmetric algorithms are accepted, and ``iss``,
``aud`` and ``exp`` are required and checked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from shared.auth.errors import AuthUnavailable, Unauthenticated
from shared.auth.principal import Principal
from shared.auth.roles import Grant, InvalidGrant, parse_grant

log = logging.getLogger(__name__)

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
REFETCH_SECONDS = 10.0
LEEWAY_SECONDS = 30


@dataclass(frozen=True)
class OIDCConfig:
    issuer: str
    audience: str
    jwks_url: str | None = None
    """None: the discovery document's ``jwks_uri``, else ``<issuer>/.well-known/jwks.json``."""
    roles_claim: str = "contrail_roles"
    name_claim: str = "sub"


def looks_like_jwt(credential: str) -> bool:
    return credential.count(".") == 2


def grants_of(claim: Any) -> tuple[Grant, ...]:
    """The grants a roles claim names (a list, or a space- or comma-separated string).

    Entries that are not ``project[/domain]:role`` are skipped (and logged): an
    identity provider's other roles may share the claim.
    """
    if isinstance(claim, str):
        entries: list[Any] = claim.replace(",", " ").split()
    elif isinstance(claim, list):
        entries = claim
    else:
        return ()
    grants: list[Grant] = []
    for entry in entries:
        try:
            grants.append(parse_grant(str(entry)))
        except InvalidGrant as exc:
            log.info("skipped an OIDC role", extra={"reason": str(exc)})
    return tuple(dict.fromkeys(grants))


class OIDCVerifier:
    def __init__(self, config: OIDCConfig) -> None:
        self.config = config
        self._keys: dict[str, Any] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def _jwks_url(self, client: httpx.AsyncClient) -> str:
        if self.config.jwks_url:
            return self.config.jwks_url
        issuer = self.config.issuer.rstrip("/")
        try:
            response = await client.get(f"{issuer}/.well-known/openid-configuration")
            if response.status_code == 200:
                return str(response.json()["jwks_uri"])
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        return f"{issuer}/.well-known/jwks.json"

    async def _refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._fetched_at < REFETCH_SECONDS:
                return
            self._fetched_at = time.monotonic()
            async with httpx.AsyncClient(timeout=5) as client:
                url = await self._jwks_url(client)
                try:
                    response = await client.get(url)
                    response.raise_for_status()
                    keys = jwt.PyJWKSet.from_dict(response.json()).keys
                except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as exc:
                    log.warning("the OIDC JWKS could not be fetched", extra={"url": url})
                    raise AuthUnavailable(
                        f"the OIDC issuer's keys could not be fetched from {url}: "
                        f"{type(exc).__name__}"
                    ) from exc
            self._keys = {key.key_id or "": key for key in keys}

    async def _key(self, kid: str) -> Any:
        if kid not in self._keys:
            await self._refresh()
        key = self._keys.get(kid)
        if key is None and kid == "" and len(self._keys) == 1:
            key = next(iter(self._keys.values()))
        if key is None:
            raise Unauthenticated(f"the JWT's signing key {kid!r} is not in the issuer's JWKS")
        return key

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"the bearer credential is not a valid JWT: {exc}") from exc
        if header.get("alg") not in ALGORITHMS:
            raise Unauthenticated(f"JWTs signed with {header.get('alg')!r} are not accepted")
        key = await self._key(str(header.get("kid") or ""))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=ALGORITHMS,
                audience=self.config.audience,
                issuer=self.config.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("the JWT has expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise Unauthenticated(
                f"the JWT is not for this audience (expected {self.config.audience!r})"
            ) from exc
        except jwt.InvalidIssuerError as exc:
            raise Unauthenticated(f"the JWT was not issued by {self.config.issuer!r}") from exc
        except jwt.InvalidSignatureError as exc:
            raise Unauthenticated("the JWT's signature does not verify") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"the JWT is not valid: {exc}") from exc
        name = claims.get(self.config.name_claim) or claims.get("sub")
        if not isinstance(name, str) or not name:
            raise Unauthenticated(
                f"the JWT names nobody: no {self.config.name_claim!r} or 'sub' claim"
            )
        return Principal(
            name=name,
            kind="user",
            grants=grants_of(claims.get(self.config.roles_claim)),
            token_id=None,
            via="oidc",
        )

"""Access control's pure parts: roles, grants, principals, tokens, the cache, OIDC claims."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from services.registry.service_layer import auth as service
from services.registry.service_layer.auth import StoredPrincipal, StoredToken
from shared.auth.cache import TTLCache, credential_key
from shared.auth.errors import Forbidden, Unauthenticated
from shared.auth.oidc import grants_of
from shared.auth.principal import ANONYMOUS, Principal, require_list
from shared.auth.roles import Grant, InvalidGrant, Role, parse_grant
from shared.auth.tokens import (
    MalformedToken,
    hash_token,
    new_token,
    token_id_of,
    verify_token,
)

V, L, E, A = Role.VIEWER, Role.LAUNCHER, Role.EDITOR, Role.ADMIN


def who(*grants: str) -> Principal:
    return Principal("alice", "user", tuple(parse_grant(g) for g in grants))


def test_roles_are_ordered() -> None:
    assert [r.value for r in sorted(Role, key=lambda r: r.rank)] == [
        "viewer",
        "launcher",
        "editor",
        "admin",
    ]
    assert A.allows(V)
    assert E.allows(L)
    assert L.allows(L)
    assert not V.allows(L)
    assert not L.allows(E)
    assert not E.allows(A)


@pytest.mark.parametrize(
    ("text", "grant"),
    [
        ("flytesnacks:launcher", Grant("flytesnacks", None, L)),
        ("flytesnacks/development:editor", Grant("flytesnacks", "development", E)),
        ("*:admin", Grant("*", None, A)),
        (" ml:Viewer ", Grant("ml", None, V)),
    ],
)
def test_grants_parse(text: str, grant: Grant) -> None:
    assert parse_grant(text) == grant
    assert parse_grant(grant.text()) == grant


@pytest.mark.parametrize(
    "text", ["flytesnacks", ":admin", "p:owner", "p/../x:viewer", "*/dev:admin", "p q:viewer"]
)
def test_malformed_grants_are_refused(text: str) -> None:
    with pytest.raises(InvalidGrant):
        parse_grant(text)


def test_the_role_ladder_on_one_project() -> None:
    viewer, launcher, editor = who("a:viewer"), who("a:launcher"), who("a:editor")
    assert viewer.can(V, "a")
    assert not viewer.can(L, "a")
    assert launcher.can(L, "a")
    assert not launcher.can(E, "a")
    assert editor.can(E, "a")
    assert not editor.can(A, "a")


def test_a_grant_does_not_reach_another_project() -> None:
    p = who("a:admin")
    assert p.can(A, "a")
    assert p.can(V, "a", "production")
    assert not p.can(V, "b")


def test_a_domain_grant_reaches_only_its_domain() -> None:
    p = who("a/dev:editor")
    assert p.can(E, "a", "dev")
    assert not p.can(V, "a", "prod")
    assert not p.can(V, "a")  # the whole project is more than one domain
    assert p.projects(V) == set()


def test_star_reaches_every_project() -> None:
    p = who("*:viewer")
    assert p.can(V, "anything", "any")
    assert not p.can(L, "anything")
    assert p.projects(V) is None
    assert ANONYMOUS.can(A, "x")
    assert ANONYMOUS.projects(A) is None


def test_projects_lists_project_wide_grants_of_enough_role() -> None:
    p = who("a:viewer", "b:editor", "c/dev:admin")
    assert p.projects(V) == {"a", "b"}
    assert p.projects(E) == {"b"}


def test_require_names_principal_role_and_project() -> None:
    with pytest.raises(Forbidden) as caught:
        who("a:launcher").require(E, "b", "dev")
    error = caught.value
    assert error.status == 403
    assert error.code == "forbidden"
    assert "alice" in error.message
    assert "editor" in error.message
    assert "project b" in error.message
    assert "domain dev" in error.message
    assert error.details == [
        {"principal": "alice", "role": "editor", "project": "b", "domain": "dev"}
    ]


def test_lists_across_projects_need_star() -> None:
    require_list(who("*:viewer"), V, None)
    require_list(who("a:viewer"), V, "a")
    with pytest.raises(Forbidden, match=r"\?project="):
        require_list(who("a:viewer"), V, None)
    with pytest.raises(Forbidden):
        require_list(who("a:viewer"), V, "b")


def test_principals_round_trip_through_whoami_json() -> None:
    p = Principal("svc", "service", (Grant("a", "dev", L), Grant("*", None, V)), "abc", "token")
    assert Principal.from_json(p.as_json()) == p


# --- tokens ----------------------------------------------------------------------------------


def test_a_new_token_has_the_contract_form_and_verifies() -> None:
    made = new_token()
    assert made.token.startswith(f"ctr_{made.token_id}_")
    assert len(made.token_id) == 12
    assert made.token_id.isalnum()
    assert token_id_of(made.token) == made.token_id
    assert verify_token(made.token, made.hash, made.salt)
    assert made.token not in made.hash
    assert not verify_token(
        made.token[:-1] + ("A" if made.token[-1] != "A" else "B"), made.hash, made.salt
    )
    assert not verify_token(made.token, made.hash, b"another salt....")


def test_same_token_different_salts_different_hashes() -> None:
    made = new_token()
    assert hash_token(made.token, b"1" * 16) != hash_token(made.token, b"2" * 16)


@pytest.mark.parametrize(
    "text", ["ctr_", "ctr_ABCDEFGHIJKL_" + "x" * 43, "ctr_abcdefghijkl_short", "xyz", ""]
)
def test_malformed_tokens(text: str) -> None:
    with pytest.raises(MalformedToken):
        token_id_of(text)


def test_a_stored_hash_of_an_unknown_scheme_never_verifies() -> None:
    made = new_token()
    assert not verify_token(made.token, "bcrypt$x", made.salt)
    assert not verify_token(made.token, "garbage", made.salt)


# --- the cache -------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_cache_forgets_after_its_ttl() -> None:
    clock = Clock()
    cache: TTLCache[str] = TTLCache(2.0, clock=clock)
    cache.put("k", "v")
    clock.now = 1.9
    assert cache.get("k") == "v"
    clock.now = 2.0
    assert cache.get("k") is None


def test_the_cache_is_bounded_and_discards_by_value() -> None:
    cache: TTLCache[int] = TTLCache(10.0, max_entries=3, clock=Clock())
    for i in range(5):
        cache.put(str(i), i)
    assert len(cache) == 3
    assert cache.get("0") is None
    assert cache.get("4") == 4
    assert cache.discard_where(lambda v: v % 2 == 0) == 2
    assert cache.get("4") is None
    assert cache.get("3") == 3


def test_a_zero_ttl_caches_nothing_and_keys_hide_the_credential() -> None:
    cache: TTLCache[str] = TTLCache(0)
    cache.put("k", "v")
    assert cache.get("k") is None
    assert "ctr_" not in credential_key("ctr_secret")
    assert len(credential_key("x")) == 64


# --- OIDC claims -----------------------------------------------------------------------------


def test_roles_claims_map_to_grants_and_skip_the_rest() -> None:
    claim = ["flytesnacks:launcher", "flytesnacks/development:editor", "*:admin", "offline_access"]
    assert grants_of(claim) == (
        Grant("flytesnacks", None, L),
        Grant("flytesnacks", "development", E),
        Grant("*", None, A),
    )
    assert grants_of("a:viewer b:editor") == (Grant("a", None, V), Grant("b", None, E))
    assert grants_of(None) == ()
    assert grants_of(42) == ()


# --- resolving a token (over an in-memory store) -----------------------------------------------


@dataclass
class FakeStore:
    rows: dict[str, tuple[str, bytes, StoredToken, StoredPrincipal]]
    touched: list[str]

    async def credential(
        self, token_id: str
    ) -> tuple[str, bytes, StoredToken, StoredPrincipal] | None:
        return self.rows.get(token_id)

    async def touch(self, token_id: str, at: datetime) -> None:
        self.touched.append(token_id)


NOW = datetime(2026, 1, 1, tzinfo=UTC)


def stored(
    revoked: datetime | None = None, expires: datetime | None = None
) -> tuple[str, FakeStore]:
    made = new_token()
    meta = StoredToken(made.token_id, "bob", "", NOW, expires, revoked, None)
    principal = StoredPrincipal("bob", "user", (Grant("a", None, L),))
    return made.token, FakeStore({made.token_id: (made.hash, made.salt, meta, principal)}, [])


async def test_a_valid_token_resolves_to_its_principal() -> None:
    token, store = stored(expires=NOW + timedelta(days=1))
    principal = await service.resolve(store, token, NOW, None)  # type: ignore[arg-type]
    assert principal.name == "bob"
    assert principal.via == "token"
    assert principal.token_id == token_id_of(token)
    assert principal.can(L, "a")
    assert store.touched == [principal.token_id]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unknown", "is not valid"),
        ("wrong secret", "is not valid"),
        ("revoked", "was revoked"),
        ("expired", "expired"),
        ("malformed", "is not ctr_"),
        ("jwt without issuer", "no OIDC issuer"),
        ("garbage", "neither"),
    ],
)
async def test_bad_credentials_are_unauthenticated(case: str, message: str) -> None:
    token, store = stored(
        revoked=NOW if case == "revoked" else None,
        expires=NOW - timedelta(seconds=1) if case == "expired" else None,
    )
    credential = {
        "unknown": new_token().token,
        "wrong secret": token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"),
        "malformed": "ctr_short",
        "jwt without issuer": "a.b.c",
        "garbage": "hello",
    }.get(case, token)
    with pytest.raises(Unauthenticated, match=message) as caught:
        await service.resolve(store, credential, NOW, None)  # type: ignore[arg-type]
    assert caught.value.status == 401
    assert caught.value.code == "unauthenticated"
    assert caught.value.headers == {"WWW-Authenticate": "Bearer"}
    assert store.touched == []

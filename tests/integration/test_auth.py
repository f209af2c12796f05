"""Access control on real services: 401s, 403s across projects, the role ladder, revocation
seen by a service that resolves through the registry, and OIDC JWTs.

The shared stack runs with authentication off until it is switched on, so the
services here are started by the test with ``CONTRAIL_AUTH_ENABLED=true`` on
the same PostgreSQL and Kafka: a registry (which resolves credentials itself
and trusts a JWKS served by the test), and a launcher and a notifier that ask
that registry who a credential is. The stack's admin token is the root of trust.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from services.metrics.entrypoints.http import build_app as metrics_app
from shared.identifiers import ResourceType
from shared.settings import MetricsSettings, StackSettings
from tests.auth import admin_token
from tests.eventually import eventually
from tests.integration.auth_support import AUDIENCE, AuthService, Issuer, new_key
from tests.integration.registry_support import KIND_PATHS, body, task_spec
from tests.integration.service_process import ServiceProcess


@pytest.fixture(scope="module")
def root(stack: StackSettings) -> str:
    token = admin_token()
    if token is None:
        pytest.skip("the stack has no admin token (contrail demo up makes one)")
    return token


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    found = Issuer()
    yield found
    found.close()


@pytest.fixture(scope="module")
def registry(
    stack: StackSettings, root: str, issuer: Issuer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AuthService]:
    log = tmp_path_factory.mktemp("auth") / "registry.log"
    env = {
        "CONTRAIL_OIDC_ISSUER": issuer.url,
        "CONTRAIL_OIDC_AUDIENCE": AUDIENCE,
        "CONTRAIL_AUTH_CACHE_SECONDS": "1",
    }
    process = AuthService("registry", env, log).start()
    yield process
    process.stop()


def _remote_env(registry: AuthService, root: str) -> dict[str, str]:
    return {
        "CONTRAIL_REGISTRY_URL": registry.url,
        "CONTRAIL_SERVICE_TOKEN": root,
        "CONTRAIL_AUTH_CACHE_SECONDS": "1",
    }


@pytest.fixture(scope="module")
def launcher(
    registry: AuthService, root: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AuthService]:
    log = tmp_path_factory.mktemp("auth") / "launcher.log"
    process = AuthService("launcher", _remote_env(registry, root), log).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def notifier(
    registry: AuthService, root: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AuthService]:
    name = uuid.uuid4().hex[:10]
    env = {
        **_remote_env(registry, root),
        "CONTRAIL_NOTIFIER_SCHEMA": f"notifier_t{name}",
        "CONTRAIL_NOTIFIER_GROUP": f"test-notifier-{name}",
        "CONTRAIL_NOTIFIER_EXECUTIONS_TOPIC": f"test.auth.{name}",
    }
    log = tmp_path_factory.mktemp("auth") / "notifier.log"
    process = AuthService("notifier", env, log).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def projects(registry: AuthService, root: str) -> tuple[str, str]:
    """Two projects, A and B."""
    names = (f"auth-a-{uuid.uuid4().hex[:6]}", f"auth-b-{uuid.uuid4().hex[:6]}")
    with registry.client(root) as api:
        for name in names:
            response = api.post("/api/v1/projects", json={"name": name})
            assert response.status_code == 201, response.text
    return names


def make_token(registry: AuthService, root: str, project: str, role: str, **extra: Any) -> str:
    with registry.client(root) as api:
        response = api.post("/api/v1/auth/tokens", json={"project": project, "role": role, **extra})
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    """The machine-readable error of a refused request, checked for its status and code."""
    assert response.status_code == status, (response.status_code, response.text)
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == {401: "unauthenticated", 403: "forbidden"}[status]
    assert error["message"]
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    return error


def register_task(api: httpx.Client, project: str, name: str = "t") -> httpx.Response:
    spec = task_spec(f"{name}")
    return api.post(
        f"/api/v1/{KIND_PATHS[ResourceType.TASK]}", json=body(project, spec.name, "v1", spec)
    )


def launch(api: httpx.Client, project: str) -> httpx.Response:
    return api.post(
        "/api/v1/executions",
        json={"project": project, "domain": "development", "launch_plan": {"name": "absent"}},
    )


# --- 401 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "says"),
    [
        (None, "no credential"),
        ("Basic YWxpY2U6c2VjcmV0", "not 'Bearer"),
        ("Bearer", "not 'Bearer"),
        ("Bearer ctr_short", "ctr_<12"),
        ("Bearer ctr_abcdefghijkl_" + "A" * 43, "not valid"),
        ("Bearer hello", "neither"),
        ("Bearer a.b.c", "JWT"),
    ],
)
def test_no_or_bad_credential_is_401_on_every_service(
    registry: AuthService,
    launcher: AuthService,
    notifier: AuthService,
    header: str | None,
    says: str,
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    for service, path in (
        (registry, "/api/v1/projects"),
        (launcher, "/api/v1/executions?project=x"),
        (notifier, "/api/v1/subscriptions"),
    ):
        response = httpx.get(f"{service.url}{path}", headers=headers, timeout=30)
        error = error_of(response, 401)
        assert says in error["message"], (service.service, error)
        # Health stays open.
        assert httpx.get(f"{service.url}/healthz", timeout=10).status_code == 200


def test_an_expired_token_is_401(
    registry: AuthService, root: str, projects: tuple[str, str]
) -> None:
    token = make_token(registry, root, projects[0], "viewer", expires_in_seconds=1)
    with registry.client(token) as api:
        response = eventually(
            lambda: api.get(f"/api/v1/projects/{projects[0]}"),
            lambda r: r.status_code == 401,
            timeout=15,
            what="the token to expire",
        )
    assert "expired" in error_of(response, 401)["message"]


def test_a_revoked_token_stops_working_within_seconds_on_a_remote_service(
    registry: AuthService, notifier: AuthService, root: str, projects: tuple[str, str]
) -> None:
    token = make_token(registry, root, projects[0], "viewer", name="to revoke")
    with notifier.client(token) as remote, registry.client(root) as admin:
        assert remote.get("/api/v1/subscriptions").status_code == 200  # now cached there
        token_id = token.split("_")[1]
        revoked = admin.delete(f"/api/v1/auth/tokens/{token_id}")
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["revoked_at"] is not None
        assert "token" not in revoked.json()
        with registry.client(token) as local:
            assert "revoked" in error_of(local.get("/api/v1/auth/whoami"), 401)["message"]
        response = eventually(
            lambda: remote.get("/api/v1/subscriptions"),
            lambda r: r.status_code == 401,
            timeout=10,
            what="the notifier to refuse the revoked token",
        )
    assert "revoked" in error_of(response, 401)["message"]


# --- 403: one project's token in another ----------------------------------------------------------


def test_a_launcher_token_for_a_cannot_read_launch_or_register_in_b(
    registry: AuthService,
    launcher: AuthService,
    notifier: AuthService,
    root: str,
    projects: tuple[str, str],
) -> None:
    a, b = projects
    token = make_token(registry, root, a, "launcher")
    with (
        registry.client(token) as reg,
        launcher.client(token) as lau,
        notifier.client(token) as notes,
    ):
        # In A: reads and launches pass access control (the launch plan does not exist: 404).
        assert reg.get(f"/api/v1/projects/{a}").status_code == 200
        assert reg.get("/api/v1/tasks", params={"project": a}).status_code == 200
        assert lau.get("/api/v1/executions", params={"project": a}).status_code == 200
        assert launch(lau, a).status_code == 404
        assert lau.post(f"/api/v1/executions/{a}/development/absent/relaunch").status_code == 404
        # In B: 403, naming who, what role and which project.
        for response in (
            reg.get(f"/api/v1/projects/{b}"),
            reg.get("/api/v1/tasks", params={"project": b}),
            reg.get(f"/api/v1/tasks/{b}/development/t/v1"),
            register_task(reg, b),
            lau.get("/api/v1/executions", params={"project": b}),
            lau.get(f"/api/v1/executions/{b}/development/x"),
            launch(lau, b),
            lau.post(f"/api/v1/executions/{b}/development/x/abort"),
            lau.post(f"/api/v1/executions/{b}/development/x/relaunch"),
            lau.get(f"/console/projects/{b}/domains/development/executions/x"),
            notes.post(
                "/api/v1/subscriptions",
                json={
                    "project": b,
                    "phases": ["FAILED"],
                    "channels": [{"kind": "email", "target": "x@example.com"}],
                },
            ),
        ):
            error = error_of(response, 403)
            assert f"project {b}" in error["message"], error
            assert error["details"][0]["project"] == b
        # Across projects: it must name one.
        assert "?project=" in error_of(lau.get("/api/v1/executions"), 403)["message"]
        assert "?project=" in error_of(reg.get("/api/v1/tasks"), 403)["message"]
        # The projects list shows A only.
        names = {
            p["name"] for p in reg.get("/api/v1/projects", params={"limit": 500}).json()["items"]
        }
        assert b not in names
    # The console takes the token from its cookie too (a browser's way).
    cookies = {"contrail_token": token}
    page = httpx.get(
        f"{launcher.url}/console/projects/{b}/domains/development/executions/x", cookies=cookies
    )
    error_of(page, 403)


def test_the_role_ladder(
    registry: AuthService, launcher: AuthService, root: str, projects: tuple[str, str]
) -> None:
    a, b = projects
    viewer, launcher_, editor, admin = (
        make_token(registry, root, a, role) for role in ("viewer", "launcher", "editor", "admin")
    )
    with launcher.client(viewer) as lau:
        assert "launcher" in error_of(launch(lau, a), 403)["message"]
        assert lau.get("/api/v1/executions", params={"project": a}).status_code == 200
    with registry.client(launcher_) as reg:
        assert "editor" in error_of(register_task(reg, a), 403)["message"]
    with registry.client(editor) as reg:
        assert register_task(reg, a, f"t{uuid.uuid4().hex[:6]}").status_code == 201
        grant = {"principal": "someone", "project": a, "role": "viewer"}
        assert "admin" in error_of(reg.post("/api/v1/auth/grants", json=grant), 403)["message"]
        error_of(reg.post("/api/v1/auth/tokens", json={"project": a, "role": "viewer"}), 403)
    with registry.client(admin) as reg:
        person = f"person-{uuid.uuid4().hex[:6]}"
        grant = {"principal": person, "project": a, "role": "viewer"}
        assert reg.post("/api/v1/auth/grants", json=grant).status_code == 201
        assert reg.post("/api/v1/auth/grants", json=grant).status_code == 200
        listed = reg.get("/api/v1/auth/grants", params={"principal": person}).json()["items"]
        assert listed == [{"principal": person, "project": a, "domain": None, "role": "viewer"}]
        error_of(reg.post("/api/v1/auth/grants", json={**grant, "project": b}), 403)
        error_of(reg.post("/api/v1/auth/tokens", json={"project": "*", "role": "viewer"}), 403)
        # An admin of A may not mint a token for the stack's admin (who holds * grants).
        error_of(
            reg.post(
                "/api/v1/auth/tokens", json={"project": a, "role": "viewer", "principal": "admin"}
            ),
            403,
        )
        made = reg.post(
            "/api/v1/auth/tokens", json={"project": a, "role": "viewer", "principal": person}
        )
        assert made.status_code == 201, made.text
        tokens = reg.get("/api/v1/auth/tokens", params={"principal": person}).json()["items"]
        assert [t["id"] for t in tokens] == [made.json()["id"]]
        assert all("token" not in t and "hash" not in t for t in tokens)
        params = {"principal": person, "project": a, "role": "viewer"}
        assert reg.delete("/api/v1/auth/grants", params=params).status_code == 200
        assert reg.delete("/api/v1/auth/grants", params=params).status_code == 404


def test_a_new_service_account_token_names_its_grant(
    registry: AuthService, root: str, projects: tuple[str, str]
) -> None:
    a = projects[0]
    token = make_token(registry, root, a, "launcher", domain="development")
    with registry.client(token) as api:
        me = api.get("/api/v1/auth/whoami").json()
    assert me["kind"] == "service"
    assert me["via"] == "token"
    assert me["name"].startswith(f"{a}-launcher-")
    assert me["grants"] == [{"project": a, "domain": "development", "role": "launcher"}]
    assert me["token_id"] == token.split("_")[1]


# --- OIDC ----------------------------------------------------------------------------------------


def test_oidc_jwts_are_accepted_with_their_roles(
    registry: AuthService,
    notifier: AuthService,
    issuer: Issuer,
    projects: tuple[str, str],
) -> None:
    a, b = projects
    token = issuer.token("carol@example.com", [f"{a}:viewer", "offline_access"])
    with registry.client(token) as api:
        me = api.get("/api/v1/auth/whoami")
        assert me.status_code == 200, me.text
        assert me.json() == {
            "name": "carol@example.com",
            "kind": "user",
            "via": "oidc",
            "token_id": None,
            "grants": [{"project": a, "domain": None, "role": "viewer"}],
        }
        assert api.get(f"/api/v1/projects/{a}").status_code == 200
        error_of(api.get(f"/api/v1/projects/{b}"), 403)
    # A service that resolves through the registry takes it too.
    with notifier.client(token) as remote:
        assert remote.get("/api/v1/subscriptions").status_code == 200


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("bad signature", "signature"),
        ("wrong audience", "audience"),
        ("wrong issuer", "issued by"),
        ("expired", "expired"),
        ("unknown key", "signing key"),
    ],
)
def test_oidc_jwts_are_refused(
    registry: AuthService, issuer: Issuer, projects: tuple[str, str], case: str, says: str
) -> None:
    roles = [f"{projects[0]}:admin"]
    if case == "bad signature":
        token = issuer.token("mallory", roles, key=new_key())
    elif case == "wrong audience":
        token = issuer.token("mallory", roles, audience="another-service")
    elif case == "wrong issuer":
        token = issuer.token("mallory", roles, issuer="http://127.0.0.1:1")
    elif case == "expired":
        token = issuer.token("mallory", roles, expires_in=-120)
    else:
        other = Issuer()
        try:
            token = other.token("mallory", roles, issuer=issuer.url)
        finally:
            other.close()
    with registry.client(token) as api:
        error = error_of(api.get("/api/v1/auth/whoami"), 401)
    assert says in error["message"], error


def test_a_log_of_the_services_holds_no_token(
    registry: AuthService, launcher: AuthService, root: str, projects: tuple[str, str]
) -> None:
    token = make_token(registry, root, projects[0], "viewer")
    with launcher.client(token) as api:
        api.get("/api/v1/executions", params={"project": projects[0]})
    for process in (registry, launcher):
        text = Path(process.log).read_text()
        assert token not in text
        assert root not in text


async def test_the_metrics_service_checks_the_project_of_usage_queries(
    registry: AuthService, root: str, projects: tuple[str, str]
) -> None:
    """The usage API, in process: its credentials resolved by the registry, refused before any
    query runs (so no metrics database is needed)."""
    a, b = projects
    settings = MetricsSettings(auth_enabled=True, registry_url=registry.url)
    app = metrics_app(settings)
    app.state.runtime = SimpleNamespace(settings=settings)
    app.state.metrics = SimpleNamespace()
    token = make_token(registry, root, a, "viewer")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://metrics") as api:
        error_of(await api.get("/api/v1/usage/summary", params={"project": a}), 401)
        headers = {"Authorization": f"Bearer {token}"}
        for path in ("summary", "top", "rightsizing", "attempts"):
            response = await api.get(
                f"/api/v1/usage/{path}", params={"project": b}, headers=headers
            )
            assert f"project {b}" in error_of(response, 403)["message"]
            response = await api.get(f"/api/v1/usage/{path}", headers=headers)
            assert "?project=" in error_of(response, 403)["message"]


def test_the_console_sign_in_keeps_the_token_in_an_http_only_cookie(
    registry: AuthService, launcher: AuthService, root: str, projects: tuple[str, str]
) -> None:
    a = projects[0]
    page = f"/console/projects/{a}/domains/development/executions/nothing"
    with httpx.Client(base_url=launcher.url, timeout=30) as browser:
        assert browser.get(page).status_code == 401
        form = browser.get("/console/login", params={"next": page})
        assert form.status_code == 200
        assert "name='token'" in form.text
        refused = browser.post("/console/login", data={"token": "ctr_nope", "next": page})
        assert refused.status_code == 401
        assert "ctr_nope" not in refused.text
        token = make_token(registry, root, a, "viewer")
        signed_in = browser.post("/console/login", data={"token": token, "next": page})
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == page
        cookie = signed_in.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        # Past access control: there is no such execution.
        assert browser.get(page).status_code == 404
        # The cookie is not taken for a change (no form elsewhere can act through it).
        response = browser.post(f"/api/v1/executions/{a}/development/nothing/abort")
        error_of(response, 401)
        # Never an open redirect.
        away = browser.post(
            "/console/login", data={"token": token, "next": "https://evil.example/"}
        )
        assert away.headers["location"] == "/console/login"


async def test_a_service_refuses_to_trust_a_registry_that_checks_no_credentials(
    tmp_path: Path,
) -> None:
    """With auth on here but off at the registry, whoami answers "anonymous" for anything:
    503, not a door open to every credential."""
    open_registry = ServiceProcess(
        "registry", {"CONTRAIL_AUTH_ENABLED": "false"}, tmp_path / "registry.log"
    ).start()
    try:
        async with httpx.AsyncClient(base_url=open_registry.url, timeout=30) as registry:
            assert (await registry.get("/api/v1/auth/whoami")).json()["via"] == "anonymous"
        settings = MetricsSettings(auth_enabled=True, registry_url=open_registry.url)
        app = metrics_app(settings)
        app.state.runtime = SimpleNamespace(settings=settings)
        app.state.metrics = SimpleNamespace()
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": "Bearer ctr_abcdefghijkl_" + "A" * 43}
        async with httpx.AsyncClient(transport=transport, base_url="http://metrics") as api:
            response = await api.get("/api/v1/usage/freshness", headers=headers)
    finally:
        open_registry.stop()
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    assert "does not check credentials" in response.json()["error"]["message"]

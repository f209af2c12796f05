"""Access control from the command line, as a user meets it, against the stack with auth on.

Every command runs the installed ``contrail`` from a folder of the user's own
(never the checkout), with its own ``HOME`` (so its own config) and no
``CONTRAIL_TOKEN`` unless a test gives one: the token a command carries is the
one ``contrail auth login`` stored in ``~/.contrail/config.yaml``, or the one the test hands it.

These tests need the stack's services to enforce access (``CONTRAIL_AUTH_ENABLED``
true, the stack's default once access control is finished); against a stack
with auth off they fail on their first refusal that does not come.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shared.settings import StackSettings
from tests.auth import admin_token
from tests.eventually import eventually

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CONTRAIL = REPO / ".venv" / "bin" / "contrail"

FLOWS = """
from contrail import task, workflow


@task
def double(x: int) -> int:
    return 2 * x


@workflow
def wf(x: int = 1) -> int:
    return double(x=x)
"""


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def error(self) -> str:
        """The one error line of a failed command (its lines joined: Rich may wrap)."""
        assert self.code == 1, self.output
        assert self.stderr.startswith("error: "), self.output
        assert "Traceback" not in self.output, self.output
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return " ".join(" ".join(lines).split())


Run = Callable[..., Result]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("authuser")
    assert REPO not in folder.parents
    return folder


@pytest.fixture(scope="module")
def admin(stack: StackSettings) -> str:
    token = admin_token()
    assert token, "the stack has no admin token: `contrail demo up` makes it"
    return token


@pytest.fixture(scope="module")
def run(stack: StackSettings, home: Path) -> Run:
    """``contrail ARGS...`` in ``home``, with its config file and only the token given."""

    def run(
        *args: str | Path, token: str | None = None, stdin: str | None = None, timeout: float = 120
    ) -> Result:
        env = {
            **os.environ,
            "HOME": str(home),  # the config is the user's own: ~/.contrail/config.yaml
            "CONTRAIL_ENDPOINT": stack.gateway_url,
            "COLUMNS": "200",
            "NO_COLOR": "1",
        }
        for name in ("CONTRAIL_CONFIG", "CONTRAIL_TOKEN", "CONTRAIL_PROJECT", "CONTRAIL_DOMAIN"):
            env.pop(name, None)
        if token is not None:
            env["CONTRAIL_TOKEN"] = token
        done = subprocess.run(
            [str(CONTRAIL), *map(str, args)],
            cwd=home,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        result = Result(done.returncode, done.stdout, done.stderr)
        assert "Traceback" not in result.output, result.output
        return result

    return run


def _json(result: Result) -> Any:
    assert result.code == 0, result.output
    return json.loads(result.stdout)


def _new_project(run: Run, admin: str) -> str:
    name = f"e2e-auth-{uuid.uuid4().hex[:8]}"
    created = run("create", "project", name, token=admin)
    assert created.code == 0, created.output
    return name


@pytest.fixture(scope="module")
def projects(run: Run, home: Path, admin: str) -> tuple[str, str]:
    """Projects A and B, with a workflow registered in B (by the admin)."""
    a, b = _new_project(run, admin), _new_project(run, admin)
    root = home / "flows-project"
    (root / "flows").mkdir(parents=True)
    (root / "flows" / "__init__.py").write_text("")
    (root / "flows" / "double.py").write_text(FLOWS)
    registered = run("register", root / "flows", "--project", b, token=admin)
    assert registered.code == 0, registered.output
    return a, b


def _created_token(result: Result) -> str:
    assert result.code == 0, result.output
    tokens = [line.strip() for line in result.stdout.splitlines() if line.startswith("ctr_")]
    assert len(tokens) == 1, result.output
    return tokens[0]


# --- signing in ----------------------------------------------------------------------------


def test_without_a_token_a_command_says_how_to_sign_in(run: Run) -> None:
    line = run("get", "projects").error

    assert "not signed in" in line
    assert "contrail auth login" in line


def test_login_checks_the_token_and_stores_it_0600(run: Run, home: Path, admin: str) -> None:
    config = home / ".contrail" / "config.yaml"
    refused = run("auth", "login", "--token", "ctr_aaaaaaaaaaaa_not-a-real-secret")
    assert "does not accept this token" in refused.error
    assert not config.exists()

    signed_in = run("auth", "login", stdin=admin + "\n")  # asked for, without echo

    assert signed_in.code == 0, signed_in.output
    assert "as admin" in signed_in.stdout
    assert admin not in signed_in.output
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert admin in config.read_text()
    whoami = run("auth", "whoami")
    assert whoami.code == 0, whoami.output
    assert whoami.stdout.startswith("admin (user, via token ")
    assert _json(run("auth", "whoami", "-o", "json"))["grants"] == [
        {"project": "*", "domain": None, "role": "admin"}
    ]
    assert run("get", "projects").code == 0


def test_a_token_is_printed_once_and_listed_as_metadata(
    run: Run, projects: tuple[str, str], admin: str
) -> None:
    a, _ = projects
    created = run(
        "auth", "token", "create", "--project", a, "--role", "viewer",
        "--name", "e2e-once", "--expires-in", "1h",
        token=admin,
    )  # fmt: skip
    token = _created_token(created)

    assert "not shown again" in created.stderr
    listed = run("auth", "token", "list", token=admin)
    assert listed.code == 0, listed.output
    row = next(line for line in listed.stdout.splitlines() if "e2e-once" in line)
    token_id = token.split("_")[1]
    assert row.split()[0] == token_id
    assert token not in listed.output
    items = _json(run("auth", "token", "list", "-o", "json", token=admin))
    mine = next(item for item in items if item["id"] == token_id)
    assert "token" not in mine
    assert mine["expires_at"] is not None
    assert token not in json.dumps(items)


def test_a_revoked_token_gets_the_one_line_401(
    run: Run, projects: tuple[str, str], admin: str
) -> None:
    a, _ = projects
    token = _created_token(
        run("auth", "token", "create", "--project", a, "--role", "viewer", token=admin)
    )
    assert run("get", "workflows", "-p", a, token=token).code == 0

    revoked = run("auth", "token", "revoke", token.split("_")[1], token=admin)
    assert revoked.code == 0, revoked.output

    # in effect within the services' credential cache (seconds)
    refused = eventually(
        lambda: run("get", "workflows", "-p", a, token=token),
        lambda result: result.code != 0,
        timeout=15,
        what="the revoked token refused",
    )
    line = refused.error
    assert "not signed in" in line
    assert "contrail auth login" in line


def test_a_launcher_token_of_project_a_is_refused_in_project_b(
    run: Run, home: Path, projects: tuple[str, str], admin: str
) -> None:
    a, b = projects
    token = _created_token(
        run("auth", "token", "create", "--project", a, "--role", "launcher", token=admin)
    )

    for args in (
        ("get", "workflows", "-p", b),
        ("get", "executions", "-p", b),
        ("launch", "flows.double.wf", "-p", b, "-i", "x=2"),
        ("register", home / "flows-project" / "flows", "--project", b),
    ):
        line = run(*args, token=token).error
        assert line.startswith("error: forbidden:"), (args, line)
        assert b in line, (args, line)

    assert run("get", "workflows", "-p", a, token=token).code == 0
    assert run("get", "workflows", "-p", b, token=admin).code == 0


def test_an_unknown_role_or_duration_lists_what_is_allowed(run: Run, admin: str) -> None:
    role = run("auth", "token", "create", "--project", "x", "--role", "boss", token=admin)
    assert role.code == 2
    assert all(name in role.stderr for name in ("viewer", "launcher", "editor", "admin"))
    duration = run(
        "auth", "token", "create", "--project", "x", "--role", "viewer", "--expires-in", "3x",
        token=admin,
    )  # fmt: skip
    assert duration.code == 2
    assert "30d" in duration.stderr


def test_grants_and_the_audit_log(run: Run, projects: tuple[str, str], admin: str) -> None:
    a, _ = projects
    user = f"e2e-{uuid.uuid4().hex[:6]}"
    granted = run("auth", "grant", user, "--project", a, "--role", "editor", token=admin)
    assert granted.code == 0, granted.output
    taken = run("auth", "revoke-grant", user, "--project", a, "--role", "editor", token=admin)
    assert taken.code == 0, taken.output

    def entries() -> list[dict[str, Any]]:
        result = run("auth", "audit", "-p", a, "--since", "1h", "-o", "json", token=admin)
        items: list[dict[str, Any]] = _json(result)
        return items

    found = eventually(
        entries,
        lambda items: {"grant.create", "grant.delete"} <= {i["action"] for i in items},
        timeout=20,
        what=f"the grants on {a} in the audit log",
    )
    assert {i["actor"] for i in found if i["action"].startswith("grant.")} == {"admin"}

"""The local stack's tokens: kept from the bootstrap, reissued when lost; the CLI signed in."""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from contrail.config import read_config_file
from contrail.demo import credentials
from contrail.demo.errors import StackError
from contrail.demo.layout import Layout

FAKE_BOOTSTRAP = """
import json, sys
from pathlib import Path

args = sys.argv[1:]
calls = Path(__file__).parent / "calls.jsonl"
with calls.open("a") as out:
    out.write(json.dumps(args) + "\\n")
known = Path(__file__).parent / "known.json"
existing = set(json.loads(known.read_text())) if known.exists() else set()
names = ["admin", "svc-launcher", "svc-notifier", "svc-metrics"]
reissue = [args[i + 1] for i, a in enumerate(args) if a == "--reissue"]
made = {
    n: f"ctr_{n.replace('-', '')[:12]:0<12}_secret"
    for n in names
    if n not in existing or n in reissue
}
known.write_text(json.dumps(names))
print(json.dumps(made))
"""


@pytest.fixture
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Layout:
    package = tmp_path / "repo" / "fakeauth"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(FAKE_BOOTSTRAP)
    monkeypatch.setattr(credentials, "BOOTSTRAP_MODULE", "fakeauth")
    home = tmp_path / "home"
    (home / "logs").mkdir(parents=True)
    return Layout(home=home, cache=tmp_path / "cache", repo=tmp_path / "repo")


def _calls(layout: Layout) -> list[list[str]]:
    lines = (layout.repo / "fakeauth" / "calls.jsonl").read_text().splitlines()
    return [json.loads(line)[1:] for line in lines]


def test_the_first_bootstrap_keeps_every_token_0600(layout: Layout) -> None:
    made = credentials.bootstrap(layout, {"PATH": "", "PYTHONPATH": ""})

    assert made == sorted(credentials.PRINCIPALS)
    assert stat.S_IMODE(credentials.secrets_dir(layout).stat().st_mode) == 0o700
    for name in credentials.PRINCIPALS:
        assert stat.S_IMODE(credentials.token_path(layout, name).stat().st_mode) == 0o600
    assert credentials.service_token_env("launcher", layout) == {
        "CONTRAIL_SERVICE_TOKEN": credentials.read_token(layout, "svc-launcher")
    }
    assert credentials.service_token_env("registry", layout) == {}
    assert "ctr_" not in (layout.home / "logs" / "auth-bootstrap.log").read_text()


def test_later_ups_reuse_the_tokens_and_reissue_only_a_lost_one(layout: Layout) -> None:
    credentials.bootstrap(layout, {})
    admin = credentials.read_token(layout, "admin")
    credentials.token_path(layout, "svc-metrics").unlink()

    made = credentials.bootstrap(layout, {})

    assert made == ["svc-metrics"]
    assert _calls(layout) == [[], [], ["--reissue", "svc-metrics"]]
    assert credentials.read_token(layout, "admin") == admin
    assert credentials.read_token(layout, "svc-metrics") is not None


class _Whoami(BaseHTTPRequestHandler):
    accepted: str = ""

    def do_GET(self) -> None:
        ok = self.headers.get("Authorization") == f"Bearer {self.accepted}"
        body = {"name": "alice"} if ok else {"error": {"code": "unauthenticated", "message": "no"}}
        data = json.dumps(body).encode()
        self.send_response(200 if ok else 401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Whoami)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_cli_is_signed_in_unless_its_token_is_accepted(
    layout: Layout, gateway: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials.bootstrap(layout, {})
    admin = credentials.read_token(layout, "admin")
    config = tmp_path / "user" / "config.yaml"
    monkeypatch.setenv("CONTRAIL_CONFIG", str(config))
    monkeypatch.delenv("CONTRAIL_TOKEN", raising=False)

    config.parent.mkdir()
    config.write_text(f"admin:\n  endpoint: {gateway}\n")
    line = credentials.sign_in_cli(layout, gateway)
    assert line.startswith("the CLI is signed in as admin")
    assert read_config_file(config) == {"endpoint": gateway, "token": admin}
    assert stat.S_IMODE(config.stat().st_mode) == 0o600

    _Whoami.accepted = "ctr_alice"
    config.write_text(f"admin:\n  endpoint: {gateway}\n  token: ctr_alice\n")
    assert "keeps its own token" in credentials.sign_in_cli(layout, gateway)
    assert read_config_file(config)["token"] == "ctr_alice"

    _Whoami.accepted = "something else"  # the stack no longer accepts ctr_alice
    assert credentials.sign_in_cli(layout, gateway).startswith("the CLI is signed in as admin")
    assert read_config_file(config)["token"] == admin
    assert admin is not None
    assert admin not in credentials.sign_in_cli(layout, gateway)


def test_a_config_for_another_cluster_is_left_alone(
    layout: Layout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials.bootstrap(layout, {})
    config = tmp_path / "config.yaml"
    config.write_text("admin:\n  endpoint: https://contrail.example.com\n")
    monkeypatch.setenv("CONTRAIL_CONFIG", str(config))

    line = credentials.sign_in_cli(layout, "http://127.0.0.1:18080")

    assert "left as it is" in line
    assert config.read_text() == "admin:\n  endpoint: https://contrail.example.com\n"


def test_a_failing_bootstrap_is_one_line_naming_its_log(layout: Layout) -> None:
    (layout.repo / "fakeauth" / "__main__.py").write_text(
        "import sys\nprint('error: the database is not there', file=sys.stderr)\nsys.exit(1)\n"
    )
    with pytest.raises(StackError, match=r"the database is not there; see .*auth-bootstrap\.log"):
        credentials.bootstrap(layout, {})

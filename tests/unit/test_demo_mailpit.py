"""The local stack's Mailpit: where it listens, what it keeps, and when it starts."""

from __future__ import annotations

from pathlib import Path

from contrail.demo import install
from contrail.demo.components import Mailpit
from contrail.demo.layout import Layout
from contrail.demo.pidfiles import PidFiles
from contrail.demo.stack import Stack
from shared.settings import StackSettings

ROOT = Path(__file__).resolve().parents[2]


def _mailpit(tmp_path: Path, **settings: object) -> Mailpit:
    layout = Layout(home=tmp_path / "home", cache=tmp_path / "cache", repo=ROOT)
    stack_settings = StackSettings().model_copy(update=settings)
    return Mailpit(stack_settings, layout, PidFiles(layout.run_dir))


def _flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_it_listens_where_the_settings_say(tmp_path: Path) -> None:
    mailpit = _mailpit(
        tmp_path, smtp_host="127.0.0.2", smtp_port=21025, mailpit_url="http://127.0.0.3:28025"
    )
    argv = mailpit.argv()

    assert _flag(argv, "--smtp") == "127.0.0.2:21025"
    assert _flag(argv, "--listen") == "127.0.0.3:28025"
    assert mailpit.ports() == [("127.0.0.2", 21025), ("127.0.0.3", 28025)]
    assert "smtp 127.0.0.2:21025" in mailpit.endpoint()


def test_it_runs_the_cached_build_and_keeps_its_messages_under_home(tmp_path: Path) -> None:
    mailpit = _mailpit(tmp_path)
    argv = mailpit.argv()

    assert argv[0] == str(tmp_path / "cache" / "bin" / "mailpit")
    assert argv[0] == str(install.mailpit_binary(mailpit.layout))
    assert _flag(argv, "--database") == str(tmp_path / "home" / "mailpit" / "mailpit.db")
    assert "--disable-version-check" in argv
    assert mailpit.missing() is not None, "no binary in an empty cache: up builds it"


def test_the_stack_starts_it_with_minio_before_the_gateway() -> None:
    stack = Stack(StackSettings())
    names = [[component.name for component in group] for group in stack.groups]

    mailpit_group = next(i for i, group in enumerate(names) if "mailpit" in group)
    gateway_group = next(i for i, group in enumerate(names) if "gateway" in group)
    assert "minio" in names[mailpit_group]
    assert mailpit_group < gateway_group
    assert stack.component("smtp").name == "mailpit"


def test_without_infrastructure_the_stack_leaves_mailpit_alone() -> None:
    stack = Stack(StackSettings(), infrastructure=False)
    assert "mailpit" not in [component.name for component in stack.components]

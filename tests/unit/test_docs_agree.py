"""The docs a new user reads agree with the software (issue: a Flyte user's first hour)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_settings_reference_lists_contrail_home_once() -> None:
    text = (REPO / "docs" / "settings.md").read_text()
    rows = re.findall(r"^\| `(CONTRAIL_[A-Z0-9_]+)` \|", text, re.MULTILINE)
    assert rows.count("CONTRAIL_HOME") == 1


def test_readme_lists_every_demo_command() -> None:
    from contrail.cli.demo import app

    readme = (REPO / "README.md").read_text()
    commands = sorted(
        c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands
    )
    row = re.search(r"^\| `contrail demo ([a-z|\\]+)` \|", readme, re.MULTILINE)
    assert row is not None
    assert sorted(row.group(1).replace("\\", "").split("|")) == commands


def test_readme_says_usage_errors_exit_2() -> None:
    readme = " ".join((REPO / "README.md").read_text().split())
    assert "exit code 2" in readme


def test_engine_doc_and_phase_option_agree() -> None:
    from contrail.cli.executions import ListedPhase

    engine = (REPO / "docs" / "engine.md").read_text()
    assert "There is no SUCCEEDING" in engine
    assert "never ends TIMED_OUT" in engine
    assert "SUCCEEDING" not in {p.value for p in ListedPhase}
    assert "TIMED_OUT" not in {p.value for p in ListedPhase}

"""``contrail auth``: what it checks before asking the cluster anything."""

from __future__ import annotations

from datetime import timedelta

import pytest
import typer
from typer.testing import CliRunner

from contrail.cli.auth import parse_duration
from contrail.cli.main import app


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("45m", 2700), ("12h", 43200), ("30d", 2592000), ("2w", 1209600)],
)
def test_a_duration_is_a_number_and_a_unit(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["3x", "d", "1.5h", "0d", "-1h", "30 days"])
def test_anything_else_lists_the_units(text: str) -> None:
    with pytest.raises(typer.BadParameter, match=r"\(s, m, h, d, w\), e\.g\. 30d"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("args", "allowed"),
    [
        (["--role", "boss"], ["viewer", "launcher", "editor", "admin"]),
        (["--role", "viewer", "--expires-in", "soon"], ["30d", "12h"]),
    ],
)
def test_a_bad_role_or_duration_is_a_usage_error_naming_what_is_allowed(
    args: list[str], allowed: list[str]
) -> None:
    result = CliRunner().invoke(app, ["auth", "token", "create", "--project", "p", *args])

    assert result.exit_code == 2
    assert all(value in result.output for value in allowed), result.output


def test_an_unknown_audit_action_lists_the_actions() -> None:
    result = CliRunner().invoke(app, ["auth", "audit", "--action", "lunch"])

    assert result.exit_code == 2
    assert "token.create" in result.output, result.output

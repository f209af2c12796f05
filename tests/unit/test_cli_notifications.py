"""The notification commands' rows, and their place next to `contrail get`."""

from __future__ import annotations

from typer.testing import CliRunner

from contrail.cli.main import app
from contrail.cli.notifications import delivery_row, subscription_row


def test_a_subscription_row_says_where_when_and_to_whom() -> None:
    row = subscription_row(
        {
            "id": "sub-1",
            "paused": True,
            "spec": {
                "name": "etl",
                "project": "data-*",
                "domain": "*",
                "workflow": "wf.*",
                "launch_plan": "*",
                "labels": {"team": "x"},
                "kinds": ["execution", "node"],
                "phases": ["FAILED"],
                "failures_in_a_row": 3,
                "recovered": True,
                "digest_seconds": 900,
                "channels": [{"kind": "email", "target": "a@b.io"}],
            },
        }
    )
    assert row == [
        "sub-1",
        "etl",
        "data-*/*/wf.*/* team=x",
        "FAILED (node)",
        "3 in a row, recovered, digest 900s",
        "email:a@b.io",
        "paused",
    ]


def test_a_delivery_row_shows_its_status_tries_and_error() -> None:
    row = delivery_row(
        {
            "id": "d1",
            "execution": None,
            "digest": True,
            "phase": None,
            "channel": "webhook",
            "target": "https://h/…",
            "status": "dead",
            "attempts": 10,
            "last_error": "webhook: the receiver did not accept the message",
        }
    )
    assert row[1:7] == ["digest", "-", "webhook", "https://h/…", "DEAD", "10"]


def test_the_commands_read_well_next_to_get() -> None:
    runner = CliRunner()
    for args in (
        ["create", "subscription", "--help"],
        ["get", "subscriptions", "--help"],
        ["get", "deliveries", "--help"],
        ["subscription", "pause", "--help"],
        ["retry", "delivery", "--help"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
    refused = runner.invoke(app, ["create", "subscription", "--phase", "FAILED"])
    assert refused.exit_code == 1
    assert "give a channel" in refused.output

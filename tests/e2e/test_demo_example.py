"""`make demo`'s last step: register examples/ and run wf, printing outputs and events."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from shared.settings import StackSettings

pytestmark = pytest.mark.integration


def test_demo_example_runs_wf_to_success_and_shows_its_events(stack: StackSettings) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "contrail.cli.main", "demo", "example", "--name", "e2e"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Successfully registered" in out or "Nothing changed: the" in out
    assert "ended SUCCEEDED" in out
    assert '"Hello, e2e!"' in out
    # Both tasks' attempts, and the execution's own end, as read back from Kafka.
    assert out.count("task_attempt.phase_changed") == 6
    assert "execution.phase_changed" in out
    assert " 14 " in out
    # Then the example whose launch plan emails on failure: the alert read back from Mailpit.
    assert "the alert arrived by email" in out
    assert "subject: [contrail] FAILED: flytesnacks/development/" in out
    assert f"inbox: {stack.mailpit_url}/view/" in out

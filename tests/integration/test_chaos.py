"""The chaos run, short (issue 12): a minute of mixed load while three components of the
local stack are SIGKILLed and brought back, and nothing is lost.

It runs ``bench/chaos.py``'s ``run`` in this process with a fixed seed; the run
checks every execution's phase, every event on ``contrail.executions``, the
dead-letter topics, the task code's runs against the recorded attempts, the
alerts at their receivers and the usage totals, and leaves the stack healthy.
The long runs and their tables are in docs/reliability.md.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import pytest
from rich.console import Console

from shared.settings import StackSettings
from tests.integration.launcher_support import REPO
from tests.integration.resilience_support import local_only

pytestmark = [
    pytest.mark.integration,
    local_only("kills components of the local stack under load"),
]

SEED = 12
"""Kills, in this order: the components ``random.Random(12)`` draws first."""


def chaos_module() -> ModuleType:
    """``bench/chaos.py`` (the bench folder is not a package), as module ``bench_chaos``."""
    if "bench_chaos" in sys.modules:
        return sys.modules["bench_chaos"]
    spec = importlib.util.spec_from_file_location("bench_chaos", REPO / "bench" / "chaos.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


async def test_a_minute_of_load_with_three_components_killed_loses_nothing(
    stack: StackSettings,
) -> None:
    chaos = chaos_module()
    result = await chaos.run(duration=60, rate=10, seed=SEED, faults_max=3, fault_interval=12)
    console = Console(width=120, record=True)
    console.print(chaos.table(result))
    shown = console.export_text()
    assert len(result.faults) == 3, shown
    assert result.launched > 0, shown
    assert result.checked >= result.launched, shown
    assert result.events > 0, shown
    assert result.alerts_expected > 0, shown
    assert result.lost == [], shown

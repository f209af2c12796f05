"""The execution engine's domain: a pure, event-sourced state machine.

``decide(state, signal, now)`` is the whole engine: given the state of one
execution and one signal (a worker's report, a cache answer, an abort), it
returns the next state and the commands (events to publish, attempts to
dispatch, cache look-ups, terminations) that the adapters carry out in the
transaction that stores that state. No I/O, no clock, no randomness.
"""

from services.launcher.domain.commands import (
    Command,
    Dispatch,
    Emit,
    Finished,
    LookupCache,
    PhaseEvent,
    StoreCache,
    Terminate,
)
from services.launcher.domain.machine import (
    DEFAULT_SETTINGS,
    Decision,
    MachineSettings,
    create_execution,
    decide,
)
from services.launcher.domain.signals import (
    Abort,
    AttemptAborted,
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    AttemptTimedOut,
    CacheResult,
    Signal,
    Start,
    WorkerLost,
)
from services.launcher.domain.state import (
    AttemptState,
    ExecutionState,
    Literals,
    MapProgress,
    NodeState,
    StopReason,
)

__all__ = [
    "DEFAULT_SETTINGS",
    "Abort",
    "AttemptAborted",
    "AttemptFailed",
    "AttemptStarted",
    "AttemptState",
    "AttemptSucceeded",
    "AttemptTimedOut",
    "CacheResult",
    "Command",
    "Decision",
    "Dispatch",
    "Emit",
    "ExecutionState",
    "Finished",
    "Literals",
    "LookupCache",
    "MachineSettings",
    "MapProgress",
    "NodeState",
    "PhaseEvent",
    "Signal",
    "Start",
    "StopReason",
    "StoreCache",
    "Terminate",
    "WorkerLost",
    "create_execution",
    "decide",
]

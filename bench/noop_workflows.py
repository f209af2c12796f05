"""The workflows that ``bench/executions.py`` runs on the stack: no-op tasks, as DAGs.

Fast registration bundles this file alone (it sits in the ``bench`` folder,
which is not a package), so the stack's worker imports it as ``noop_workflows``.
"""

from __future__ import annotations

from contrail import task, workflow

CHAIN_LENGTH = 100
FANOUT_LEAVES = 1000


@task
def noop(x: int) -> int:
    """Return ``x``: the cheapest task a worker can run."""
    return x


@workflow
def one_task(x: int = 0) -> int:
    """One node: what a single-task execution costs end to end."""
    return noop(x=x)


@workflow
def chain(x: int = 0) -> int:
    """``CHAIN_LENGTH`` no-op nodes, each bound to the previous one's output."""
    value = noop(x=x)
    for _ in range(CHAIN_LENGTH - 1):
        value = noop(x=value)
    return value


@workflow
def fanout(x: int = 0) -> None:
    """``FANOUT_LEAVES`` independent no-op nodes, all ready at the start."""
    for _ in range(FANOUT_LEAVES):
        noop(x=x)

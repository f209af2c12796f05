"""Right-sizing: tasks whose peak memory or CPU stays far below their request.

From a task's roll-ups over its recent attempts: the observed p95 of peak
memory (bytes) and of CPU (cores, CPU seconds over wall seconds), against the
largest request. A task is over-provisioned on a resource when its p95 is below
``threshold`` (default a half) of the request; the suggested request is the
p95 with ``headroom`` (default 20 %), rounded up (memory to 64 MiB, CPU to a
tenth of a core). Tasks killed for memory are listed apart, with their peak.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from services.metrics.domain.records import Rollup

MIB = 2**20
MEMORY_STEP = 64 * MIB
CPU_STEP = 0.1


@dataclass(frozen=True)
class Advice:
    resource: str
    requested: float
    observed_p95: float
    suggested: float
    attempts: int


def suggest_memory(p95: float, headroom: float) -> float:
    return max(MEMORY_STEP, math.ceil(p95 * (1 + headroom) / MEMORY_STEP) * MEMORY_STEP)


def suggest_cpu(p95: float, headroom: float) -> float:
    return max(CPU_STEP, round(math.ceil(p95 * (1 + headroom) / CPU_STEP - 1e-9) * CPU_STEP, 1))


def advise(rollup: Rollup, *, threshold: float = 0.5, headroom: float = 0.2) -> list[Advice]:
    """What to change of one task's requests (empty: it uses what it asks for)."""
    advice: list[Advice] = []
    memory = rollup.peak_memory.quantile(0.95)
    if (
        rollup.requested_memory_max
        and memory is not None
        and memory < threshold * rollup.requested_memory_max
    ):
        advice.append(
            Advice(
                "memory_bytes",
                float(rollup.requested_memory_max),
                memory,
                suggest_memory(memory, headroom),
                rollup.attempts,
            )
        )
    cores = rollup.cpu_cores.quantile(0.95)
    if (
        rollup.requested_cpu_max
        and cores is not None
        and cores < threshold * rollup.requested_cpu_max
    ):
        advice.append(
            Advice(
                "cpu",
                rollup.requested_cpu_max,
                cores,
                suggest_cpu(cores, headroom),
                rollup.attempts,
            )
        )
    return advice

"""Ingest: fold a batch of ``contrail.executions`` events into the accounting, exactly once.

One transaction per batch: the events' ids go into the inbox, and only those
not seen before are applied (attempt and execution rows, cache hits, and the
roll-up increments), so a redelivered event changes nothing. The caller
commits the Kafka offsets after this returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.metrics.domain.records import (
    AttemptRecord,
    CacheHit,
    ExecutionRecord,
    Rollup,
    RollupKey,
    add_up,
    fold,
)
from services.metrics.service_layer.unit_of_work import MetricsUoWFactory
from shared.events.envelope import CloudEvent


async def apply_events(uow_factory: MetricsUoWFactory, events: Sequence[CloudEvent[Any]]) -> int:
    """Apply the events not applied before; return how many were new."""
    if not events:
        return 0
    async with uow_factory() as uow:
        # The first of each id (a batch may hold an event twice), if not applied before.
        unique = list({event.id: event for event in reversed(events)}.values())[::-1]
        new_ids = await uow.inbox.claim([event.id for event in unique])
        fresh = [event for event in unique if event.id in new_ids]
        attempts: list[AttemptRecord] = []
        executions: dict[str, ExecutionRecord] = {}
        hits: list[CacheHit] = []
        for event in fresh:
            match fold(event):
                case AttemptRecord() as attempt:
                    attempts.append(attempt)
                case ExecutionRecord() as execution:
                    # Events of an execution come in order: its latest state wins.
                    executions[execution.execution_key] = execution
                case CacheHit() as hit:
                    hits.append(hit)
        increments: list[tuple[RollupKey, Rollup]] = []
        increments += [record.rollup() for record in await uow.attempts.add(attempts)]
        ended = await uow.executions.save(list(executions.values()))
        increments += [record.rollup() for record in ended]
        increments += [hit.rollup() for hit in await uow.cache_hits.add(hits)]
        if increments:
            await uow.rollups.add(add_up(increments))
        if fresh:
            await uow.progress.advance(max(event.time for event in fresh), len(fresh))
        await uow.commit()
    return len(fresh)

"""Load a synthetic usage data set: 1,000,000 task attempts over 30 days, 50 workflows, 500 tasks.

Writes through the metrics service's own repositories (attempt rows, execution
rows and the hourly roll-ups with their sketches), in transactions of
``--batch`` attempts, into the schema ``--schema`` (dropped and migrated
first). ``bench/usage_summary.py`` then times summaries over it. Needs the
local stack's PostgreSQL.

    .venv/bin/python bench/usage_load.py --attempts 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import time

from usage_common import fresh_schema, synthetic

from services.metrics.adapters.unit_of_work import postgres_uow_factory
from services.metrics.domain.records import AttemptRecord, ExecutionRecord, add_up
from shared.db import create_pool
from shared.settings import StackSettings


async def load(attempts: int, schema: str, batch: int) -> None:
    stack = StackSettings()
    await fresh_schema(stack, schema)
    pool = await create_pool(stack, schema)
    uow_factory = postgres_uow_factory(pool)
    started = time.perf_counter()
    done = 0
    pending_attempts: list[AttemptRecord] = []
    pending_executions: list[ExecutionRecord] = []

    async def flush() -> None:
        async with uow_factory() as uow:
            added = await uow.attempts.add(pending_attempts)
            ended = await uow.executions.save(pending_executions)
            increments = [r.rollup() for r in added] + [r.rollup() for r in ended]
            await uow.rollups.add(add_up(increments))
            await uow.commit()

    try:
        for execution, records in synthetic(attempts):
            pending_attempts.extend(records)
            pending_executions.append(execution)
            if len(pending_attempts) >= batch:
                await flush()
                done += len(pending_attempts)
                pending_attempts, pending_executions = [], []
                rate = done / (time.perf_counter() - started)
                print(f"\r{done:>9} attempts  {rate:,.0f}/s", end="", flush=True)
        if pending_attempts:
            await flush()
            done += len(pending_attempts)
        async with pool.acquire() as conn:
            await conn.execute("ANALYZE")
            rollups = await conn.fetchval("SELECT count(*) FROM rollups")
    finally:
        await pool.close()
    elapsed = time.perf_counter() - started
    print(f"\nloaded {done} attempts into {schema} in {elapsed:.0f}s ({rollups} roll-up rows)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--schema", default="bench_usage")
    parser.add_argument("--batch", type=int, default=10_000)
    args = parser.parse_args()
    asyncio.run(load(args.attempts, args.schema, args.batch))


if __name__ == "__main__":
    main()

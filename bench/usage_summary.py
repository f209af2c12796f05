"""Benchmark: usage summaries over the data set of ``bench/usage_load.py``.

Times ``summarize`` (the API's use case: the sums of every group from the
roll-ups, cost per project and domain, then the duration sketches of the
page's groups only) grouped by workflow and day over the last 30 days, for a
page of ``--page`` rows (the API's default, 100), ``--runs`` times, and prints
p50/p95/max.

    .venv/bin/python bench/usage_summary.py --schema bench_usage --runs 20
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime

from services.metrics.adapters.unit_of_work import postgres_uow_factory
from services.metrics.bootstrap import bootstrap
from services.metrics.domain.query import SummaryQuery
from services.metrics.service_layer.summaries import summarize
from shared.db import create_pool
from shared.settings import MetricsSettings, StackSettings


async def run(
    schema: str, runs: int, group_by: list[str], grain: str | None, page: int | None
) -> None:
    stack = StackSettings()
    pool = await create_pool(stack, schema)
    svc = bootstrap(uow_factory=postgres_uow_factory(pool), settings=MetricsSettings())
    query = SummaryQuery.parse(now=datetime.now(UTC), since="31d", group_by=group_by, time=grain)
    timings = []
    rows = 0
    try:
        for _ in range(runs):
            started = time.perf_counter()
            summary = await summarize(svc.uow_factory, svc.prices, query, 0, page)
            timings.append((time.perf_counter() - started) * 1000)
            rows = summary.total
        async with pool.acquire() as conn:
            rollups = await conn.fetchval("SELECT count(*) FROM rollups")
            attempts = await conn.fetchval("SELECT count(*) FROM attempts")
    finally:
        await pool.close()
    ordered = sorted(timings)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    print(
        f"{attempts} attempts, {rollups} roll-up rows; by {','.join(group_by)} and {grain}: "
        f"{rows} rows, the first {page or rows} with percentiles; "
        f"p50 {statistics.median(timings):.0f} ms, p95 {p95:.0f} ms, "
        f"max {ordered[-1]:.0f} ms over {runs} runs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--schema", default="bench_usage")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--group-by", default="workflow")
    parser.add_argument("--time", default="day")
    parser.add_argument(
        "--page", type=int, default=100, help="rows per page (the API's default); 0: all"
    )
    args = parser.parse_args()
    asyncio.run(
        run(args.schema, args.runs, args.group_by.split(","), args.time or None, args.page or None)
    )


if __name__ == "__main__":
    main()

"""Retries, a cache and resources; the same through a TaskEnvironment."""

from datetime import timedelta

from contrail import Resources, TaskEnvironment, task, workflow


@task(
    retries=3,
    timeout=timedelta(minutes=5),
    cache=True,
    cache_version="1.0",
    requests=Resources(cpu="500m", memory="256Mi"),
    limits=Resources(cpu=1, memory="1Gi"),
    environment={"LOG_LEVEL": "info"},
)
def fetch_rows(day: str) -> list[str]:
    """Pretend to read a day's rows from a flaky source (retried, cached)."""
    return [f"{day}:{i}" for i in range(3)]


env = TaskEnvironment(
    "transform",
    requests=Resources(cpu=1, memory="512Mi"),
    environment={"LOG_LEVEL": "info", "REGION": "eu"},
    retries=1,
)


@env.task
def count_rows(rows: list[str]) -> int:
    """How many rows there are (the environment's defaults)."""
    return len(rows)


@env.task(retries=5, environment={"LOG_LEVEL": "debug"})
def describe_rows(rows: list[str], count: int) -> str:
    """Describe the rows (its own retries and LOG_LEVEL win over the environment's)."""
    return f"{count} rows, first {rows[0] if rows else 'none'}"


@workflow
def daily_report(day: str = "2024-05-01") -> str:
    """Fetch a day's rows, count them and describe them."""
    rows = fetch_rows(day=day)
    return describe_rows(rows=rows, count=count_rows(rows=rows))

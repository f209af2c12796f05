"""A launch plan that emails on-call when it fails (see docs/notifications.md)."""

from contrail import Email, LaunchPlan, task, workflow


@task
def load(rows: int) -> int:
    """Fails on purpose, as a bad batch would."""
    if rows < 0:
        raise ValueError(f"boom: cannot load {rows} rows")
    return rows


@workflow
def nightly_etl(rows: int = -1) -> int:
    """Load ``rows`` rows (the default fails, to show an alert)."""
    return load(rows=rows)


nightly = LaunchPlan.get_or_create(
    nightly_etl,
    "workflows.alerting.nightly",
    notifications=[Email(phases=["FAILED", "TIMED_OUT"], recipients=["oncall@example.com"])],
)

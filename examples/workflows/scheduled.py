"""A launch plan: defaults, a cron schedule, notifications and labels."""

from datetime import datetime

from contrail import CronSchedule, Email, LaunchPlan, Slack, task, workflow


@task
def report(kickoff: datetime, team: str) -> str:
    """The line a scheduled run writes."""
    return f"{team} report for {kickoff:%Y-%m-%d %H:%M}"


@workflow
def hourly_report(kickoff: datetime, team: str = "data") -> str:
    """Report for ``team`` at ``kickoff``."""
    return report(kickoff=kickoff, team=team)


hourly = LaunchPlan.get_or_create(
    hourly_report,
    "workflows.scheduled.hourly",
    default_inputs={"team": "platform"},
    schedule=CronSchedule("0 * * * *", kickoff_time_input_arg="kickoff"),
    notifications=[
        Email(phases=["FAILED", "TIMED_OUT"], recipients=["oncall@example.com"]),
        Slack(phases=["SUCCEEDED"], webhook="https://hooks.slack.com/services/T000/B000/XXXX"),
    ],
    labels={"team": "platform"},
)

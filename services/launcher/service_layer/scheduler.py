"""The scheduler: which launch plans are scheduled, and firing their due ticks.

A tick fires by launching the launch plan (``Launcher.launch``) under the
tick's deterministic name (``tick_execution_name``), with the tick in the
kickoff input, the label ``contrail.schedule`` and a ``schedule`` trigger that
names the tick (the execution's ``scheduled_at``, on its events). The name is
unique per project and domain, so a tick fired twice (a launcher restarted
between creating the execution and recording the tick, two callers at once)
creates one execution: the second launch is refused as a taken name, which
means "already fired". Then the tick is recorded as the schedule's
``last_tick``, in one transaction that holds the schedule's row lock.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from services.launcher.adapters.schedules import RegistryLaunchPlans, ScheduleRow
from services.launcher.domain.schedule import CatchUp, due_ticks, tick_execution_name
from services.launcher.service_layer.errors import LaunchError, NameTaken
from services.launcher.service_layer.launch import EntityChoice, Launcher, LaunchRequest
from services.launcher.service_layer.unit_of_work import LauncherUoWFactory
from shared import cron
from shared.events.catalogue import LaunchPlanState, Trigger, TriggerKind
from shared.identifiers import Identifier

log = logging.getLogger(__name__)

SCHEDULE_LABEL = "contrail.schedule"


def kickoff_value(tick: datetime) -> str:
    """The kickoff input's value: the tick in ISO 8601, UTC (``2025-01-01T00:00:00Z``)."""
    return tick.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Fired:
    """One tick handled: the execution it names, and whether this call created it."""

    launch_plan: Identifier
    tick: datetime
    execution_name: str
    created: bool
    error: str | None = None


class Scheduler:
    """Keeps the launcher's schedules in step with the registry and fires due ticks."""

    def __init__(
        self,
        uow_factory: LauncherUoWFactory,
        launcher: Launcher,
        registry: RegistryLaunchPlans,
        *,
        catch_up: CatchUp = CatchUp.LATEST,
        catch_up_limit: int = 100,
    ) -> None:
        self.uow_factory = uow_factory
        self.launcher = launcher
        self.registry = registry
        self.catch_up = catch_up
        self.catch_up_limit = catch_up_limit

    # --- what is scheduled ------------------------------------------------------------

    async def activated(self, launch_plan: Identifier, at: datetime) -> bool:
        """A launch plan was activated at ``at``: schedule it if it has a cron schedule
        and is still active (an old activation replayed from Kafka is not).

        True if a schedule was added. Raises ``RegistryUnavailable`` to be retried.
        """
        found = await self.registry.get(launch_plan)
        if found is None:
            log.warning("activated launch plan is not registered", extra={"lp": launch_plan.urn})
            return False
        spec, state = found
        if state is not LaunchPlanState.ACTIVE or spec.schedule is None:
            return False
        async with self.uow_factory(atomic=False) as uow:
            added = await uow.schedules.upsert(launch_plan, spec.schedule, at)
        if added:
            log.info("scheduled", extra={"lp": launch_plan.urn, "cron": spec.schedule.cron})
        return added

    async def deactivated(self, launch_plan: Identifier) -> bool:
        """A launch plan was deactivated: no tick of it fires any more."""
        async with self.uow_factory(atomic=False) as uow:
            removed = await uow.schedules.remove(launch_plan)
        if removed:
            log.info("unscheduled", extra={"lp": launch_plan.urn})
        return removed

    async def reconcile(self, at: datetime) -> int:
        """Schedule every active launch plan with a schedule that is not scheduled yet,
        as active since ``at``; return how many were added.

        Covers activations whose events this launcher can't see (made before
        its consumer group existed). Raises ``RegistryUnavailable``.
        """
        added = 0
        async for identifier, spec in self.registry.active():
            if spec.schedule is None:
                continue
            async with self.uow_factory(atomic=False) as uow:
                added += await uow.schedules.upsert(identifier, spec.schedule, at)
        return added

    # --- firing -------------------------------------------------------------------------

    async def fire_due(self, now: datetime, *, project: str | None = None) -> list[Fired]:
        """Fire every tick due at ``now`` (of ``project``'s schedules when given).

        A schedule that another caller is firing right now is skipped. A
        failure that may pass (the registry or PostgreSQL unreachable) stops
        that schedule at the tick that failed, to be tried again next time.
        """
        fired: list[Fired] = []
        async with self.uow_factory(atomic=False) as uow:
            rows = await uow.schedules.all(project)
        for row in rows:
            try:
                due = bool(self._ticks(row, now))
            except ValueError:
                due = True  # _fire_schedule records why it can't be evaluated
            if due:
                fired += await self._fire_schedule(row.launch_plan, now)
        return fired

    def _ticks(self, row: ScheduleRow, now: datetime) -> Sequence[datetime]:
        return due_ticks(
            cron.parse(row.cron),
            active_since=row.active_since,
            last_tick=row.last_tick,
            now=now,
            catch_up=self.catch_up,
            limit=self.catch_up_limit,
        )

    async def _fire_schedule(self, launch_plan: Identifier, now: datetime) -> list[Fired]:
        fired: list[Fired] = []
        async with self.uow_factory() as uow:
            row = await uow.schedules.lock(launch_plan)
            if row is None:
                return fired
            try:
                ticks = self._ticks(row, now)
            except ValueError as exc:
                log.error("schedule cannot be evaluated", extra={"lp": launch_plan.urn})
                await uow.schedules.advance(launch_plan, now, str(exc))
                await uow.commit()
                return fired
            for tick in ticks:
                try:
                    outcome = await self._launch(row, tick)
                except LaunchError as exc:
                    # Retrying can't help (the inputs are wrong): skip the tick, say why.
                    log.error(
                        "scheduled launch refused",
                        extra={"lp": launch_plan.urn, "tick": tick.isoformat(), "error": str(exc)},
                    )
                    outcome = Fired(
                        launch_plan,
                        tick,
                        tick_execution_name(launch_plan, tick),
                        created=False,
                        error=f"{exc.code}: {exc.message}",
                    )
                except Exception:
                    log.exception(
                        "scheduled launch failed; will try again",
                        extra={"lp": launch_plan.urn, "tick": tick.isoformat()},
                    )
                    break
                await uow.schedules.advance(launch_plan, tick, outcome.error)
                fired.append(outcome)
            await uow.commit()
        return fired

    async def _launch(self, row: ScheduleRow, tick: datetime) -> Fired:
        launch_plan = row.launch_plan
        name = tick_execution_name(launch_plan, tick)
        request = LaunchRequest(
            project=launch_plan.project,
            domain=launch_plan.domain,
            name=name,
            launch_plan=EntityChoice(launch_plan.name, launch_plan.version),
            inputs={row.kickoff_time_input: kickoff_value(tick)} if row.kickoff_time_input else {},
            labels={SCHEDULE_LABEL: "true"},
            trigger=Trigger(kind=TriggerKind.SCHEDULE, scheduled_at=tick),
        )
        try:
            await self.launcher.launch(request)
        except NameTaken:
            return Fired(launch_plan, tick, name, created=False)
        log.info(
            "scheduled execution launched",
            extra={"lp": launch_plan.urn, "tick": tick.isoformat(), "execution": name},
        )
        return Fired(launch_plan, tick, name, created=True)

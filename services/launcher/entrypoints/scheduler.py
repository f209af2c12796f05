"""The scheduler's entrypoints: the registry's state changes, and the ticking loop.

The consumer (group ``contrail-scheduler``, from the earliest record) keeps the
launcher's schedules in step with launch plan activations and deactivations.
The loop fires due ticks every ``CONTRAIL_SCHEDULER_INTERVAL_SECONDS``; only
the launcher holding the scheduler's advisory lock (on a dedicated connection,
as the outbox relay does) fires, the others wait as standbys.
"""

from __future__ import annotations

import logging
from datetime import datetime

import asyncpg
from faststream import AckPolicy

from services.launcher.adapters.schedules import RegistryLaunchPlans, RegistryUnavailable
from services.launcher.bootstrap import LauncherServices
from services.launcher.domain.schedule import CatchUp
from services.launcher.service_layer.engine import now
from services.launcher.service_layer.scheduler import Scheduler
from shared.auth.service_token import service_headers
from shared.db.leader import LeaderLoop
from shared.events.catalogue import LaunchPlanState, LaunchPlanStateChanged
from shared.events.envelope import CloudEvent
from shared.events.topics import REGISTRY
from shared.kafka import of_type
from shared.retry import is_transient, retry_transient
from shared.service.app import ServiceRuntime
from shared.settings import InfraSettings

log = logging.getLogger(__name__)

SCHEDULER_GROUP = "contrail-scheduler"


def register_scheduler(runtime: ServiceRuntime, svc: LauncherServices) -> Scheduler:
    """Subscribe the scheduler to the registry's events and start its loop."""
    settings = svc.settings
    registry = RegistryLaunchPlans(settings.registry_base_url, headers=service_headers(settings))
    scheduler = Scheduler(
        svc.uow_factory,
        svc.launcher,
        registry,
        catch_up=CatchUp(settings.scheduler_catch_up),
        catch_up_limit=settings.scheduler_catch_up_limit,
    )

    registry_events = runtime.broker.subscriber(
        REGISTRY,
        group_id=SCHEDULER_GROUP,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )

    @registry_events(filter=of_type(LaunchPlanStateChanged))
    async def on_state_change(event: CloudEvent[LaunchPlanStateChanged]) -> None:
        """Schedule an activated launch plan, unschedule a deactivated one.

        The registry unreachable is waited out (the partition waits); a
        malformed event goes to the dead-letter topic (``shared.kafka``).
        """

        async def apply() -> None:
            if event.data.state is LaunchPlanState.ACTIVE:
                await scheduler.activated(event.data.identifier, event.time)
            else:
                await scheduler.deactivated(event.data.identifier)

        await retry_transient(apply, what="scheduling a launch plan", transient=_transient)

    loop = SchedulerLoop(settings, scheduler, settings.scheduler_interval_seconds)
    loop.start()

    async def stop() -> None:
        await loop.stop()
        await registry.close()

    runtime.shutdown_hooks.append(stop)
    return scheduler


def _transient(exc: BaseException) -> bool:
    """A fault that may pass: ``is_transient``, or the registry unreachable or failing."""
    return isinstance(exc, RegistryUnavailable) or is_transient(exc)


class SchedulerLoop(LeaderLoop):
    """Fires due ticks every ``interval`` seconds while it holds the scheduler's lock."""

    def __init__(self, settings: InfraSettings, scheduler: Scheduler, interval: float) -> None:
        super().__init__(settings.pg_dsn, "scheduler:launcher", interval)
        self._scheduler = scheduler
        self._interval = interval

    async def lead(self, conn: asyncpg.Connection) -> None:
        """Reconcile with the registry once, then fire due ticks every interval."""
        log.info("scheduler leading")
        reconciled = False
        while not self.stopping:
            # The lock lives as long as this connection: make sure it still does.
            await conn.fetchval("SELECT 1")
            at = now()
            if not reconciled:
                reconciled = await self._reconcile(at)
            await self._round(at)
            await self.sleep(self._interval)

    async def _reconcile(self, at: datetime) -> bool:
        try:
            added = await self._scheduler.reconcile(at)
        except Exception:
            log.exception("reconciling schedules with the registry failed; will try again")
            return False
        if added:
            log.info("schedules added from the registry", extra={"added": added})
        return True

    async def _round(self, at: datetime) -> None:
        try:
            await self._scheduler.fire_due(at)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            raise
        except Exception:
            log.exception("scheduler round failed; trying again")

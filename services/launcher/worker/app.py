"""The worker process: takes task attempts from ``contrail.dispatch`` and runs them.

It wires the loop (``loop.Worker``) to the real world: the Kafka producer for
reports, S3 for bundles, logs and outputs, and a ``TaskRunner`` with warm
interpreters. SIGTERM or SIGINT stops it gracefully (see ``loop``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import sys
from pathlib import Path

from services.launcher.worker.bundle_cache import BundleCache
from services.launcher.worker.loop import Worker
from services.launcher.worker.ran import RanAttempts
from services.launcher.worker.runner import TaskRunner
from services.launcher.worker.storage import AttemptStorage
from shared.kafka import create_broker, ensure_topics
from shared.s3 import ObjectStore
from shared.settings import WorkerSettings
from shared.telemetry import configure_logging, configure_telemetry

log = logging.getLogger(__name__)


def worker_id() -> str:
    """``<hostname>-<pid>``: what reports name the worker by."""
    return f"{socket.gethostname()}-{os.getpid()}"


def attempt_environment() -> dict[str, str]:
    """What attempts' processes start from: the worker's environment without its settings.

    The worker's own import folders go on ``PYTHONPATH`` (after each attempt's
    bundle, which comes first), so a task registered without a bundle
    (``--copy none``) imports from where the worker runs.
    """
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CONTRAIL_")}
    existing = [p for p in environment.get("PYTHONPATH", "").split(os.pathsep) if p]
    environment["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([*existing, *import_roots()]))
    return environment


async def run_worker(settings: WorkerSettings) -> None:
    """Run until SIGTERM or SIGINT, then drain running attempts and return."""
    configure_logging("worker", settings.log_level)
    telemetry = configure_telemetry("worker")
    me = worker_id()
    work_dir = settings.work_dir(me)
    try:
        await ensure_topics(settings)
        store = ObjectStore(settings)
        broker = create_broker(settings, f"contrail-worker-{me}", telemetry.tracer_provider)
        await broker.connect()
        runner = TaskRunner(
            work_dir,
            settings.worker_max_warm_bundles,
            base_environment=attempt_environment(),
        )
        worker = Worker(
            settings,
            me,
            broker,
            runner,
            BundleCache(store, settings.cache_dir()),
            AttemptStorage(store),
            RanAttempts(settings.cache_dir() / "ran-attempts"),
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stop)
        log.info(
            "worker starting",
            extra={
                "worker_id": me,
                "concurrency": settings.worker_concurrency,
                "group": settings.worker_group,
                "cache_dir": str(settings.cache_dir()),
            },
        )
        try:
            await worker.run()
        finally:
            await broker.stop()
        log.info("worker stopped", extra={"worker_id": me})
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
        telemetry.shutdown()


def import_roots() -> list[str]:
    """The worker's own ``sys.path`` folders that aren't the interpreter's (its cwd, PYTHONPATH).

    Attempts of tasks registered without a bundle import their module from these.
    """
    prefixes = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    roots: list[str] = []
    for entry in sys.path:
        path = Path(entry or ".").resolve()
        if not path.is_dir() or any(path.is_relative_to(p) for p in prefixes):
            continue
        roots.append(str(path))
    return list(dict.fromkeys(roots))

"""``python -m services.launcher.worker --concurrency N``: join the workers' group."""

from __future__ import annotations

import argparse
import asyncio

from services.launcher.worker.app import run_worker
from shared.settings import WorkerSettings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.launcher.worker")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="task attempts run at once (default: CONTRAIL_WORKER_CONCURRENCY or 2)",
    )
    args = parser.parse_args()
    settings = WorkerSettings()
    if args.concurrency is not None:
        if args.concurrency < 1:
            parser.error("--concurrency must be at least 1")
        settings = settings.model_copy(update={"worker_concurrency": args.concurrency})
    asyncio.run(run_worker(settings))


if __name__ == "__main__":
    main()

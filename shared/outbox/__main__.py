"""``python -m shared.outbox --schema S``: run one schema's outbox relay on its own.

Services run their relay in-process; this is for operators (draining an outbox
while its service is down) and for crash tests.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from shared.db import create_pool
from shared.outbox.relay import OutboxRelay
from shared.settings import InfraSettings
from shared.telemetry import configure_logging, configure_telemetry

log = logging.getLogger("shared.outbox")


async def _main(schema: str) -> None:
    settings = InfraSettings()
    telemetry = configure_telemetry(f"outbox-relay-{schema}")
    pool = await create_pool(settings, schema)
    relay = OutboxRelay(settings, pool, schema)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    relay.start()
    log.info("relay running", extra={"schema": schema})
    await stop.wait()
    await relay.stop()
    await pool.close()
    telemetry.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.outbox")
    parser.add_argument("--schema", required=True, help="the schema whose outbox to publish")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args()
    configure_logging("outbox-relay", args.log_level)
    asyncio.run(_main(args.schema))


if __name__ == "__main__":
    main()

"""`python -m services.metrics`: serve the metrics API; `... rebuild [--schema S]`: replay."""

import argparse

from services.metrics.entrypoints.http import build_app
from shared.service import run_service
from shared.settings import MetricsSettings

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m services.metrics")
    commands = parser.add_subparsers(dest="command")
    again = commands.add_parser(
        "rebuild", help="replay contrail.executions from its earliest offset into fresh tables"
    )
    again.add_argument(
        "--schema", default="metrics_rebuild", help="the schema to (re)create and fill"
    )
    args = parser.parse_args()
    if args.command == "rebuild":
        from services.metrics.entrypoints.rebuild import main

        main(args.schema)
    else:
        settings = MetricsSettings()
        run_service(settings, build_app(settings))

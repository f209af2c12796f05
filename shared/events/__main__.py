"""``python -m shared.events [--check]``: generate the event JSON Schemas into docs/events/."""

from __future__ import annotations

import argparse
import sys

from shared.events.schemas import SCHEMA_DIR, stale_files, write


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.events")
    parser.add_argument(
        "--check", action="store_true", help="fail if docs/events/ differs from the models"
    )
    args = parser.parse_args()
    if args.check:
        stale = stale_files()
        if stale:
            print(
                f"event schemas out of date in {SCHEMA_DIR}: {', '.join(stale)}; "
                "run `python -m shared.events`",
                file=sys.stderr,
            )
            return 1
        print("event schemas are up to date")
        return 0
    for path in write():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

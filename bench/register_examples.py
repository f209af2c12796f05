"""Benchmark: ``contrail register examples/workflows``, end to end, wall clock.

Runs the installed ``contrail`` command as a user does (a new process each
time: interpreter start, imports, serialization, bundle, upload, registration)
against the local stack, in a project of its own:

- ``cold``: the first registration (the bundle is uploaded, the version computed);
- ``new version``: ``--runs`` registrations, each under a new ``--version``
  (every entity is stored again; the bundle is already there);
- ``idempotent``: ``--runs`` re-registrations of the first version (nothing changes);
- ``startup``: ``contrail --help``, the floor under every figure.

Needs the local stack (``make demo``). Target: under 2 s wall.

    .venv/bin/python bench/register_examples.py --runs 5
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONTRAIL = REPO / ".venv" / "bin" / "contrail"
TARGET_SECONDS = 2.0


def _timed(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [str(CONTRAIL), *args], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"contrail {' '.join(args)} failed with status {done.returncode}")
    return elapsed, done.stdout


def _row(label: str, values: list[float]) -> str:
    if len(values) == 1:
        return f"{label:<14} {values[0]:7.3f} s{'':>27}  n=1"
    return (
        f"{label:<14} median {statistics.median(values):6.3f} s  "
        f"min {min(values):6.3f}  max {max(values):6.3f}  n={len(values)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per scenario")
    parser.add_argument("--path", default="examples/workflows", help="what to register")
    args = parser.parse_args()

    project = f"bench-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "CONTRAIL_PROJECT": project, "NO_COLOR": "1"}
    env.setdefault("CONTRAIL_ENDPOINT", "http://127.0.0.1:18080")

    _timed(["create", "project", project], env)  # projects are created explicitly
    startup = [_timed(["--help"], env)[0] for _ in range(args.runs)]
    cold, output = _timed(["register", args.path], env)
    match = re.search(r"^Computed version is (\S+)$", output, re.MULTILINE)
    count = re.search(r"^Successfully registered (\d+) entities", output, re.MULTILINE)
    if match is None or count is None:
        raise SystemExit(f"unexpected output:\n{output}")
    version = match.group(1)
    fresh = [
        _timed(["register", args.path, "--version", f"bench-{i}-{uuid.uuid4().hex[:6]}"], env)[0]
        for i in range(args.runs)
    ]
    again = [_timed(["register", args.path], env)[0] for _ in range(args.runs)]

    print(f"contrail register {args.path}: {count.group(1)} entities, project {project}")
    print(f"endpoint {env['CONTRAIL_ENDPOINT']}, version {version}, wall clock per process")
    print(_row("startup", startup))
    print(_row("cold", [cold]))
    print(_row("new version", fresh))
    print(_row("idempotent", again))
    worst = max([cold, *fresh, *again])
    verdict = "within" if worst < TARGET_SECONDS else "OVER"
    print(f"slowest {worst:.3f} s: {verdict} the {TARGET_SECONDS:.0f} s target")


if __name__ == "__main__":
    main()

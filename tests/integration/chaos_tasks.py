"""The task code of the chaos run (``bench/chaos.py``): every run of it leaves a mark.

The stack's worker imports this module from the repository's root (no code
bundle). Each call appends its input to ``<tmp>/contrail-chaos/<run>.marks``
before doing anything else, so the run can count how many times the code of
each execution's attempts really ran and compare it with the attempts the
engine recorded. An input is ``<run>.<execution>[.<item>]``, followed by one
``>`` per node of a chain already passed. Holds no tests.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

MARKS = Path(tempfile.gettempdir()) / "contrail-chaos"


def marks_file(run: str) -> Path:
    return MARKS / f"{run}.marks"


def execution_of(mark: str) -> str:
    """The execution name a mark (an input) belongs to."""
    return mark.split(".")[1].rstrip(">")


def _mark(name: str) -> None:
    MARKS.mkdir(parents=True, exist_ok=True)
    # One short O_APPEND write: concurrent attempts never interleave their lines.
    fd = os.open(marks_file(name.split(".", 1)[0]), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{name}\n".encode())
    finally:
        os.close(fd)


def step(name: str) -> str:
    """Succeeds, handing the next node of a chain an input of its own."""
    _mark(name)
    return f"{name}>"


def fail(name: str) -> str:
    """Fails by design, after leaving its mark."""
    _mark(name)
    raise ValueError(f"failing by design: {name}")

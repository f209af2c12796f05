"""Pid files that recognise their process: a pid alone may have been reused.

``<home>/run/<name>.pid`` holds JSON: the pid, the process's start time in
clock ticks since boot (from ``/proc/<pid>/stat``) and its argv. A pid file
names a live process of ours only when a process with that pid exists and
started at that same tick.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

from contrail.demo.procfs import ProcStat, read_stat


@dataclass(frozen=True)
class ProcessRecord:
    """A process we started, as written to its pid file."""

    name: str
    pid: int
    start_ticks: int
    argv: tuple[str, ...]

    def to_json(self) -> str:
        return json.dumps(
            {
                "name": self.name,
                "pid": self.pid,
                "start_ticks": self.start_ticks,
                "argv": list(self.argv),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ProcessRecord:
        data = json.loads(text)
        return cls(
            name=str(data["name"]),
            pid=int(data["pid"]),
            start_ticks=int(data["start_ticks"]),
            argv=tuple(str(arg) for arg in data["argv"]),
        )


def is_same_process(record: ProcessRecord, stat: ProcStat | None) -> bool:
    """Whether ``stat`` (of ``record.pid`` now) is the live process the record names."""
    return (
        stat is not None
        and stat.pid == record.pid
        and stat.start_ticks == record.start_ticks
        and not stat.is_zombie
    )


def is_alive(record: ProcessRecord) -> bool:
    return is_same_process(record, read_stat(record.pid))


class PidFiles:
    """The pid files in one directory, one per component."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def path(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def write(self, record: ProcessRecord) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        temporary = self.path(record.name).with_suffix(".pid.tmp")
        temporary.write_text(record.to_json() + "\n")
        temporary.replace(self.path(record.name))

    def read(self, name: str) -> ProcessRecord | None:
        """The record in ``name``'s pid file; None when missing or unreadable."""
        try:
            return ProcessRecord.from_json(self.path(name).read_text())
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def live(self, name: str) -> ProcessRecord | None:
        """The record of ``name`` when its process is alive, else None."""
        record = self.read(name)
        return record if record is not None and is_alive(record) else None

    def remove(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(name).unlink()

"""The attempts this machine's workers have started, remembered across their restarts.

A dispatch can arrive twice: the launcher's outbox sends it again when the
launcher or PostgreSQL dies between sending it and marking it sent. The copy
lands on the same partition, so on the worker that ran the attempt, or on the
worker that replaced it after a crash. Both must ignore it, or the task's code
runs twice (the chaos run, ``bench/chaos.py``, found both). An attempt is
remembered once its ``started`` report is in Kafka: from then on the engine
knows of it and declares it lost if its worker dies, so skipping a copy never
leaves an attempt unknown.

The file holds one attempt id a line, appended with ``O_APPEND``; it is cut to
the newest ``keep`` ids when it has grown to twice that.
"""

from __future__ import annotations

import contextlib
import os
from collections import OrderedDict
from pathlib import Path


class RanAttempts:
    """A bounded set of attempt ids, kept in memory and, when given a ``path``, in a file."""

    def __init__(self, path: Path | None, keep: int = 100_000) -> None:
        self.path = path
        self.keep = keep
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._lines = 0
        if path is not None and path.is_file():
            lines = path.read_text(errors="replace").splitlines()
            self._lines = len(lines)
            for attempt_id in lines[-keep:]:
                if attempt_id:
                    self._ids[attempt_id] = None

    def __contains__(self, attempt_id: object) -> bool:
        return attempt_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, attempt_id: str) -> None:
        self._ids[attempt_id] = None
        while len(self._ids) > self.keep:
            self._ids.popitem(last=False)
        if self.path is None:
            return
        with contextlib.suppress(OSError):  # memory still holds it: this process is covered
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, f"{attempt_id}\n".encode())
            finally:
                os.close(fd)
            self._lines += 1
            if self._lines >= 2 * self.keep:
                self._compact(self.path)

    def _compact(self, path: Path) -> None:
        kept = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        kept.write_text("".join(f"{attempt_id}\n" for attempt_id in self._ids))
        os.replace(kept, path)
        self._lines = len(self._ids)

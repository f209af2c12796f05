"""Starting and stopping the stack's processes, and reading their logs.

Each process runs in its own session (so a Ctrl-C at the terminal does not
reach it, and its children can be signalled as one group) with stdout and
stderr appended to its log file.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from contrail.demo.errors import StackError
from contrail.demo.pidfiles import PidFiles, ProcessRecord, is_alive
from contrail.demo.procfs import group_members, read_stat

_TAIL_BYTES = 256 * 1024


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log_path: Path,
    pidfiles: PidFiles,
) -> tuple[subprocess.Popen[bytes], ProcessRecord]:
    """Start ``argv`` detached, logging to ``log_path``, and write its pid file."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        log.write(f"--- contrail demo: {stamp} starting {name}: {' '.join(argv)}\n".encode())
        log.flush()
        try:
            child = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise StackError(f"cannot start {name} ({argv[0]}): {exc.strerror}") from exc
    stat = read_stat(child.pid)
    record = ProcessRecord(
        name=name,
        pid=child.pid,
        start_ticks=stat.start_ticks if stat is not None else -1,
        argv=tuple(argv),
    )
    pidfiles.write(record)
    return child, record


def _wait_gone(record: ProcessRecord, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while is_alive(record):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def _signal_group(pgrp: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgrp, signum)


def stop(record: ProcessRecord, grace_seconds: float) -> bool:
    """Stop the process of ``record`` and its process group; False if it was not running.

    SIGTERM first, SIGKILL after ``grace_seconds``. The group is signalled only
    while its leader is verifiably ours; once the leader is gone, leftovers of
    its group (a pgid cannot be reused while any member lives) are killed too.
    """
    if not is_alive(record):
        return False
    _signal_group(record.pid, signal.SIGTERM)
    if not _wait_gone(record, grace_seconds) and is_alive(record):
        _signal_group(record.pid, signal.SIGKILL)
        _wait_gone(record, 5.0)
    for pid in group_members(record.pid):
        if pid != record.pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    return True


def last_line(text: str) -> str:
    """The last non-blank line of ``text``, stripped; empty when there is none."""
    for line in reversed(text.splitlines()):
        if line.strip():
            return line.strip()
    return ""


_BOILERPLATE = (
    "[ERROR] -> [Help",
    "[ERROR] Re-run Maven",
    "[ERROR] For more information",
    "[ERROR] To see the full stack trace",
    "[ERROR] [Help",
)


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def error_line(text: str) -> str:
    """The most telling line of a failed tool's output.

    Its last line that speaks of an error, else its last unindented line
    joined with the indented lines that continue it (as ``go`` prints them).
    """
    plain = _ANSI.sub("", text)
    lines = [line.rstrip().removesuffix(" -> [Help 1]") for line in plain.splitlines()]
    lines = [line for line in lines if line.strip()]
    for line in reversed(lines):
        stripped = line.strip()
        if stripped.startswith(_BOILERPLATE) or stripped == "[ERROR]":
            continue
        lowered = stripped.lower()
        if "error" in lowered or "fail" in lowered or "cannot" in lowered:
            return stripped
    if not lines:
        return ""
    head = max((i for i, line in enumerate(lines) if not line[0].isspace()), default=0)
    return " ".join(line.strip() for line in lines[head:])


def read_tail(path: Path, max_bytes: int = _TAIL_BYTES, since: int = 0) -> str:
    """The end of a log file (from offset ``since`` on), decoded leniently."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(since, size - max_bytes))
            return handle.read().decode(errors="replace")
    except OSError:
        return ""


def tail_lines(path: Path, count: int) -> list[str]:
    lines = read_tail(path).splitlines()
    return lines[-count:] if count > 0 else []


def last_log_line(path: Path) -> str:
    return last_line(read_tail(path, 64 * 1024)) or "(the log is empty)"


def follow(paths: Mapping[str, Path], poll_seconds: float = 0.5) -> Iterator[tuple[str, str]]:
    """Yield ``(name, line)`` for each line appended to the files, from now on, forever."""
    offsets = {name: (path.stat().st_size if path.exists() else 0) for name, path in paths.items()}
    partial = dict.fromkeys(paths, "")
    while True:
        for name, path in paths.items():
            try:
                size = path.stat().st_size
            except OSError:
                continue
            if size < offsets[name]:  # truncated or replaced: start over
                offsets[name] = 0
            if size == offsets[name]:
                continue
            with path.open("rb") as handle:
                handle.seek(offsets[name])
                chunk = handle.read()
            offsets[name] += len(chunk)
            text = partial[name] + chunk.decode(errors="replace")
            *complete, partial[name] = text.split("\n")
            for line in complete:
                yield name, line
        time.sleep(poll_seconds)

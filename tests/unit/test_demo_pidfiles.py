"""Pid bookkeeping: a pid file names our process only if the start time matches."""

from __future__ import annotations

from pathlib import Path

from contrail.demo.pidfiles import PidFiles, ProcessRecord, is_same_process
from contrail.demo.procfs import ProcStat

RECORD = ProcessRecord(
    name="kafka", pid=4242, start_ticks=67698, argv=("java", "-cp", "libs/*", "kafka.Kafka")
)


def stat(pid: int = 4242, ticks: int = 67698, state: str = "S") -> ProcStat:
    return ProcStat(pid=pid, state=state, ppid=1, pgrp=pid, start_ticks=ticks)


def test_record_round_trips_through_json() -> None:
    assert ProcessRecord.from_json(RECORD.to_json()) == RECORD


def test_same_pid_and_start_time_is_our_process() -> None:
    assert is_same_process(RECORD, stat())


def test_a_reused_pid_is_not_our_process() -> None:
    assert not is_same_process(RECORD, stat(ticks=99999))


def test_a_vanished_or_zombie_process_is_not_alive() -> None:
    assert not is_same_process(RECORD, None)
    assert not is_same_process(RECORD, stat(state="Z"))


def test_pid_files_write_read_remove(tmp_path: Path) -> None:
    files = PidFiles(tmp_path / "run")
    files.write(RECORD)
    assert files.path("kafka").is_file()
    assert files.read("kafka") == RECORD
    files.remove("kafka")
    files.remove("kafka")  # removing twice is fine
    assert files.read("kafka") is None


def test_an_unreadable_pid_file_reads_as_none(tmp_path: Path) -> None:
    files = PidFiles(tmp_path)
    files.path("minio").write_text("12345\n")
    assert files.read("minio") is None
    files.path("nginx").write_text('{"pid": "x"}')
    assert files.read("nginx") is None

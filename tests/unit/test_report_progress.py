"""How far the engine has read each partition of ``contrail.attempts`` (the lost-worker rule)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiokafka import ConsumerRecord

from services.launcher.adapters.report_backlog import ReportProgress, partition_of
from shared.events.topics import ATTEMPTS
from shared.settings import InfraSettings

PARTITIONS = [0, 1, 2]
KEYS = {partition_of(f"p/development/e{i}", PARTITIONS): f"p/development/e{i}" for i in range(50)}


def a_minute_ago() -> datetime:
    """Whole milliseconds, as Kafka stamps records."""
    return (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0)


def record(partition: int, at: datetime) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=ATTEMPTS,
        partition=partition,
        offset=0,
        timestamp=int(at.timestamp() * 1000),
        timestamp_type=0,
        key=None,
        value=b"{}",
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=2,
        headers=(),
    )


class Progress(ReportProgress):
    """``ReportProgress`` with the group's lag given, instead of asked of Kafka."""

    def __init__(self, caught_up: dict[int, datetime] | None = None) -> None:
        super().__init__(InfraSettings(), "contrail-engine")
        self.caught_up = caught_up or {}

    async def _caught_up(self) -> tuple[list[int], dict[int, datetime]]:
        return PARTITIONS, dict(self.caught_up)


def test_every_partition_is_hit_by_some_key() -> None:
    assert sorted(KEYS) == PARTITIONS


async def test_nothing_read_yet_judges_no_one() -> None:
    read = await Progress().read_through()
    assert all(read(key) is None for key in KEYS.values())


async def test_a_partition_is_read_through_its_latest_applied_record() -> None:
    progress = Progress()
    t0 = a_minute_ago()
    progress.applied([record(1, t0 + timedelta(seconds=5)), record(1, t0), record(2, t0)])
    read = await progress.read_through()
    assert read(KEYS[0]) is None
    assert read(KEYS[1]) == t0 + timedelta(seconds=5)
    assert read(KEYS[2]) == t0


async def test_a_record_stamped_in_the_future_counts_when_it_was_applied() -> None:
    progress = Progress()
    before = datetime.now(UTC)
    progress.applied([record(0, before + timedelta(hours=1))])
    read = await progress.read_through()
    through = read(KEYS[0])
    assert through is not None
    assert before <= through <= datetime.now(UTC)


async def test_a_partition_without_lag_is_read_through_when_it_was_seen_so() -> None:
    t0 = a_minute_ago()
    progress = Progress(caught_up={0: t0 + timedelta(seconds=30), 1: t0})
    progress.applied([record(0, t0), record(1, t0 + timedelta(seconds=10))])
    read = await progress.read_through()
    assert read(KEYS[0]) == t0 + timedelta(seconds=30)
    assert read(KEYS[1]) == t0 + timedelta(seconds=10)
    assert read(KEYS[2]) is None

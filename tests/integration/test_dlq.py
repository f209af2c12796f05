"""Dead letters on the real Kafka: count, list and replay them back to their topic."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from shared.dlq import count, list_dead_letters, replay
from shared.events.topics import dead_letter
from shared.kafka import create_producer, ensure_topics
from shared.settings import StackSettings
from tests.integration.conftest import Consume

pytestmark = pytest.mark.integration


async def _dead_letter(
    stack: StackSettings, topic: str, key: bytes, value: bytes, reason: str = "ValueError: bad"
) -> None:
    """Set a record aside as a consumer does: its headers plus reason and origin."""
    producer = create_producer(stack, "contrail-tests-dlq")
    await producer.start()
    try:
        await producer.send_and_wait(
            dead_letter(topic),
            value,
            key=key,
            headers=[
                ("content-type", b"application/json"),
                ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
                ("x-contrail-dlq-reason", reason.encode()),
                ("x-contrail-dlq-origin", f"{topic}/0/7".encode()),
            ],
        )
    finally:
        await producer.stop()


@pytest.fixture
async def dead_letters(stack: StackSettings, topic: str) -> str:
    await ensure_topics(stack, [dead_letter(topic)])
    return dead_letter(topic)


async def test_replay_puts_dead_letters_back_once_with_their_keys_and_headers(
    stack: StackSettings, topic: str, dead_letters: str, consume: Consume
) -> None:
    for n in range(3):
        await _dead_letter(stack, topic, b"exec-1", b'{"n": %d}' % n, reason=f"Boom: {n}")

    assert sum((await count(stack, topic)).values()) == 3
    listed = await list_dead_letters(stack, dead_letters)
    assert [letter.reason for letter in listed] == ["Boom: 0", "Boom: 1", "Boom: 2"]
    assert {letter.origin for letter in listed} == {f"{topic}/0/7"}

    assert await replay(stack, topic) == 3

    records = await consume(topic, until=lambda rs: len(rs) >= 3)
    assert [r.value for r in records] == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']
    assert {r.key for r in records} == {b"exec-1"}
    assert records[0].headers == {
        "content-type": b"application/json",
        "traceparent": b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    }

    # Its offsets are committed: a second replay has nothing to publish.
    assert set((await count(stack, dead_letters)).values()) == {0}
    assert await replay(stack, topic) == 0
    await _dead_letter(stack, topic, b"exec-1", b'{"n": 3}')
    assert await replay(stack, dead_letters) == 1

    records = await consume(topic, during=3)
    assert [r.value for r in records] == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}', b'{"n": 3}']


async def _cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shared.dlq",
        *args,
        env=os.environ.copy(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_command_line_counts_lists_and_replays(
    stack: StackSettings, topic: str, dead_letters: str, consume: Consume
) -> None:
    await _dead_letter(stack, topic, b"k", b'{"hello": 1}', reason="ValidationError: no")

    code, out, _ = await _cli("count", topic)
    assert code == 0
    assert out.splitlines()[-1] == f"1 dead letters of {topic} to replay"
    code, out, _ = await _cli("list", dead_letters)
    assert code == 0
    assert "reason=ValidationError: no" in out
    assert '{"hello": 1}' in out
    code, out, _ = await _cli("replay", topic)
    assert code == 0
    assert out.strip() == f"replayed 1 dead letters from {dead_letters} to {topic}"

    records = await consume(topic, until=lambda rs: len(rs) >= 1)
    assert [(r.key, r.value) for r in records] == [(b"k", b'{"hello": 1}')]


async def test_the_command_line_names_a_missing_topic() -> None:
    code, _, err = await _cli("count", "contrail.no-such-topic")
    assert code != 0
    assert "no topic 'contrail.no-such-topic.dlq'" in err

"""shared.dlq's naming and headers, without Kafka (replay itself: tests/integration/test_dlq.py)."""

from __future__ import annotations

import pytest

from shared.dlq import DeadLetter, replay_group, topics_of


@pytest.mark.parametrize("name", ["contrail.attempts", "contrail.attempts.dlq"])
def test_either_name_means_the_dead_letters_of_the_original(name: str) -> None:
    assert topics_of(name) == ("contrail.attempts", "contrail.attempts.dlq")


def test_a_bare_suffix_is_no_topic() -> None:
    with pytest.raises(ValueError, match="not a topic name"):
        topics_of(".dlq")


def test_each_topic_has_its_own_replay_group() -> None:
    assert replay_group("contrail.attempts") == "contrail-dlq-replay.contrail.attempts"
    assert replay_group("contrail.executions") != replay_group("contrail.attempts")


def test_a_dead_letter_says_why_and_from_where_and_keeps_its_original_headers() -> None:
    letter = DeadLetter(
        partition=2,
        offset=41,
        key=b"exec-1",
        value=b"{}",
        headers=(
            ("content-type", b"application/json"),
            ("x-contrail-dlq-reason", b"ValidationError: seq"),
            ("traceparent", b"00-abc-def-01"),
            ("x-contrail-dlq-origin", b"contrail.attempts/2/977"),
        ),
    )
    assert letter.reason == "ValidationError: seq"
    assert letter.origin == "contrail.attempts/2/977"
    assert letter.original_headers() == [
        ("content-type", b"application/json"),
        ("traceparent", b"00-abc-def-01"),
    ]

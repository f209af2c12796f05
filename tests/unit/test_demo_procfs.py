"""Reading /proc: process identity and listening sockets (from captured text)."""

from __future__ import annotations

import ipaddress

import pytest

from contrail.demo.procfs import (
    Listener,
    conflicts_with,
    format_command,
    parse_net_tcp,
    parse_socket_link,
    parse_stat,
)

STAT = (
    "14633 (cat) R 14629 14629 9766 0 -1 4194304 99 0 0 0 0 0 0 0 20 0 1 0 67698 "
    "3133440 387 18446744073709551615 94760764403712 94760764423593 0 0 0 0 0 0 0 0 0 17 1"
)

NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:4A94 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 20106 1 0
   1: 00000000:4A18 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 20107 1 0
   2: 0100007F:4A94 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 20108 1 0
"""

_TCP6_TAIL = " 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 0 0 0 {} 1 0"
NET_TCP6 = "\n".join(
    [
        "  sl  local_address                         remote_address                        st",
        "   0: 00000000000000000000000001000000:7148" + _TCP6_TAIL.format(20101),
        "   1: 0000000000000000FFFF00000100007F:71A5" + _TCP6_TAIL.format(21573),
        "   2: 00000000000000000000000000000000:4A38" + _TCP6_TAIL.format(21574),
    ]
)


def test_parse_stat_reads_identity_fields() -> None:
    stat = parse_stat(STAT)
    assert (stat.pid, stat.state, stat.ppid, stat.pgrp, stat.start_ticks) == (
        14633,
        "R",
        14629,
        14629,
        67698,
    )
    assert not stat.is_zombie


def test_parse_stat_survives_spaces_and_parentheses_in_the_command_name() -> None:
    tricky = STAT.replace("(cat)", "(my (odd) prog)").replace(" R ", " Z ", 1)
    stat = parse_stat(tricky)
    assert stat.pid == 14633
    assert stat.start_ticks == 67698
    assert stat.is_zombie


def test_parse_stat_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="stat"):
        parse_stat("no parenthesis here")


def test_parse_net_tcp_keeps_only_listening_sockets() -> None:
    listeners = parse_net_tcp(NET_TCP)
    assert listeners == [
        Listener(ipaddress.IPv4Address("127.0.0.1"), 19092, 20106),
        Listener(ipaddress.IPv4Address("0.0.0.0"), 18968, 20107),
    ]


def test_parse_net_tcp6_decodes_word_order() -> None:
    listeners = parse_net_tcp(NET_TCP6)
    assert [item.address for item in listeners] == [
        ipaddress.IPv6Address("::1"),
        ipaddress.IPv6Address("::ffff:127.0.0.1"),
        ipaddress.IPv6Address("::"),
    ]
    assert [item.port for item in listeners] == [0x7148, 0x71A5, 0x4A38]


@pytest.mark.parametrize(
    ("address", "host", "expected"),
    [
        ("127.0.0.1", "127.0.0.1", True),
        ("0.0.0.0", "127.0.0.1", True),
        ("::", "127.0.0.1", True),
        ("::ffff:127.0.0.1", "127.0.0.1", True),
        ("::1", "127.0.0.1", False),
        ("10.1.2.3", "127.0.0.1", False),
        ("10.1.2.3", "0.0.0.0", True),
    ],
)
def test_conflicts_with(address: str, host: str, expected: bool) -> None:
    listener = Listener(ipaddress.ip_address(address), 19000, 1)
    assert conflicts_with(listener, host, 19000) is expected


def test_conflicts_only_on_the_same_port() -> None:
    listener = Listener(ipaddress.IPv4Address("127.0.0.1"), 19001, 1)
    assert not conflicts_with(listener, "127.0.0.1", 19000)


def test_parse_socket_link() -> None:
    assert parse_socket_link("socket:[20106]") == 20106
    assert parse_socket_link("/dev/null") is None
    assert parse_socket_link("pipe:[77]") is None


def test_format_command_shortens_long_command_lines() -> None:
    short = ["python3", "-m", "http.server", "19000"]
    assert format_command(short) == "python3 -m http.server 19000"
    long = format_command(["java", "-cp", "x" * 200], limit=40)
    assert len(long) == 40
    assert long.endswith("...")

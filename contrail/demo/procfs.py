"""What Linux's ``/proc`` says about processes and listening sockets.

The ``parse_*`` functions and ``conflicts_with`` are pure; the readers below
them are thin wrappers that read the files and tolerate processes vanishing.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TCP_LISTEN = 0x0A


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` that identify a process."""

    pid: int
    state: str
    ppid: int
    pgrp: int
    start_ticks: int

    @property
    def is_zombie(self) -> bool:
        return self.state in ("Z", "X")


@dataclass(frozen=True)
class Listener:
    """A TCP socket in LISTEN state."""

    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    port: int
    inode: int


@dataclass(frozen=True)
class PortOwner:
    """Who holds a port: a process when ``/proc`` tells, else unknown (``pid`` None)."""

    pid: int | None
    command: str


def parse_stat(text: str) -> ProcStat:
    """Parse ``/proc/<pid>/stat``; the command name may hold spaces and parentheses."""
    head, _, tail = text.rpartition(")")
    if not head:
        raise ValueError("not a /proc/<pid>/stat line")
    pid = int(head.split("(", 1)[0])
    fields = tail.split()
    # After the command: state(3) ppid(4) pgrp(5) ... starttime(22), 1-based.
    return ProcStat(
        pid=pid,
        state=fields[0],
        ppid=int(fields[1]),
        pgrp=int(fields[2]),
        start_ticks=int(fields[19]),
    )


def _parse_address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    raw = bytes.fromhex(hex_address)
    # The kernel prints each 32-bit word in host (little-endian) order.
    words = [raw[i : i + 4][::-1] for i in range(0, len(raw), 4)]
    packed = b"".join(words)
    if len(packed) == 4:
        return ipaddress.IPv4Address(packed)
    return ipaddress.IPv6Address(packed)


def parse_net_tcp(text: str) -> list[Listener]:
    """The listening sockets in the text of ``/proc/net/tcp`` or ``/proc/net/tcp6``."""
    listeners: list[Listener] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or int(fields[3], 16) != TCP_LISTEN:
            continue
        hex_address, hex_port = fields[1].split(":")
        listeners.append(
            Listener(
                address=_parse_address(hex_address),
                port=int(hex_port, 16),
                inode=int(fields[9]),
            )
        )
    return listeners


def conflicts_with(listener: Listener, host: str, port: int) -> bool:
    """Whether ``listener`` keeps a server from binding ``host:port``."""
    if listener.port != port:
        return False
    wanted = ipaddress.ip_address(host)
    address = listener.address
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_unspecified or wanted.is_unspecified or address == wanted


def parse_socket_link(link: str) -> int | None:
    """The inode of a ``socket:[12345]`` file descriptor link, else None."""
    if link.startswith("socket:[") and link.endswith("]"):
        return int(link[len("socket:[") : -1])
    return None


def format_command(argv: list[str], limit: int = 80) -> str:
    """A command line shortened for one line of a message."""
    text = " ".join(argv)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# Readers: each tolerates the process disappearing under it.


def read_stat(pid: int) -> ProcStat | None:
    try:
        return parse_stat((PROC / str(pid) / "stat").read_text())
    except (OSError, ValueError, IndexError):
        return None


def read_cmdline(pid: int) -> list[str]:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def listening_sockets() -> list[Listener]:
    listeners: list[Listener] = []
    for name in ("tcp", "tcp6"):
        try:
            listeners.extend(parse_net_tcp((PROC / "net" / name).read_text()))
        except OSError:
            continue
    return listeners


def socket_owner(inode: int) -> int | None:
    """The pid of a process holding the socket ``inode`` open, if we may look."""
    target = f"socket:[{inode}]"
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) == target:
                    return int(entry.name)
        except OSError:
            continue
    return None


def group_members(pgrp: int) -> list[int]:
    """The pids of every live process in process group ``pgrp``."""
    members: list[int] = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            stat = read_stat(int(entry.name))
            if stat is not None and stat.pgrp == pgrp and not stat.is_zombie:
                members.append(stat.pid)
    return members


def _bind_refused(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def port_owner(host: str, port: int) -> PortOwner | None:
    """Who listens on ``host:port``, or None when the port is free."""
    for listener in listening_sockets():
        if conflicts_with(listener, host, port):
            pid = socket_owner(listener.inode)
            command = format_command(read_cmdline(pid)) if pid is not None else ""
            return PortOwner(pid=pid, command=command)
    if _bind_refused(host, port):
        return PortOwner(pid=None, command="")
    return None

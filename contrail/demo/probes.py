"""Health probes: is a component answering its protocol, not merely listening?

Each probe returns a bool and never raises; a probe that cannot connect is an
unhealthy component, not an error.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import asyncpg
import httpx

T = TypeVar("T")


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The status of ``GET url``, or None when nothing answered."""
    try:
        return httpx.get(url, timeout=timeout).status_code
    except httpx.HTTPError:
        return None


def http_ok(url: str, timeout: float = 2.0) -> bool:
    return http_status(url, timeout) == 200


def _run(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion, also when called from inside an event loop."""

    async def main() -> T:
        return await factory()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Silence a client library's own logging of failed connection attempts."""
    logger = logging.getLogger(logger_name)
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(previous)


def kafka_ready(host: str, port: int, timeout: float = 3.0) -> bool:
    """Whether the broker answers a metadata request and lists itself."""
    if not tcp_open(host, port):
        return False
    from aiokafka.admin import AIOKafkaAdminClient

    async def describe() -> bool:
        client = AIOKafkaAdminClient(
            bootstrap_servers=f"{host}:{port}",
            request_timeout_ms=int(timeout * 1000),
            client_id="contrail-demo-probe",
        )
        try:
            await asyncio.wait_for(client.start(), timeout)
            cluster = await asyncio.wait_for(client.describe_cluster(), timeout)
        finally:
            await client.close()
        return bool(cluster.get("brokers"))

    with _quiet("aiokafka"):
        try:
            return _run(describe)
        except Exception:
            return False


def postgres_ready(dsn: str, timeout: float = 3.0) -> bool:
    """Whether the stack's role can log in to its database and run a query."""

    async def query() -> bool:
        connection = await asyncpg.connect(dsn, timeout=timeout)
        try:
            return bool(await connection.fetchval("SELECT 1") == 1)
        finally:
            await connection.close()

    try:
        return _run(query)
    except Exception:
        return False

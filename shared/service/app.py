"""A service's runtime (pool, broker, store, outbox relay) and its HTTP app.

Start-up applies the service's migrations, creates Contrail's topics, connects
the broker and starts the outbox relay. Shutdown (SIGTERM) stops taking
requests, lets the relay finish its batch, stops the broker's subscribers
(committing their offsets) and closes the pool.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from faststream.kafka import KafkaBroker
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from shared.auth.dependency import AUTH_RESPONSES, authenticate
from shared.db import apply_migrations, create_pool
from shared.db.migrations import service_migrations
from shared.kafka import create_broker, ensure_topics
from shared.outbox import OutboxRelay
from shared.retry import retry_until
from shared.s3 import ObjectStore
from shared.service.errors import install_error_handlers
from shared.service.limits import RequestLimits
from shared.settings import ServiceSettings
from shared.telemetry import Telemetry, configure_telemetry, prometheus_text

log = logging.getLogger(__name__)

READY_CHECK_TIMEOUT = 3.0
STARTUP_DEADLINE = 60.0
"""Seconds start-up waits for PostgreSQL, Kafka and S3 (transient faults only)."""


@dataclass
class ServiceRuntime:
    """The connections one service process holds for its lifetime."""

    settings: ServiceSettings
    telemetry: Telemetry
    pool: asyncpg.Pool
    broker: KafkaBroker
    store: ObjectStore
    relay: OutboxRelay
    shutdown_hooks: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """Run first on shutdown, last added first: stop the service's background tasks."""

    async def readiness(self) -> dict[str, str]:
        """``ok`` or the error, for PostgreSQL, Kafka and S3."""

        async def postgres() -> None:
            await self.pool.fetchval("SELECT 1")

        async def kafka() -> None:
            if not await self.broker.ping(timeout=READY_CHECK_TIMEOUT):
                raise ConnectionError("Kafka did not answer")

        async def s3() -> None:
            await asyncio.to_thread(self.store.check)

        checks: dict[str, Callable[[], Awaitable[None]]] = {
            "postgres": postgres,
            "kafka": kafka,
            "s3": s3,
        }

        async def run(check: Callable[[], Awaitable[None]]) -> str:
            try:
                await asyncio.wait_for(check(), timeout=READY_CHECK_TIMEOUT)
            except Exception as exc:
                return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return "ok"

        results = await asyncio.gather(*(run(check) for check in checks.values()))
        return dict(zip(checks, results, strict=True))


async def start_runtime(
    settings: ServiceSettings,
    migrations_dir: Path | None,
    telemetry: Telemetry | None = None,
    register_subscribers: Callable[[ServiceRuntime], None] | None = None,
) -> ServiceRuntime:
    """Connect to PostgreSQL, Kafka and S3, migrate, and start the outbox relay."""
    telemetry = telemetry or configure_telemetry(settings.service_name)
    schema = settings.schema_name
    migrations = service_migrations(migrations_dir, settings.service_name)

    async def migrate() -> asyncpg.Pool:
        conn = await asyncpg.connect(settings.pg_dsn, timeout=5)
        try:
            applied = await apply_migrations(conn, schema, migrations)
        finally:
            await conn.close()
        if applied:
            log.info("applied migrations", extra={"schema": schema, "versions": applied})
        return await create_pool(settings, schema)

    pool: asyncpg.Pool = await retry_until(migrate, what="PostgreSQL", deadline=STARTUP_DEADLINE)
    await retry_until(lambda: ensure_topics(settings), what="Kafka", deadline=STARTUP_DEADLINE)
    store = ObjectStore(settings)
    await retry_until(
        lambda: asyncio.to_thread(store.ensure_bucket), what="S3", deadline=STARTUP_DEADLINE
    )
    broker = create_broker(settings, f"contrail-{settings.service_name}", telemetry.tracer_provider)
    relay = OutboxRelay(settings, pool, schema, f"contrail-{settings.service_name}-relay")
    runtime = ServiceRuntime(settings, telemetry, pool, broker, store, relay)
    if register_subscribers is not None:
        register_subscribers(runtime)
    await broker.start()
    relay.start()
    return runtime


async def stop_runtime(runtime: ServiceRuntime) -> None:
    """Finish in-flight work, commit offsets, close connections."""
    for hook in reversed(runtime.shutdown_hooks):
        await hook()
    await runtime.relay.stop()
    await runtime.broker.stop()
    await runtime.pool.close()
    runtime.telemetry.shutdown()


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str,
    migrations_dir: Path | None,
    routers: Sequence[APIRouter] = (),
    register_subscribers: Callable[[ServiceRuntime], None] | None = None,
) -> FastAPI:
    """The service's FastAPI app, with /healthz, /readyz and its routers."""
    telemetry = configure_telemetry(settings.service_name)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await start_runtime(settings, migrations_dir, telemetry, register_subscribers)
        app.state.runtime = runtime
        log.info(
            "service started",
            extra={"port": settings.port},
        )
        try:
            yield
        finally:
            log.info("service stopping")
            await stop_runtime(runtime)

    app = FastAPI(title=title, description=description, version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)
    app.add_middleware(RequestLimits, max_body_bytes=settings.max_request_bytes)

    @app.get("/healthz", tags=["health"], summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": settings.service_name}

    @app.get("/readyz", tags=["health"], summary="PostgreSQL, Kafka and S3 are reachable")
    async def readyz(request: Request) -> JSONResponse:
        runtime: ServiceRuntime = request.app.state.runtime
        checks = await runtime.readiness()
        ready = all(result == "ok" for result in checks.values())
        return JSONResponse(
            {
                "status": "ready" if ready else "unavailable",
                "service": settings.service_name,
                "checks": checks,
            },
            status_code=200 if ready else 503,
        )

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        """The service's own counters and latencies, for Prometheus to scrape."""
        body, content_type = prometheus_text()
        return Response(body, media_type=content_type)

    for router in routers:
        # Every route but /healthz, /readyz and /metrics needs a credential.
        app.include_router(router, dependencies=[Depends(authenticate)], responses=AUTH_RESPONSES)
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
        excluded_urls="healthz,readyz,metrics",
    )
    return app

"""The unit of work on the real PostgreSQL (the registry's schema): the state and its
outbox events commit together or not at all, and a unit of work without a
transaction refuses outbox writes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.registry.adapters.unit_of_work import postgres_uow_factory
from services.registry.service_layer.events import project_created
from services.registry.service_layer.unit_of_work import RegistryUoWFactory
from shared.db import create_pool
from shared.settings import StackSettings
from tests.integration.registry_support import new_project, open_db, outbox_events, stored_rows


@pytest.fixture
async def uow_factory(stack: StackSettings) -> AsyncIterator[RegistryUoWFactory]:
    pool: asyncpg.Pool = await create_pool(stack, "registry")
    try:
        yield postgres_uow_factory(pool)
    finally:
        await pool.close()


async def create(uow_factory: RegistryUoWFactory, name: str, *, commit: bool) -> None:
    async with uow_factory() as uow:
        created = await uow.projects.insert(name, "", ["development"])
        assert created is not None
        await uow.outbox.add([project_created(created)])
        if commit:
            await uow.commit()


async def create_then_fail(uow_factory: RegistryUoWFactory, name: str) -> None:
    async with uow_factory() as uow:
        await uow.projects.insert(name, "", ["development"])
        raise LookupError("refused after writing")


async def test_a_commit_keeps_the_row_and_its_event(
    stack: StackSettings, uow_factory: RegistryUoWFactory
) -> None:
    name = new_project()

    await create(uow_factory, name, commit=True)

    async with open_db(stack) as db:
        assert (await stored_rows(db, name))["projects"] == 1
        assert [e["type"] for e in await outbox_events(db, name)] == ["contrail.project.created"]


async def test_no_commit_or_an_exception_keeps_neither(
    stack: StackSettings, uow_factory: RegistryUoWFactory
) -> None:
    forgotten, failed = new_project(), new_project()

    await create(uow_factory, forgotten, commit=False)
    with pytest.raises(LookupError):
        await create_then_fail(uow_factory, failed)

    async with open_db(stack) as db:
        for name in (forgotten, failed):
            assert (await stored_rows(db, name))["projects"] == 0
            assert await outbox_events(db, name) == []


async def test_without_a_transaction_each_write_stands_and_the_outbox_refuses(
    stack: StackSettings, uow_factory: RegistryUoWFactory
) -> None:
    name = new_project()

    async with uow_factory(atomic=False) as uow:
        created = await uow.projects.insert(name, "", ["development"])
        assert created is not None
        with pytest.raises(RuntimeError, match="inside the state's transaction"):
            await uow.outbox.add([project_created(created)])

    async with open_db(stack) as db:
        assert (await stored_rows(db, name))["projects"] == 1
        assert await outbox_events(db, name) == []

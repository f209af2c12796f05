"""PostgreSQL: the asyncpg pool, one way to open a transaction, and migrations."""

from shared.db.migrations import Migration, apply_migrations, load_migrations
from shared.db.pool import create_pool, transaction

__all__ = ["Migration", "apply_migrations", "create_pool", "load_migrations", "transaction"]

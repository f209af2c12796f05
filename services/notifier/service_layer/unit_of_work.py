"""The notifier service's unit of work: its repositories and its outbox in one transaction.

It holds no repository yet: each table the service gets adds one here (a
``Protocol`` saying what the use cases need), one in the PostgreSQL unit of
work (``adapters/unit_of_work.py``) and one in the unit tests' fake.
"""

from __future__ import annotations

from shared.db.unit_of_work import UnitOfWork, UnitOfWorkFactory


class NotifierUnitOfWork(UnitOfWork):
    """One transaction over the notifier service's tables and outbox."""


NotifierUoWFactory = UnitOfWorkFactory[NotifierUnitOfWork]

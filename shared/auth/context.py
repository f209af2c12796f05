"""The principal of the request being served, for code that records who did what (the audit log).

``shared.auth.dependency.authenticate`` sets it for every authenticated request; a use case
reads ``current_actor()`` instead of taking the principal through every layer. Outside a
request (consumers, the scheduler, tests of pure logic) the actor is ``system``.
"""

from __future__ import annotations

from contextvars import ContextVar

SYSTEM_ACTOR = "system"

_actor: ContextVar[str] = ContextVar("contrail_actor", default=SYSTEM_ACTOR)


def current_actor() -> str:
    """The name of the principal the current request is served for, else ``system``."""
    return _actor.get()


def set_actor(name: str) -> None:
    """Record the request's principal (called by the authentication dependency only)."""
    _actor.set(name)

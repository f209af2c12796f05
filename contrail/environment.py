"""``TaskEnvironment``: tasks that share an image, resources and environment (as in Flyte 2).

::

    env = TaskEnvironment("etl", image="ghcr.io/acme/etl:1", requests=Resources(cpu=1))

    @env.task
    def extract(day: str) -> list[str]: ...

    @env.task(retries=3, requests=Resources(cpu=2))   # a task's own options win
    def load(rows: list[str]) -> int: ...
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import ParamSpec, TypeVar, overload

from contrail.resources import Resources
from contrail.task import DefinitionError, Task

P = ParamSpec("P")
R = TypeVar("R")


class TaskEnvironment:
    """Defaults for the tasks made with ``@env.task``: image, resources, environment and more.

    ``resources`` sets requests and limits alike; ``requests`` and ``limits`` set
    one of them. ``environment`` is merged with a task's own, whose keys win.
    """

    def __init__(
        self,
        name: str,
        *,
        image: str | None = None,
        resources: Resources | None = None,
        requests: Resources | None = None,
        limits: Resources | None = None,
        environment: Mapping[str, str] | None = None,
        retries: int | None = None,
        timeout: timedelta | float | None = None,
        cache: bool | None = None,
        cache_version: str | None = None,
    ) -> None:
        """Hold the defaults; each task checks them when it is made.

        Raises:
            DefinitionError: no name, or ``resources`` together with ``requests``/``limits``.
        """
        if not isinstance(name, str) or not name:
            raise DefinitionError("TaskEnvironment needs a name")
        if resources is not None and (requests is not None or limits is not None):
            raise DefinitionError(
                f"TaskEnvironment {name!r}: give resources (requests and limits alike), or "
                "requests and/or limits, not both"
            )
        self.name = name
        self.image = image
        self.requests = requests if resources is None else resources
        self.limits = limits if resources is None else resources
        self.environment = dict(environment or {})
        self.retries = retries
        self.timeout = timeout
        self.cache = cache
        self.cache_version = cache_version
        self.tasks: list[Task[..., object]] = []

    @overload
    def task(self, fn: Callable[P, R], /) -> Task[P, R]: ...

    @overload
    def task(
        self,
        /,
        *,
        image: str | None = None,
        requests: Resources | None = None,
        limits: Resources | None = None,
        environment: Mapping[str, str] | None = None,
        retries: int | None = None,
        timeout: timedelta | float | None = None,
        cache: bool | None = None,
        cache_version: str | None = None,
    ) -> Callable[[Callable[P, R]], Task[P, R]]: ...

    def task(
        self,
        fn: Callable[P, R] | None = None,
        /,
        *,
        image: str | None = None,
        requests: Resources | None = None,
        limits: Resources | None = None,
        environment: Mapping[str, str] | None = None,
        retries: int | None = None,
        timeout: timedelta | float | None = None,
        cache: bool | None = None,
        cache_version: str | None = None,
    ) -> Task[P, R] | Callable[[Callable[P, R]], Task[P, R]]:
        """Make a task with this environment's defaults; options given here win.

        Raises:
            DefinitionError: as ``@task`` does, for the merged options.
        """

        def decorate(f: Callable[P, R]) -> Task[P, R]:
            made = Task(
                f,
                image=image if image is not None else self.image,
                requests=requests if requests is not None else self.requests,
                limits=limits if limits is not None else self.limits,
                environment={**self.environment, **(environment or {})},
                retries=_pick(retries, self.retries, 0),
                timeout=timeout if timeout is not None else self.timeout,
                cache=_pick(cache, self.cache, False),
                cache_version=_pick(cache_version, self.cache_version, ""),
                environment_name=self.name,
            )
            self.tasks.append(made)
            return made

        if fn is not None:
            return decorate(fn)
        return decorate

    def __repr__(self) -> str:
        return f"TaskEnvironment({self.name!r}, tasks={len(self.tasks)})"


T = TypeVar("T")


def _pick(own: T | None, inherited: T | None, default: T) -> T:
    if own is not None:
        return own
    if inherited is not None:
        return inherited
    return default

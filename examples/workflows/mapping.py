"""A map over a list: one task run per item, with a concurrency limit and a success ratio."""

from contrail import map_task, task, workflow


@task
def square(x: int) -> int:
    """``x`` squared."""
    return x * x


@task
def total(values: list[int]) -> int:
    """The sum of ``values``."""
    return sum(values)


@task
def checked_inverse(x: int) -> float:
    """``1 / x``; fails for 0."""
    if x == 0:
        raise ZeroDivisionError("no inverse of 0")
    return 1 / x


@workflow
def sum_of_squares(xs: list[int] = [1, 2, 3, 4]) -> int:  # noqa: B006 - a workflow's default is a literal
    """Square each item (at most four at a time), then add them up."""
    squares = map_task(square, concurrency=4)(x=xs)
    return total(values=squares)


@workflow
def inverses(xs: list[int] = [1, 2, 0, 4, 5]) -> list[float | None]:  # noqa: B006
    """Invert each item; up to one in five may fail (its result is None)."""
    return map_task(checked_inverse, min_success_ratio=0.8)(x=xs)

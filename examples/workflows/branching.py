"""A branch: the first case whose condition holds runs; else a fallback, or a failure."""

from contrail import conditional, task, workflow


@task
def double(x: int) -> int:
    return 2 * x


@task
def small(x: int) -> str:
    return f"{x} is small"


@task
def medium(x: int) -> str:
    return f"{x} is medium"


@task
def large(x: int) -> str:
    return f"{x} is large"


@workflow
def classify(n: int = 3) -> str:
    """Double ``n``, then say how big the result is."""
    doubled = double(x=n)
    return (
        conditional("size")
        .if_(doubled < 5)
        .then(small(x=doubled))
        .elif_((doubled >= 5) & (doubled < 20))
        .then(medium(x=doubled))
        .else_()
        .then(large(x=doubled))
    )


@workflow
def only_positive(n: int) -> str:
    """Classify a positive ``n``; fail the execution otherwise."""
    return conditional("positive").if_(n > 0).then(small(x=n)).else_().fail("n must be positive")

"""A simple Contrail workflow: greet someone and count the greeting's characters."""

from contrail import task, workflow


@task
def say_hello(name: str) -> str:
    """Greet ``name``."""
    return f"Hello, {name}!"


@task
def greeting_length(greeting: str) -> int:
    """The number of characters in ``greeting``."""
    return len(greeting)


@workflow
def wf(name: str = "union") -> tuple[str, int]:
    """Greet ``name``, and measure the greeting."""
    greeting = say_hello(name=name)
    greeting_len = greeting_length(greeting=greeting)
    return greeting, greeting_len

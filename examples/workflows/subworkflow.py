"""A workflow inside a workflow: the sub-workflow is one node of its parent."""

from contrail import task, workflow
from workflows.example import wf as greet


@task
def shout(greeting: str, length: int) -> str:
    """Upper-case the greeting and append its length."""
    return f"{greeting.upper()} ({length})"


@workflow
def loud_greeting(name: str = "contrail") -> str:
    """Greet ``name`` through the example workflow, then shout it."""
    greeting, length = greet(name=name)
    return shout(greeting=greeting, length=length)

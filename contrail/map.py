"""``map_task``: run a task once per item of lists, as one map node.

``map_task(t, concurrency=4, min_success_ratio=0.8)(x=xs)`` takes a list for
every input of ``t`` (all of the same length) and gives the list of ``t``'s
output, item by item. With ``min_success_ratio`` below 1 the map succeeds when
enough items do, and the output of a failed item is ``None`` (so the output is
a list of optionals).
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any, Generic, TypeVar, cast

from contrail.errors import ExecutionFailed
from contrail.task import (
    COMPILING,
    DefinitionError,
    InputError,
    InputSlot,
    Interface,
    OutputSlot,
    OutputStyle,
    Task,
)
from shared.literals import ListType, optional
from shared.specs import NodeKind

R = TypeVar("R", covariant=True)


class MapTask(Generic[R]):
    """A task mapped over lists (made by ``map_task``); call it with a list per input.

    In a workflow the call adds a map node; elsewhere it runs the task here once
    per item, one after the other.
    """

    node_kind = NodeKind.MAP

    def __init__(
        self,
        task: Task[..., R],
        *,
        concurrency: int | None = None,
        min_success_ratio: float = 1.0,
    ) -> None:
        """Check the options and build the map's interface.

        Raises:
            DefinitionError: not a task, a task with no inputs or several outputs, a
                concurrency below 1, or a ratio outside [0, 1].
        """
        if not isinstance(task, Task):
            raise DefinitionError(f"map_task maps a @task, got {task!r}")
        where = f"map_task({task.name})"
        if concurrency is not None and (
            not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1
        ):
            raise DefinitionError(
                f"{where}: concurrency: expected an int >= 1, got {concurrency!r}"
            )
        if (
            not isinstance(min_success_ratio, int | float)
            or isinstance(min_success_ratio, bool)
            or not 0.0 <= min_success_ratio <= 1.0
        ):
            raise DefinitionError(
                f"{where}: min_success_ratio: expected a number from 0 to 1, "
                f"got {min_success_ratio!r}"
            )
        inner = task.interface
        if not inner.inputs:
            raise DefinitionError(f"{where}: the task has no inputs to map over")
        if len(inner.outputs) > 1:
            raise DefinitionError(
                f"{where}: a mapped task has at most one output; it has "
                f"{', '.join(inner.outputs)} (return a dataclass instead)"
            )
        self.task = task
        self.concurrency = concurrency
        self.min_success_ratio = float(min_success_ratio)
        tolerant = self.min_success_ratio < 1.0
        inputs = {
            name: InputSlot(name, list[slot.annotation], ListType(item=slot.type))  # type: ignore[name-defined]
            for name, slot in inner.inputs.items()
        }
        outputs = {}
        for name, slot in inner.outputs.items():
            item_annotation = typing.Optional[slot.annotation] if tolerant else slot.annotation  # noqa: UP045
            item_type = optional(slot.type) if tolerant else slot.type
            outputs[name] = OutputSlot(
                name,
                list[item_annotation],  # type: ignore[valid-type]
                ListType(item=item_type),
            )
        self._interface = Interface(
            inputs=inputs,
            outputs=outputs,
            style=OutputStyle.SINGLE if outputs else OutputStyle.NONE,
        )

    @property
    def name(self) -> str:
        """The mapped task's name."""
        return self.task.name

    @property
    def interface(self) -> Interface:
        """A list per input of the task, and a list of its output."""
        return self._interface

    def execute_literals(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Run the task here once per item, in order; the list of outputs, as literals.

        Raises:
            InputError: the lists differ in length.
            ExecutionFailed: fewer items than ``min_success_ratio`` succeeded.
            Exception: with ``min_success_ratio`` 1, the first item's failure as it is.
        """
        lengths = {name: len(value) for name, value in inputs.items()}
        if len(set(lengths.values())) > 1:
            raise InputError(
                f"map_task({self.name}): every input is a list of the same length, got "
                + ", ".join(f"{name}: {n}" for name, n in lengths.items())
            )
        count = next(iter(lengths.values()), 0)
        results: list[dict[str, Any] | None] = []
        failures: list[str] = []
        for i in range(count):
            item = {name: value[i] for name, value in inputs.items()}
            if self.min_success_ratio >= 1.0:
                results.append(self.task.execute_literals(item))
                continue
            try:
                results.append(self.task.execute_literals(item))
            except Exception as error:
                failures.append(f"[{i}] {type(error).__name__}: {error}")
                results.append(None)
        if count and (count - len(failures)) / count < self.min_success_ratio:
            raise ExecutionFailed(
                f"map_task({self.name}): {count - len(failures)} of {count} items succeeded, "
                f"below min_success_ratio={self.min_success_ratio:g}; " + "; ".join(failures[:3])
            )
        return {
            name: [r[name] if r is not None else None for r in results]
            for name in self._interface.outputs
        }

    def __call__(self, **kwargs: object) -> list[R]:
        """In a workflow: a map node, and a promise of its list. Elsewhere: run it here.

        Raises:
            DefinitionError: (in a workflow) a missing input or one that is not a list
                of the task's input type.
            InputError: (locally) inputs that are not lists of the task's inputs.
        """
        if COMPILING:
            return cast(list[R], COMPILING[-1].call(self, (), dict(kwargs)))
        literals = self._interface.inputs_to_literals(f"map_task({self.name})", kwargs)
        outputs = self.execute_literals(literals)
        return cast(list[R], self._interface.literals_to_outputs(self.name, outputs))

    def __repr__(self) -> str:
        return f"MapTask({self.name})"


def map_task(
    task: Task[..., R], *, concurrency: int | None = None, min_success_ratio: float = 1.0
) -> MapTask[R]:
    """Map ``task`` over lists: call the result with one list per input of ``task``.

    Args:
        task: a ``@task`` with at least one input and at most one output.
        concurrency: at most this many items run at once (remote runs); unlimited when None.
        min_success_ratio: the share of items that must succeed; below 1, failed
            items give ``None``.

    Raises:
        DefinitionError: a bad task or option (see ``MapTask``).
    """
    return MapTask(task, concurrency=concurrency, min_success_ratio=min_success_ratio)

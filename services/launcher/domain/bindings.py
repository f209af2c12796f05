"""Resolving bindings to literal values.

A binding says where a value comes from: a workflow input, an output of an
upstream node, a constant, or a list or dict of those. The engine resolves a
node's bindings when the node starts, against its scope: the inputs of the
workflow the node belongs to (the execution's, or a sub-workflow node's) and
the outputs of that workflow's nodes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from shared.specs import (
    Binding,
    Comparison,
    Condition,
    Conjunction,
    DictBinding,
    InputBinding,
    ListBinding,
    LiteralBinding,
    Negation,
    Node,
    OutputBinding,
    TypedInterface,
)


class BindingError(Exception):
    """A binding can't be resolved: the value it names does not exist."""


class SkippedUpstream(Exception):
    """A binding names an output of a node that was skipped, so it has no value."""

    def __init__(self, node_id: str) -> None:
        super().__init__(f"node {node_id} was skipped")
        self.node_id = node_id


class Sources(Protocol):
    """Where a scope's bindings take their values from."""

    def input(self, name: str) -> Any:
        """The value of the scope's input ``name``; raises ``BindingError`` if it has none."""

    def output(self, node_id: str, name: str) -> Any:
        """Output ``name`` of node ``node_id`` of the scope; raises ``BindingError`` if it
        has none, ``SkippedUpstream`` if the node was skipped."""


def resolve(binding: Binding, sources: Sources) -> Any:
    """The literal value of ``binding``."""
    match binding:
        case InputBinding():
            return sources.input(binding.input)
        case OutputBinding():
            return sources.output(binding.node, binding.output)
        case LiteralBinding():
            return binding.value
        case ListBinding():
            return [resolve(item, sources) for item in binding.items]
        case DictBinding():
            return {key: resolve(item, sources) for key, item in binding.items.items()}


def resolve_all(bindings: Mapping[str, Binding], sources: Sources) -> dict[str, Any]:
    """Each binding of ``bindings`` resolved, by name."""
    return {name: resolve(binding, sources) for name, binding in bindings.items()}


def with_defaults(values: dict[str, Any], interface: TypedInterface, what: str) -> dict[str, Any]:
    """``values`` plus the defaults of ``interface``'s inputs that are not in it.

    An optional input without a default gets ``None``; a required input without
    a default raises ``BindingError`` naming ``what`` takes it.
    """
    missing = [name for name in interface.inputs if name not in values]
    if not missing:
        return values
    filled = dict(values)
    for name in missing:
        param = interface.inputs[name]
        if param.default is None and param.required:
            raise BindingError(f"input '{name}' of {what} is not bound and has no default")
        filled[name] = param.default
    return filled


def output_nodes(binding: Binding) -> Iterator[str]:
    """The ids of the nodes whose outputs ``binding`` uses."""
    match binding:
        case OutputBinding():
            yield binding.node
        case ListBinding():
            for item in binding.items:
                yield from output_nodes(item)
        case DictBinding():
            for item in binding.items.values():
                yield from output_nodes(item)
        case _:
            return


def condition_bindings(condition: Condition) -> Iterator[Binding]:
    """The operands of every comparison in ``condition``."""
    match condition:
        case Comparison():
            yield condition.left
            yield condition.right
        case Conjunction():
            yield from condition_bindings(condition.left)
            yield from condition_bindings(condition.right)
        case Negation():
            yield from condition_bindings(condition.operand)


def node_bindings(node: Node) -> Iterator[Binding]:
    """Every binding a node uses: its inputs, and for a branch its conditions and the
    bindings of every node it may run."""
    yield from node.inputs.values()
    if node.branch is not None:
        for case in node.branch.cases:
            yield from condition_bindings(case.condition)
            yield from node_bindings(case.then)
        if node.branch.otherwise is not None:
            yield from node_bindings(node.branch.otherwise)


def data_upstream(bindings: Iterable[Binding]) -> frozenset[str]:
    """The ids of the nodes whose outputs any of ``bindings`` uses."""
    return frozenset(node_id for binding in bindings for node_id in output_nodes(binding))

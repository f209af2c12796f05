"""Tasks: typed Python functions that a worker runs, and their interfaces.

``@task`` reads a function's annotated signature into an ``Interface`` (through
the type engine) when it decorates it, so that a bad annotation fails at import
time and names the function and the parameter. Calling a task inside a
``@workflow`` adds a node; calling it anywhere else runs it here, with the same
type checks a worker applies.

This module also holds the errors that the SDK raises for what a user wrote.
"""

from __future__ import annotations

import enum
import functools
import inspect
import os
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, ParamSpec, Protocol, TypeVar, cast, overload

from contrail.errors import ContrailError
from contrail.resources import Resources, ResourcesError, resources_spec
from contrail.types import TypeEngineError, from_literal, literal_type_of, to_literal
from shared.literals import LiteralType, render
from shared.specs import (
    ENTITY_NAME_PATTERN,
    CodeLocation,
    NodeKind,
    Parameter,
    TaskSpec,
    TypedInterface,
    Variable,
)

P = ParamSpec("P")
R = TypeVar("R", covariant=True)

# --- errors -----------------------------------------------------------------------


class DefinitionError(ContrailError, TypeError):
    """A task, workflow or launch plan is defined wrongly; the message names it and where."""


class InputError(ContrailError, TypeError):
    """Inputs given to a task, workflow or launch plan do not fit its interface."""


class OutputError(ContrailError, TypeError):
    """A task returned a value that does not fit its declared outputs."""


def source_location(fn: Callable[..., object]) -> str:
    """``file:line`` of a function's definition, the file relative to the working directory."""
    code = getattr(inspect.unwrap(fn), "__code__", None)
    if code is None:
        return "<unknown>"
    return f"{display_path(code.co_filename)}:{code.co_firstlineno}"


def display_path(path: str) -> str:
    """``path`` relative to the working directory when it is under it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return path if relative.startswith("..") else relative


def describe(fn: Callable[..., object]) -> str:
    """``module.qualname (file:line)``: how errors name a user's function."""
    return f"{fn.__module__}.{fn.__qualname__} ({source_location(fn)})"


# --- interfaces -------------------------------------------------------------------


class OutputStyle(enum.Enum):
    """How a function's return annotation spreads into outputs."""

    NONE = "none"  # -> None: no outputs
    SINGLE = "single"  # -> T: one output, o0
    TUPLE = "tuple"  # -> tuple[A, B]: o0, o1
    NAMED = "named"  # -> a NamedTuple: one output per field


@dataclass(frozen=True)
class InputSlot:
    """One input: its annotation, literal type and default."""

    name: str
    annotation: Any
    type: LiteralType
    has_default: bool = False
    default: Any = None
    default_literal: Any = None


@dataclass(frozen=True)
class OutputSlot:
    """One output: its annotation and literal type."""

    name: str
    annotation: Any
    type: LiteralType


@dataclass(frozen=True)
class Interface:
    """The typed inputs and outputs of a task or workflow, with their Python annotations."""

    inputs: dict[str, InputSlot]
    outputs: dict[str, OutputSlot]
    style: OutputStyle
    named: type[tuple[Any, ...]] | None = None

    def typed_interface(self) -> TypedInterface:
        """The spec's view: literal types, and defaults as literals."""
        return TypedInterface(
            inputs={
                name: Parameter(
                    type=slot.type,
                    default=slot.default_literal if slot.has_default else None,
                    required=not slot.has_default,
                )
                for name, slot in self.inputs.items()
            },
            outputs={name: Variable(type=slot.type) for name, slot in self.outputs.items()},
        )

    def inputs_to_literals(self, owner: str, values: Mapping[str, object]) -> dict[str, Any]:
        """Literals of Python input values, defaults filled in.

        Raises:
            InputError: an unknown or missing input, or a value of the wrong type.
        """
        self._check_names(owner, values)
        given = self.given_inputs_to_literals(owner, values)
        return {name: given.get(name, slot.default_literal) for name, slot in self.inputs.items()}

    def given_inputs_to_literals(self, owner: str, values: Mapping[str, object]) -> dict[str, Any]:
        """Literals of some of the inputs (no defaults filled in, none required).

        Raises:
            InputError: an unknown input, or a value of the wrong type.
        """
        literals: dict[str, Any] = {}
        for name, value in values.items():
            slot = self.inputs.get(name)
            if slot is None:
                raise InputError(
                    f"{owner}: unknown input {name!r} (inputs: {', '.join(self.inputs) or 'none'})"
                )
            try:
                literals[name] = to_literal(value, slot.annotation)
            except TypeEngineError as error:
                raise InputError(
                    f"{owner}: input '{name}' ({render(slot.type)}): {error}"
                ) from None
        return literals

    def literals_to_inputs(self, owner: str, literals: Mapping[str, Any]) -> dict[str, Any]:
        """Python values of input literals, defaults filled in.

        Raises:
            InputError: an unknown or missing input, or a literal that is not of its type.
        """
        self._check_names(owner, literals)
        values: dict[str, Any] = {}
        for name, slot in self.inputs.items():
            literal = literals.get(name, slot.default_literal)
            try:
                values[name] = from_literal(literal, slot.annotation)
            except TypeEngineError as error:
                raise InputError(
                    f"{owner}: input '{name}' ({render(slot.type)}): {error}"
                ) from None
        return values

    def outputs_to_literals(self, owner: str, result: object) -> dict[str, Any]:
        """Literals of what a function returned, checked against the declared outputs.

        Raises:
            OutputError: the value, or one of the values, does not fit its output.
        """
        if self.style is OutputStyle.NONE:
            if result is not None:
                raise OutputError(f"{owner}: declared to return None, returned {_short(result)}")
            return {}
        if self.style is OutputStyle.SINGLE:
            values: tuple[object, ...] = (result,)
        else:
            if not isinstance(result, tuple) or len(result) != len(self.outputs):
                raise OutputError(
                    f"{owner}: declared to return a tuple of {len(self.outputs)} "
                    f"({', '.join(self.outputs)}), returned {_short(result)}"
                )
            values = tuple(result)
        literals: dict[str, Any] = {}
        for slot, value in zip(self.outputs.values(), values, strict=True):
            try:
                literals[slot.name] = to_literal(value, slot.annotation)
            except TypeEngineError as error:
                raise OutputError(
                    f"{owner}: output '{slot.name}' ({render(slot.type)}): {error}"
                ) from None
        return literals

    def literals_to_outputs(self, owner: str, literals: Mapping[str, Any]) -> Any:
        """The Python return value for output literals: a value, a tuple, a NamedTuple or None.

        Raises:
            OutputError: a literal that is not of its output's type.
        """
        values = []
        for slot in self.outputs.values():
            try:
                values.append(from_literal(literals[slot.name], slot.annotation))
            except TypeEngineError as error:
                raise OutputError(
                    f"{owner}: output '{slot.name}' ({render(slot.type)}): {error}"
                ) from None
        if self.style is OutputStyle.NONE:
            return None
        if self.style is OutputStyle.SINGLE:
            return values[0]
        if self.style is OutputStyle.NAMED and self.named is not None:
            return self.named(*values)
        return tuple(values)

    def _check_names(self, owner: str, given: Mapping[str, object]) -> None:
        unknown = [name for name in given if name not in self.inputs]
        if unknown:
            raise InputError(
                f"{owner}: unknown input {', '.join(repr(u) for u in unknown)} "
                f"(inputs: {', '.join(self.inputs) or 'none'})"
            )
        missing = [
            name for name, slot in self.inputs.items() if name not in given and not slot.has_default
        ]
        if missing:
            raise InputError(
                f"{owner}: missing input {', '.join(repr(m) for m in missing)} "
                f"({', '.join(f'{m}: {render(self.inputs[m].type)}' for m in missing)})"
            )


def _short(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def interface_of(fn: Callable[..., object], kind: str) -> Interface:
    """Read ``fn``'s annotated signature into an ``Interface``.

    Raises:
        DefinitionError: a missing annotation, one the type engine can't map, a
            default that is not of its parameter's type, ``*args``/``**kwargs`` or
            positional-only parameters; the message names the function, its file
            and line, and the parameter (or "return").
    """
    where = f"{kind} {describe(fn)}"
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as error:  # a forward reference that doesn't resolve, and the like
        raise DefinitionError(f"{where}: cannot read its annotations: {error}") from None
    signature = inspect.signature(fn)
    inputs: dict[str, InputSlot] = {}
    for name, param in signature.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise DefinitionError(
                f"{where}: parameter '{name}': *args and **kwargs are not supported; "
                "name every input"
            )
        if param.kind is param.POSITIONAL_ONLY:
            raise DefinitionError(
                f"{where}: parameter '{name}': inputs are passed by name, so they can't be "
                "positional-only"
            )
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", name):
            raise DefinitionError(f"{where}: parameter '{name}': use an ASCII identifier")
        if name not in hints:
            raise DefinitionError(
                f"{where}: parameter '{name}' has no type annotation; every input needs one"
            )
        annotation = hints[name]
        literal_type = _literal_type(where, f"parameter '{name}'", annotation)
        if param.default is param.empty:
            inputs[name] = InputSlot(name, annotation, literal_type)
            continue
        try:
            default_literal = to_literal(param.default, annotation)
        except TypeEngineError as error:
            raise DefinitionError(
                f"{where}: parameter '{name}': the default {param.default!r} is not a "
                f"{render(literal_type)}: {error}"
            ) from None
        inputs[name] = InputSlot(
            name, annotation, literal_type, True, param.default, default_literal
        )
    if signature.return_annotation is inspect.Signature.empty:
        raise DefinitionError(
            f"{where}: return has no type annotation; add one (-> None when it returns nothing)"
        )
    style, outputs, named = _outputs_of(where, hints.get("return"))
    return Interface(inputs=inputs, outputs=outputs, style=style, named=named)


def _literal_type(where: str, what: str, annotation: object) -> LiteralType:
    try:
        return literal_type_of(annotation)
    except TypeEngineError as error:
        raise DefinitionError(f"{where}: {what}: {error}") from None


def _is_named_tuple(annotation: object) -> bool:
    return (
        isinstance(annotation, type)
        and issubclass(annotation, tuple)
        and hasattr(annotation, "_fields")
    )


def _outputs_of(
    where: str, annotation: object
) -> tuple[OutputStyle, dict[str, OutputSlot], type[tuple[Any, ...]] | None]:
    if annotation is None or annotation is type(None):
        return OutputStyle.NONE, {}, None
    if _is_named_tuple(annotation):
        named = cast(type[tuple[Any, ...]], annotation)
        try:
            fields = typing.get_type_hints(named, include_extras=True)
        except Exception as error:
            raise DefinitionError(
                f"{where}: return: cannot read {named.__name__}: {error}"
            ) from None
        outputs = {}
        for field in named._fields:  # type: ignore[attr-defined]
            if field not in fields:
                raise DefinitionError(f"{where}: return: field '{field}' has no annotation")
            outputs[field] = OutputSlot(
                field, fields[field], _literal_type(where, f"return field '{field}'", fields[field])
            )
        return OutputStyle.NAMED, outputs, named
    if typing.get_origin(annotation) is tuple:
        args = typing.get_args(annotation)
        if not args or Ellipsis in args or args == ((),):
            raise DefinitionError(
                f"{where}: return: {annotation!r}: name each output's type, as in "
                "tuple[str, int], or return a list[T]"
            )
        outputs = {
            f"o{i}": OutputSlot(f"o{i}", arg, _literal_type(where, f"return (o{i})", arg))
            for i, arg in enumerate(args)
        }
        return OutputStyle.TUPLE, outputs, None
    literal_type = _literal_type(where, "return", annotation)
    return OutputStyle.SINGLE, {"o0": OutputSlot("o0", annotation, literal_type)}, None


# --- the compile hook -------------------------------------------------------------


class CallSink(Protocol):
    """What records a call of a task or workflow while a workflow compiles."""

    def call(self, entity: Callee, args: tuple[object, ...], kwargs: dict[str, object]) -> Any:
        """Add a node for ``entity`` and return its promises."""
        ...


class Callee(Protocol):
    """A task, workflow or map that can be a node of a workflow."""

    @property
    def name(self) -> str: ...

    @property
    def interface(self) -> Interface: ...

    @property
    def node_kind(self) -> NodeKind: ...

    def execute_literals(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Run with literal inputs, here; literal outputs."""
        ...


COMPILING: list[CallSink] = []
"""The workflows being compiled, innermost last (decorations can nest through imports)."""


# --- tasks ------------------------------------------------------------------------


def _timeout_seconds(where: str, timeout: timedelta | float | None) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, timedelta):
        seconds = timeout.total_seconds()
    elif isinstance(timeout, int | float) and not isinstance(timeout, bool):
        seconds = float(timeout)
    else:
        raise DefinitionError(f"{where}: timeout: expected a timedelta or seconds, got {timeout!r}")
    if seconds <= 0:
        raise DefinitionError(f"{where}: timeout: must be positive, got {seconds:g} seconds")
    return seconds


class Task(Generic[P, R]):
    """A typed Python function that runs as one node of a workflow (made by ``@task``).

    Call it inside a ``@workflow`` with keyword arguments to add a node; call it
    anywhere else to run it here: inputs and outputs go through their literals,
    so a local run checks types as a worker does (retries and timeouts are not
    applied locally).
    """

    node_kind = NodeKind.TASK

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        requests: Resources | None = None,
        limits: Resources | None = None,
        retries: int = 0,
        timeout: timedelta | float | None = None,
        cache: bool = False,
        cache_version: str = "",
        image: str | None = None,
        environment: Mapping[str, str] | None = None,
        environment_name: str | None = None,
    ) -> None:
        """Build the task and its interface.

        Raises:
            DefinitionError: a bad annotation or option; the message names the
                function, its file and line, and what is wrong.
        """
        if not inspect.isfunction(fn):
            raise DefinitionError(f"@task decorates a function, got {fn!r}")
        where = f"task {describe(fn)}"
        if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
            raise DefinitionError(f"{where}: async functions are not supported yet; use def")
        self._fn = fn
        self._name = f"{fn.__module__}.{fn.__qualname__}"
        self._where = where
        self._interface = interface_of(fn, "task")
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise DefinitionError(f"{where}: retries: expected an int >= 0, got {retries!r}")
        if cache and not cache_version:
            raise DefinitionError(
                f"{where}: cache=True needs a cache_version, e.g. cache_version='1.0'; "
                "change it when the function's results change"
            )
        if image is not None and not (isinstance(image, str) and image):
            raise DefinitionError(f"{where}: image: expected a non-empty string, got {image!r}")
        env = dict(environment or {})
        for key, value in env.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise DefinitionError(
                    f"{where}: environment: keys and values are strings, got {key!r}: {value!r}"
                )
        try:
            self._resources = resources_spec(requests, limits)
        except ResourcesError as error:
            raise DefinitionError(f"{where}: {error}") from None
        self.requests = requests
        self.limits = limits
        self.retries = retries
        self.timeout_seconds = _timeout_seconds(where, timeout)
        self.cache = bool(cache)
        self.cache_version = cache_version if cache else ""
        self.image = image
        self.environment = env
        self.environment_name = environment_name
        functools.update_wrapper(self, fn)

    @property
    def name(self) -> str:
        """``module.qualname`` of the function: the registered name."""
        return self._name

    @property
    def function(self) -> Callable[P, R]:
        """The decorated function itself."""
        return self._fn

    @property
    def interface(self) -> Interface:
        """Typed inputs and outputs, read from the signature."""
        return self._interface

    def spec(self) -> TaskSpec:
        """The ``TaskSpec`` that registration sends.

        Raises:
            DefinitionError: the task is not defined at a module's top level, so a
                worker could not import it.
        """
        if not re.fullmatch(ENTITY_NAME_PATTERN, self._name):
            raise DefinitionError(
                f"{self._where}: a registered task must be defined at the top level of a "
                "module, so that a worker can import it"
            )
        return TaskSpec(
            name=self._name,
            interface=self._interface.typed_interface(),
            image=self.image,
            code=CodeLocation(module=self._fn.__module__, function=self._fn.__qualname__),
            resources=self._resources,
            retries=self.retries,
            timeout_seconds=self.timeout_seconds,
            cache=self.cache,
            cache_version=self.cache_version,
            environment=dict(sorted(self.environment.items())),
            description=inspect.getdoc(self._fn) or "",
        )

    def execute_literals(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Run the function once with literal inputs; its outputs as literals.

        This is what a worker calls. Exceptions from the function propagate as they are.

        Raises:
            InputError: the literals do not fit the inputs.
            OutputError: the function returned something that does not fit its outputs.
        """
        values = self._interface.literals_to_inputs(self._name, inputs)
        result = self._fn(**values)
        return self._interface.outputs_to_literals(self._name, result)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """In a workflow: a node, and promises of its outputs. Elsewhere: run it here.

        Raises:
            DefinitionError: (in a workflow) positional arguments, unknown or missing
                inputs, or a value of the wrong type.
            InputError: (locally) inputs that do not fit the interface.
            OutputError: (locally) the function returned something that does not fit.
        """
        if COMPILING:
            return cast(R, COMPILING[-1].call(self, args, dict(kwargs)))
        values = bind_arguments(self._name, self._fn, args, kwargs)
        literals = self._interface.inputs_to_literals(self._name, values)
        outputs = self.execute_literals(literals)
        return cast(R, self._interface.literals_to_outputs(self._name, outputs))

    def __repr__(self) -> str:
        return f"Task({self._name})"


def bind_arguments(
    owner: str, fn: Callable[..., object], args: tuple[object, ...], kwargs: Mapping[str, object]
) -> dict[str, object]:
    """Positional and keyword arguments of a local call, by parameter name.

    Raises:
        InputError: arguments the signature does not accept.
    """
    try:
        bound = inspect.signature(fn).bind_partial(*args, **kwargs)
    except TypeError as error:
        raise InputError(f"{owner}: {error}") from None
    return dict(bound.arguments)


@overload
def task(fn: Callable[P, R], /) -> Task[P, R]: ...


@overload
def task(
    *,
    requests: Resources | None = None,
    limits: Resources | None = None,
    retries: int = 0,
    timeout: timedelta | float | None = None,
    cache: bool = False,
    cache_version: str = "",
    image: str | None = None,
    environment: Mapping[str, str] | None = None,
) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(
    fn: Callable[P, R] | None = None,
    /,
    *,
    requests: Resources | None = None,
    limits: Resources | None = None,
    retries: int = 0,
    timeout: timedelta | float | None = None,
    cache: bool = False,
    cache_version: str = "",
    image: str | None = None,
    environment: Mapping[str, str] | None = None,
) -> Task[P, R] | Callable[[Callable[P, R]], Task[P, R]]:
    """Make a typed function a task: ``@task`` or ``@task(retries=3, cache=True, ...)``.

    Args:
        requests: CPU and memory to reserve, e.g. ``Resources(cpu="500m", memory="1Gi")``.
        limits: CPU and memory the task may not exceed.
        retries: how many times a failed attempt is retried (by the engine, not locally).
        timeout: per attempt, a ``timedelta`` or seconds.
        cache: reuse the outputs of an earlier run with the same inputs and ``cache_version``.
        cache_version: required with ``cache=True``; change it when the results change.
        image: the container image; the one given at registration when None.
        environment: environment variables of the task's process.

    Raises:
        DefinitionError: at decoration, for a missing or unmappable annotation (naming
            the function, its file and line, and the parameter or "return") or a bad option.
    """

    def decorate(f: Callable[P, R]) -> Task[P, R]:
        return Task(
            f,
            requests=requests,
            limits=limits,
            retries=retries,
            timeout=timeout,
            cache=cache,
            cache_version=cache_version,
            image=image,
            environment=environment,
        )

    if fn is not None:
        return decorate(fn)
    return decorate

"""Checks of a typed interface on its own: every default is a literal of its input's type."""

from __future__ import annotations

from services.registry.domain.errors import CompileError, ErrorCode
from shared.literals import is_optional, render, value_errors
from shared.specs import TypedInterface


def interface_errors(interface: TypedInterface, owner: str) -> list[CompileError]:
    """What is wrong with the inputs of ``interface``; ``owner`` names it in messages.

    An input's default must be a literal of its type, and an input that is not
    required and has no default gets ``None``, so its type must be optional.
    Never raises.
    """
    errors: list[CompileError] = []
    for name, param in interface.inputs.items():
        if param.default is not None:
            problems = value_errors(param.type, param.default)
            if problems:
                errors.append(
                    CompileError(
                        ErrorCode.TYPE_MISMATCH,
                        f"the default of input '{name}' of {owner} is not a {render(param.type)}: "
                        + "; ".join(problems[:3]),
                        input=name,
                    )
                )
        elif not param.required and not is_optional(param.type):
            errors.append(
                CompileError(
                    ErrorCode.TYPE_MISMATCH,
                    f"input '{name}' of {owner} is not required and has no default, so it "
                    f"defaults to null, which is not a {render(param.type)}; make its type "
                    "optional or give it a default",
                    input=name,
                )
            )
    return errors

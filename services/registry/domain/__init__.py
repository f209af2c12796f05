"""The registry's domain: pure code, no I/O.

The compiler (``compiler``) turns a workflow spec into the closure the
launcher runs; ``launch_plans`` checks a launch plan against its workflow
(schedules with ``shared.cron``);
``diff`` says what differs on a conflicting
re-registration; ``validation`` checks identifiers and keys given twice in
JSON bodies. Every check reports ``CompileError``s (``errors``).
"""

from services.registry.domain.compiler import compile_workflow, direct_references
from services.registry.domain.diff import spec_differences
from services.registry.domain.errors import CompilationFailed, CompileError, ErrorCode
from services.registry.domain.interfaces import interface_errors
from services.registry.domain.launch_plans import check_launch_plan
from services.registry.domain.validation import duplicate_key_errors, identifier_errors

__all__ = [
    "CompilationFailed",
    "CompileError",
    "ErrorCode",
    "check_launch_plan",
    "compile_workflow",
    "direct_references",
    "duplicate_key_errors",
    "identifier_errors",
    "interface_errors",
    "spec_differences",
]

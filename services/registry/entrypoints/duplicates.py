"""Keys a body gives twice: a node input bound twice is ``twice_bound_input``."""

from __future__ import annotations

from services.registry.domain.validation import duplicate_key_errors
from services.registry.service_layer.errors import CompileRejected
from shared.documents import Document


def reject_duplicate_keys(document: Document) -> None:
    """CompileRejected listing each key given twice, naming the node and input when it is one."""
    if not document.duplicates:
        return
    errors = duplicate_key_errors(document.value, document.duplicates)
    first = errors[0].message
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    raise CompileRejected(
        f"the body gives a key twice: {first}{more}", [error.as_dict() for error in errors]
    )

"""The one error the local stack raises."""

from __future__ import annotations

from contrail.errors import ContrailError


class StackError(ContrailError):
    """A fault of the local stack; the message names the fault and its cause.

    The CLI prints it as one line and exits non-zero; nothing else about it is
    meant for the user.
    """

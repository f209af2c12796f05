"""CPU and memory requests and limits of a task, written the way Kubernetes writes them."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from contrail.errors import ContrailError
from shared.events.catalogue import Resources as ResourcesSpec
from shared.events.catalogue import ResourceSpec

_MEMORY_UNITS: dict[str, int] = {
    "": 1,
    "k": 10**3,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKMGT]i?)?\s*$")
_CPU = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m?)\s*$")


class ResourcesError(ContrailError, ValueError):
    """A CPU or memory quantity that can't be read."""


def parse_cpu(value: str | float) -> float:
    """Cores from ``"500m"``, ``"2"``, ``0.5`` or ``1``.

    Raises:
        ResourcesError: the quantity is not a non-negative number of cores or millicores.
    """
    if isinstance(value, bool):
        raise ResourcesError(f"cpu: expected cores such as 0.5, 2 or '500m', got {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ResourcesError(f"cpu: expected a non-negative number of cores, got {value!r}")
        return float(value)
    if isinstance(value, str):
        match = _CPU.match(value)
        if match:
            number, milli = float(match.group(1)), match.group(2)
            return number / 1000 if milli else number
    raise ResourcesError(f"cpu: expected cores such as 0.5, 2 or '500m', got {value!r}")


def parse_memory(value: str | int) -> int:
    """Bytes from ``"512Mi"``, ``"1Gi"``, ``"1G"``, ``"1000M"`` or an int of bytes.

    Raises:
        ResourcesError: the quantity is not a non-negative size with a known unit.
    """
    if isinstance(value, bool):
        raise ResourcesError(f"memory: expected a size such as '512Mi' or '1G', got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ResourcesError(f"memory: expected a non-negative number of bytes, got {value}")
        return value
    if isinstance(value, str):
        match = _MEMORY.match(value)
        if match:
            number, unit = match.group(1), match.group(2) or ""
            return math.ceil(float(number) * _MEMORY_UNITS[unit])
        raise ResourcesError(
            f"memory: expected a size such as '512Mi', '1Gi', '1G' or '1000M', got {value!r} "
            f"(units: {', '.join(u for u in _MEMORY_UNITS if u)})"
        )
    raise ResourcesError(f"memory: expected a size such as '512Mi' or an int, got {value!r}")


@dataclass(frozen=True)
class Resources:
    """CPU and memory for a task's ``requests`` or ``limits``.

    ``cpu`` is cores (``0.5``, ``2``) or millicores (``"500m"``); ``memory`` is
    bytes (an int) or a size with a unit (``"512Mi"``, ``"1Gi"``, ``"1G"``).

    Raises:
        ResourcesError: (a ``ValueError``) at construction, for a quantity that can't be read.
    """

    cpu: str | float | None = None
    memory: str | int | None = None

    def __post_init__(self) -> None:
        self.to_spec()

    def to_spec(self) -> ResourceSpec:
        """The quantities in cores and bytes."""
        return ResourceSpec(
            cpu=None if self.cpu is None else parse_cpu(self.cpu),
            memory_bytes=None if self.memory is None else parse_memory(self.memory),
        )


def resources_spec(requests: Resources | None, limits: Resources | None) -> ResourcesSpec:
    """The spec's requests and limits; a limit below its request is refused.

    Raises:
        ResourcesError: a limit is lower than the matching request.
    """
    req = requests.to_spec() if requests else ResourceSpec()
    lim = limits.to_spec() if limits else ResourceSpec()
    if req.cpu is not None and lim.cpu is not None and lim.cpu < req.cpu:
        raise ResourcesError(f"cpu: the limit ({lim.cpu:g}) is below the request ({req.cpu:g})")
    if (
        req.memory_bytes is not None
        and lim.memory_bytes is not None
        and lim.memory_bytes < req.memory_bytes
    ):
        raise ResourcesError(
            f"memory: the limit ({lim.memory_bytes} bytes) is below the request "
            f"({req.memory_bytes} bytes)"
        )
    return ResourcesSpec(requests=req, limits=lim)

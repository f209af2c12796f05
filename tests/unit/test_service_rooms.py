"""The four rooms of every service, and which way their imports point.

``domain/`` imports nothing of its service's other rooms and no I/O library;
``service_layer/`` never imports an entrypoint, a web framework, a Kafka
client or a database driver (it works through a unit of work). Imports are
read from the source, deferred ones included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("registry", "launcher", "notifier", "metrics")
ROOMS = ("domain", "service_layer", "adapters", "entrypoints")
IO_LIBRARIES = ("asyncpg", "aiokafka", "faststream", "fastapi", "starlette", "httpx", "boto3")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _violations(service: str, room: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((ROOT / "services" / service / room).rglob("*.py")):
        for name in sorted(_imports(path)):
            if any(name == bad or name.startswith(f"{bad}.") for bad in forbidden):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_the_four_rooms_and_a_bootstrap(service: str) -> None:
    base = ROOT / "services" / service
    missing = [room for room in ROOMS if not (base / room / "__init__.py").is_file()]
    assert not missing, f"services/{service} lacks {missing}"
    assert (base / "bootstrap.py").is_file(), f"services/{service} has no bootstrap.py"


@pytest.mark.parametrize("service", SERVICES)
def test_the_domain_imports_no_other_room_and_no_io(service: str) -> None:
    others = tuple(f"services.{service}.{room}" for room in ROOMS if room != "domain")
    forbidden = (*others, f"services.{service}.bootstrap", *IO_LIBRARIES)
    assert _violations(service, "domain", forbidden) == []


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_layer_imports_no_entrypoint_and_no_io(service: str) -> None:
    forbidden = (
        f"services.{service}.entrypoints",
        f"services.{service}.bootstrap",
        *IO_LIBRARIES,
    )
    assert _violations(service, "service_layer", forbidden) == []

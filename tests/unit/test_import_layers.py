"""Which code may import which: the SDK never imports its CLI, the CLI's modules form no cycle.

Imports are read from the source (every ``import`` statement, at the top of a
module or deferred inside a function), so a cycle hidden by a deferred import
is found too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI = "contrail.cli"


def _module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """``(line, module)`` of every import in ``path``; ``from a import b`` gives ``a`` and
    ``a.b`` (``b`` may be a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_of(path).rsplit(".", 1)[0] if path.name != "__init__.py" else _module_of(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def _python_files(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def _is_cli(module: str) -> bool:
    return module == CLI or module.startswith(CLI + ".")


def test_no_module_outside_the_cli_imports_the_cli() -> None:
    """The SDK, the services and the shared code work without Typer and Rich."""
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in _python_files("contrail", "shared", "services", "bench")
        if not _is_cli(_module_of(path))
        for line, module in _imports(path)
        if _is_cli(module)
    ]

    assert offenders == []


def test_the_cli_modules_import_each_other_without_a_cycle() -> None:
    files = {_module_of(path): path for path in _python_files("contrail/cli")}
    graph = {
        module: sorted({m for _, m in _imports(path) if m in files and m != module})
        for module, path in files.items()
    }
    cycles: list[list[str]] = []

    def visit(module: str, trail: list[str]) -> None:
        for target in graph[module]:
            if target in trail:
                cycles.append([*trail[trail.index(target) :], target])
            elif len(trail) < len(graph):
                visit(target, [*trail, target])

    for module in graph:
        visit(module, [module])

    assert cycles == []


def _loaded_after(code: str, absent: list[str], cwd: Path = ROOT) -> list[str]:
    """Which of the ``absent`` packages a fresh interpreter has loaded after running ``code``."""
    check = (
        "import sys\n"
        f"{code}\n"
        f"print(','.join(m for m in {absent!r} if m in sys.modules or any("
        "k.startswith(m + '.') for k in sys.modules)))\n"
    )
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=cwd, capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr
    return [m for m in result.stdout.strip().split(",") if m]


def test_import_contrail_loads_neither_typer_nor_rich() -> None:
    assert _loaded_after("import contrail", ["typer", "rich", "click", CLI]) == []


def test_fast_registration_from_python_loads_no_cli(tmp_path: Path) -> None:
    """``Remote.run`` registers through ``contrail.registration``, not the ``register`` command.

    (httpx, behind ``contrail.remote``, loads Rich and Click for its own command
    line when they are installed: only Typer and the CLI are checked here.)
    """
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "__init__.py").write_text("")
    (tmp_path / "flows" / "hello.py").write_text(
        "from contrail import task\n\n\n@task\ndef hello(name: str) -> str:\n    return name\n"
    )
    code = (
        "import httpx\n"
        "from contrail.remote import Remote, RemoteError\n"
        "from flows.hello import hello\n"
        "down = httpx.MockTransport(lambda request: httpx.Response(503))\n"
        "try:\n"
        "    Remote('http://cluster', transport=down).run(hello, name='x')\n"
        "except RemoteError:\n"
        "    pass  # registration got as far as the upload\n"
        "else:\n"
        "    raise SystemExit('the upload should have failed')\n"
    )

    assert _loaded_after(f"sys.path.insert(0, {str(tmp_path)!r})\n{code}", ["typer", CLI]) == []

"""Import a user's project: every ``.py`` under some paths, named from the project root.

The root is the first directory, walking up from a path, without an
``__init__.py`` (pyflyte's rule), so ``examples/workflows/example.py`` is the
module ``workflows.example`` of the root ``examples``: the name its tasks are
registered under and the module a worker imports.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from contrail.errors import ContrailError
from contrail.task import display_path


class UserCodeError(ContrailError):
    """An import/definition error in a user's module; message names file and line."""


def find_project_root(path: Path) -> Path:
    """The directory above ``path`` to import it from: walk up while ``__init__.py`` exists.

    For a file, the walk starts at its directory. The result is absolute.
    """
    current = path.resolve()
    if not current.is_dir():
        current = current.parent
    while (current / "__init__.py").is_file() and current.parent != current:
        current = current.parent
    return current


def _python_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    found: list[Path] = []
    for directory, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        found.extend(
            Path(directory) / f
            for f in sorted(files)
            if f.endswith(".py") and not f.startswith(".")
        )
    return found


def module_name(file: Path, root: Path) -> str:
    """The dotted module name of ``file`` under ``root`` (``workflows/__init__.py``: ``workflows``).

    Raises:
        UserCodeError: the file is not under the root, or a part of its path is not a
            Python identifier.
    """
    try:
        relative = file.resolve().relative_to(root.resolve())
    except ValueError:
        raise UserCodeError(
            f"{display_path(str(file))}: not under the project root {display_path(str(root))}"
        ) from None
    parts = list(relative.with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    if not parts:
        raise UserCodeError(f"{display_path(str(file))}: the root's own __init__.py")
    for part in parts:
        if not part.isidentifier():
            raise UserCodeError(
                f"{display_path(str(file))}: can't be imported as a module: {part!r} is not a "
                "Python identifier"
            )
    return ".".join(parts)


def _forget_foreign(name: str, root: Path) -> None:
    """Drop modules named like ours that were imported from elsewhere (another project)."""
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        prefix = ".".join(parts[:i])
        module = sys.modules.get(prefix)
        if module is None:
            continue
        origin = getattr(module, "__file__", None)
        locations = [origin] if origin else list(getattr(module, "__path__", []))
        if not locations or any(_is_under(Path(loc), root) for loc in locations):
            continue
        installed = (Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve())
        if any(_is_under(Path(loc), base) for loc in locations for base in installed):
            continue  # never shadow the standard library or installed packages in this process
        for loaded in [m for m in sys.modules if m == prefix or m.startswith(prefix + ".")]:
            del sys.modules[loaded]
        return


def _is_under(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
    except ValueError:
        return False
    return True


def _error_message(error: BaseException, root: Path) -> str:
    if isinstance(error, SyntaxError) and error.filename:
        return f"{display_path(error.filename)}:{error.lineno}: {type(error).__name__}: {error.msg}"
    location = None
    for frame in traceback.extract_tb(error.__traceback__):
        if _is_under(Path(frame.filename), root):
            location = f"{display_path(frame.filename)}:{frame.lineno}"
    where = f"{location}: " if location else ""
    return f"{where}{type(error).__name__}: {error}"


def load_modules(paths: Sequence[Path], root: Path) -> list[ModuleType]:
    """Import every ``.py`` under the given files and directories, as modules named from ``root``.

    ``root`` goes first on ``sys.path``; hidden directories and ``__pycache__`` are
    skipped; files are imported in path order, each once.

    Raises:
        UserCodeError: a path that does not exist or is not under ``root``, or an
            exception while importing a module; the message names the file and line
            (``examples/workflows/broken.py:12: NameError: name 'x' is not defined``).
    """
    root = root.resolve()
    root_entry = str(root)
    if root_entry in sys.path:
        sys.path.remove(root_entry)
    sys.path.insert(0, root_entry)
    files: list[Path] = []
    for path in paths:
        if not path.exists():
            raise UserCodeError(f"{path}: no such file or directory")
        if path.is_file() and path.suffix != ".py":
            raise UserCodeError(f"{path}: not a Python file")
        for file in _python_files(path):
            if file.resolve() not in files:
                files.append(file.resolve())
    modules: list[ModuleType] = []
    for file in files:
        name = module_name(file, root)
        _forget_foreign(name, root)
        try:
            module = importlib.import_module(name)
        except Exception as error:
            raise UserCodeError(_error_message(error, root)) from error
        modules.append(module)
    return modules

"""Every error the SDK defines is a ``ContrailError``, one class per meaning, exported."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import contrail
from contrail.errors import ContrailError, ExecutionFailed

APPLICATIONS = ("contrail.cli", "contrail.demo")
"""The CLI and the local stack: their errors are ContrailErrors too, but not the library's API."""


def _modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.walk_packages(contrail.__path__, "contrail.")
        if not info.name.startswith("contrail.templates")
    )


def _errors_defined_in(module_name: str) -> list[type[BaseException]]:
    module = importlib.import_module(module_name)
    return [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, BaseException) and cls.__module__ == module_name
    ]


def _all_errors() -> list[type[BaseException]]:
    return [cls for name in _modules() for cls in _errors_defined_in(name)]


def test_the_walk_finds_the_errors_of_every_module() -> None:
    names = {cls.__qualname__ for cls in _all_errors()}

    assert {"RemoteError", "BundleError", "ConfigError", "CLIError", "StackError"} <= names


def test_every_error_defined_in_contrail_is_a_contrail_error() -> None:
    strays = [
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in _all_errors()
        if not issubclass(cls, ContrailError)
    ]

    assert strays == []


def test_every_public_error_of_the_library_is_exported_from_contrail() -> None:
    missing = [
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in _all_errors()
        if not cls.__module__.startswith(APPLICATIONS)
        and not cls.__name__.startswith("_")
        and (cls.__name__ not in contrail.__all__ or getattr(contrail, cls.__name__) is not cls)
    ]

    assert missing == []


def test_one_class_per_name() -> None:
    by_name: dict[str, list[str]] = {}
    for cls in _all_errors():
        by_name.setdefault(cls.__name__, []).append(cls.__module__)

    assert {name: where for name, where in by_name.items() if len(where) > 1} == {}


@pytest.mark.parametrize(
    ("name", "builtin"),
    [
        ("DefinitionError", TypeError),
        ("InputError", TypeError),
        ("OutputError", TypeError),
        ("TypeEngineError", TypeError),
        ("NotificationError", ValueError),
        ("ResourcesError", ValueError),
        ("ExecutionFailed", RuntimeError),
        ("ArgumentError", ValueError),
        ("WaitTimeout", TimeoutError),
    ],
)
def test_errors_that_were_builtin_errors_still_are(name: str, builtin: type[Exception]) -> None:
    assert issubclass(getattr(contrail, name), builtin)


def test_the_remote_errors_are_the_ones_of_contrail_remote() -> None:
    from contrail import remote

    for name in (
        "RemoteError",
        "NotFound",
        "Conflict",
        "InvalidRequest",
        "TooLarge",
        "Unauthenticated",
        "Forbidden",
    ):
        assert getattr(remote, name) is getattr(contrail, name)


def test_a_local_failure_has_no_run_and_says_why() -> None:
    failed = ExecutionFailed("n must be positive")

    assert (str(failed), failed.run, failed.phase, failed.error) == (
        "n must be positive",
        None,
        None,
        None,
    )

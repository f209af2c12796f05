"""Config: defaults, then the file, then CONTRAIL_* variables, then flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from contrail.config import (
    DEFAULT_DOMAIN,
    DEFAULT_ENDPOINT,
    DEFAULT_PROJECT,
    ConfigError,
    load_config,
)


def _file(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return {"CONTRAIL_CONFIG": str(path)}


def test_defaults_without_file_or_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    config = load_config(env={})
    assert (config.endpoint, config.project, config.domain) == (
        DEFAULT_ENDPOINT,
        DEFAULT_PROJECT,
        DEFAULT_DOMAIN,
    )
    assert config.path is None


def test_the_home_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".contrail").mkdir()
    (tmp_path / ".contrail" / "config.yaml").write_text("project: fromhome\n")
    config = load_config(env={})
    assert config.project == "fromhome"
    assert config.path == tmp_path / ".contrail" / "config.yaml"


def test_file_then_variables_then_flags(tmp_path: Path) -> None:
    env = _file(
        tmp_path,
        "admin:\n  endpoint: http://file:1/\nproject: fileproj\ndomain: staging\n",
    )
    config = load_config(env=env)
    assert (config.endpoint, config.project, config.domain) == (
        "http://file:1",
        "fileproj",
        "staging",
    )
    env |= {"CONTRAIL_ENDPOINT": "http://env:2", "CONTRAIL_PROJECT": "envproj"}
    config = load_config(env=env)
    assert (config.endpoint, config.project, config.domain) == (
        "http://env:2",
        "envproj",
        "staging",
    )
    config = load_config(env=env, project="flagproj", domain="production", endpoint="http://f:3")
    assert (config.endpoint, config.project, config.domain) == (
        "http://f:3",
        "flagproj",
        "production",
    )


def test_an_empty_file_is_no_settings(tmp_path: Path) -> None:
    assert load_config(env=_file(tmp_path, "")).project == DEFAULT_PROJECT


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("admin: [\n", "not valid YAML at line"),
        ("- a list\n", "expected a mapping"),
        ("projct: x\n", "unknown key projct"),
        ("admin: http://x\n", "admin must be a mapping"),
        ("admin:\n  endpont: http://x\n", "unknown key admin.endpont"),
        ("project: 3\n", "project must be a non-empty string"),
        ("admin:\n  endpoint: 127.0.0.1:18080\n", "must start with http://"),
    ],
)
def test_a_malformed_file_is_one_line_naming_it(tmp_path: Path, text: str, problem: str) -> None:
    env = _file(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(env=env)
    message = str(caught.value)
    assert message.startswith(env["CONTRAIL_CONFIG"] + ": ")
    assert problem in message
    assert "\n" not in message


def test_a_named_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_config(env={"CONTRAIL_CONFIG": str(tmp_path / "nope.yaml")})


@pytest.mark.parametrize(("key", "value"), [("project", "Bad_Project"), ("domain", "dev elopment")])
def test_invalid_project_or_domain_is_refused(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"{key} '{value}' is not valid"):
        load_config(env={}, **{key: value})

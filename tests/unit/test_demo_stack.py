"""The stack's pure decisions: states, messages, settings handed to processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from contrail.demo.components import State, evaluate_state, settings_env
from contrail.demo.errors import StackError
from contrail.demo.layout import split_host_port
from contrail.demo.postgres import (
    bootstrap_sql,
    is_our_postmaster,
    parse_postmaster_pid,
    quote_ident,
    quote_literal,
)
from contrail.demo.processes import error_line, last_line
from contrail.demo.stack import port_conflict_message
from shared.settings import StackSettings


@pytest.mark.parametrize(
    ("pid", "healthy", "state"),
    [(None, False, State.STOPPED), (12, False, State.RUNNING), (12, True, State.HEALTHY)],
)
def test_evaluate_state(pid: int | None, healthy: bool, state: State) -> None:
    assert evaluate_state(pid, healthy) is state


def test_port_conflict_message_names_the_owner() -> None:
    assert port_conflict_message("kafka", 19092, 811, "python3 -m http.server 19092") == (
        "port 19092 for kafka is already in use by another process "
        "(pid 811, 'python3 -m http.server 19092')"
    )
    assert port_conflict_message("minio", 19000, None, "") == (
        "port 19000 for minio is already in use by another process"
    )


def test_settings_env_hands_every_setting_with_absolute_folders() -> None:
    settings = StackSettings(kafka_bootstrap="127.0.0.1:29092", worker_concurrency=4)
    env = settings_env(settings, Path("/abs/home"), Path("/abs/cache"))
    assert env["CONTRAIL_KAFKA_BOOTSTRAP"] == "127.0.0.1:29092"
    assert env["CONTRAIL_PG_PORT"] == str(settings.pg_port)
    assert env["CONTRAIL_WORKER_CONCURRENCY"] == "4"
    assert env["CONTRAIL_HOME"] == "/abs/home"
    assert env["CONTRAIL_CACHE_DIR"] == "/abs/cache"
    assert "CONTRAIL_PG_DSN" not in env  # computed, not a setting


def test_settings_env_leaves_unset_settings_out() -> None:
    env = settings_env(StackSettings(), Path("/h"), Path("/c"))
    assert "None" not in env.values()


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:19092", ("127.0.0.1", 19092)),
        ("127.0.0.1:19092,127.0.0.1:29092", ("127.0.0.1", 19092)),
        ("http://127.0.0.1:19000", ("127.0.0.1", 19000)),
        ("http://localhost", ("localhost", 80)),
    ],
)
def test_split_host_port(address: str, expected: tuple[str, int]) -> None:
    assert split_host_port(address, default_port=80) == expected


def test_split_host_port_needs_a_port() -> None:
    with pytest.raises(StackError, match="no port"):
        split_host_port("127.0.0.1")


def test_parse_postmaster_pid() -> None:
    text = "4711\n/srv/.contrail/postgres\n1763833200\n55432\n/srv/.contrail/run/postgres\n"
    recorded = parse_postmaster_pid(text)
    assert recorded is not None
    assert (recorded.pid, recorded.data_dir, recorded.port) == (
        4711,
        Path("/srv/.contrail/postgres"),
        55432,
    )
    assert parse_postmaster_pid("") is None
    assert parse_postmaster_pid("not-a-pid\n/x\n") is None


def test_is_our_postmaster_checks_binary_and_data_folder() -> None:
    data = Path("/srv/.contrail/postgres")
    ours = ["/usr/lib/postgresql/15/bin/postgres", "-D", str(data)]
    assert is_our_postmaster(ours, data)
    assert not is_our_postmaster(["/usr/lib/postgresql/15/bin/postgres", "-D", "/other"], data)
    assert not is_our_postmaster(["sleep", "1000", str(data)], data)
    assert not is_our_postmaster([], data)


def test_sql_quoting() -> None:
    assert quote_ident('we"ird') == '"we""ird"'
    assert quote_literal("it's") == "'it''s'"


def test_bootstrap_sql_is_idempotent_and_quoted() -> None:
    sql = bootstrap_sql("contrail", "s3cr'et", "contrail")
    assert "WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'contrail')\\gexec" in sql
    assert "WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'contrail')\\gexec" in sql
    assert "ALTER ROLE \"contrail\" WITH LOGIN PASSWORD 's3cr''et';" in sql
    assert 'GRANT CONNECT, CREATE, TEMPORARY ON DATABASE "contrail" TO "contrail";' in sql
    # The CREATE statements ride inside a literal, so their quotes must be doubled.
    assert '\'CREATE DATABASE "contrail" OWNER "contrail"\'' in sql


def test_last_line_skips_blank_lines() -> None:
    assert last_line("one\ntwo\n\n  \n") == "two"
    assert last_line("") == ""


def test_error_line_skips_maven_boilerplate() -> None:
    output = "\n".join(
        [
            "\x1b[0m\x1b[0m[ERROR] Failed to execute goal on project contrail-local-kafka: "
            "Could not find artifact org.apache.kafka:kafka_2.13:jar:9.9.9 -> [Help 1]",
            "[ERROR] ",
            "[ERROR] To see the full stack trace of the errors, re-run Maven with the -e switch.",
            "[ERROR] Re-run Maven using the -X switch to enable full debug logging.",
            "[ERROR] For more information about the errors and possible solutions, read:",
            "[ERROR] [Help 1] http://cwiki.apache.org/confluence/display/MAVEN/Dependency",
        ]
    )
    line = error_line(output)
    assert line.startswith("[ERROR] Failed to execute goal")
    assert line.endswith("kafka_2.13:jar:9.9.9")


def test_error_line_falls_back_to_the_last_line_and_its_continuation() -> None:
    assert error_line("go: downloading x\nsomething odd\n") == "something odd"
    go_output = (
        "go: example.com/nope@latest: reading https://proxy.golang.org/...: 403 Forbidden\n"
        "\tserver response: This module version is not available.\n"
    )
    assert error_line(go_output) == (
        "go: example.com/nope@latest: reading https://proxy.golang.org/...: 403 Forbidden "
        "server response: This module version is not available."
    )

"""The one JSON and YAML reader (shared.documents): keys given twice, aliases, positions."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from shared.documents import (
    Document,
    DocumentError,
    parse_json,
    parse_yaml,
    parse_yaml_stream,
    unique_keys,
)


def test_json_parses_like_json_loads_and_records_each_duplicate_path() -> None:
    text = '{"a": {"x": 1, "x": 2}, "b": [{"y": 1}, {"y": 1, "y": 3, "y": 4}], "a": 5, "c": []}'

    document = parse_json(text)

    assert document.value == json.loads(text)
    assert document.duplicates == [("a", "x"), ("b", 1, "y"), ("b", 1, "y"), ("a",)]


def test_a_document_without_duplicates_has_no_paths() -> None:
    assert parse_json('{"a": [{"b": {"c": 1}}], "d": {}}').duplicates == []
    assert parse_yaml("a:\n  - b: {c: 1}\nd: {}\n").duplicates == []


def test_yaml_records_duplicate_paths_as_json_does() -> None:
    document = parse_yaml("spec:\n  name: a\n  nodes:\n    - inputs: {x: 1, x: 2}\n  name: b\n")

    assert document.value == {"spec": {"name": "b", "nodes": [{"inputs": {"x": 2}}]}}
    assert document.duplicates == [("spec", "nodes", 0, "inputs", "x"), ("spec", "name")]


@pytest.mark.parametrize(
    ("text", "parse"),
    [
        ('{"spec": {"name": "a", "name": "b"}}', parse_json),
        ("spec:\n  name: a\n  name: b\n", parse_yaml),
    ],
)
def test_unique_keys_refuses_a_key_given_twice_naming_its_path(
    text: str, parse: Callable[[str], Document]
) -> None:
    document = parse(text)

    with pytest.raises(DocumentError, match=r"^key 'name' is given twice \(spec\.name\)$"):
        unique_keys(document)
    assert unique_keys(parse_json('{"a": 1}')) == {"a": 1}


def test_yaml_aliases_are_refused_where_they_stand() -> None:
    text = "identifier: &id {project: p}\nspec: *id\n"

    with pytest.raises(DocumentError, match="aliases") as raised:
        parse_yaml(text)

    assert (raised.value.line, raised.value.column) == (2, 7)
    assert str(raised.value).startswith("not valid YAML at line 2, column 7: aliases")


def test_a_billion_laughs_never_expands() -> None:
    text = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"

    with pytest.raises(DocumentError, match="aliases"):
        parse_yaml_stream(text)


@pytest.mark.parametrize(
    ("parse", "text", "where"),
    [
        (parse_json, '{"kind": "task",\n "spec": }', "not valid JSON at line 2, column 10"),
        (parse_yaml, "kind: task\nspec: [\n", "not valid YAML at line 3, column 1"),
        (parse_yaml, "a: 1\n---\nb: 2\n", "not valid YAML at line 2, column 1"),
    ],
)
def test_a_malformed_document_is_named_by_line_and_column(
    parse: Callable[[str], Document], text: str, where: str
) -> None:
    with pytest.raises(DocumentError) as raised:
        parse(text)

    assert str(raised.value).startswith(where)
    assert raised.value.line == int(where.split("line ")[1].split(",")[0])


def test_a_mapping_key_that_is_not_a_value_is_refused_not_a_crash() -> None:
    with pytest.raises(DocumentError, match="unhashable key"):
        parse_yaml("? [a, b]\n: 1\n")


def test_a_stream_gives_each_document_its_own_duplicates_and_skips_empty_ones() -> None:
    documents = parse_yaml_stream("a: 1\na: 2\n---\n---\nb: {c: 1, c: 2}\n")

    assert [d.value for d in documents] == [{"a": 2}, {"b": {"c": 2}}]
    assert [d.duplicates for d in documents] == [[("a",)], [("b", "c")]]


def test_yaml_reads_plain_data_only() -> None:
    with pytest.raises(DocumentError):
        parse_yaml("!!python/object/apply:os.system ['true']\n")

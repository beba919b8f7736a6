"""The model's defaults are the JSON Schema's: declared once, in the schema, read from it."""

from __future__ import annotations

import copy
import json
from typing import Any, Callable

import pytest
import yaml

import portalspec
import portalspec.schema
from portalspec.model import CustomField, Definition, Endpoint, MappingField, definition_from_data
from portalspec.schema import default

from .conftest import MINIMAL, PROPERTY, REPO, codes, edit

SCHEMA = json.loads((REPO / "portalspec" / "data" / "integration.schema.json").read_text(encoding="utf-8"))


def _pairs(mapping: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(mapping.items())


# (where the schema declares the default, a definition that leaves the key out, how the model
#  shows the value, how a schema value looks in the model, a different value for the schema)
CASES: list[tuple[tuple[str, ...], str, Callable[[Definition], Any], Callable[[Any], Any], Any]] = [
    (("$defs", "batch_endpoint", "properties", "batch_size"), MINIMAL,
     lambda d: d.endpoint("add_users").batch_size, int, 123),
    (("$defs", "list_id", "properties", "from"), MINIMAL,
     lambda d: d.endpoint("create_list").list_id.source, str, "request_body"),
    (("$defs", "custom_field", "properties", "secret"), MINIMAL,
     lambda d: d.custom_fields[0].secret, bool, True),
    (("$defs", "mapping_field", "properties", "type"), MINIMAL,
     lambda d: d.mapping_fields[0].type, str, "single_select"),
    (("properties", "headers"), PROPERTY, lambda d: d.headers, _pairs, {"X-Default": "1"}),
    (("$defs", "create_list", "properties", "headers"), MINIMAL,
     lambda d: d.endpoint("create_list").headers, _pairs, {"X-Default": "1"}),
    (("$defs", "batch_endpoint", "properties", "headers"), MINIMAL,
     lambda d: d.endpoint("add_users").headers, _pairs, {"X-Default": "1"}),
    (("$defs", "errors"), MINIMAL,
     lambda d: tuple((e.status, e.message) for e in d.endpoint("add_users").errors),
     lambda v: tuple((e["status"], e["message"]) for e in v), [{"status": 400, "message": "bad"}]),
    (("properties", "custom_fields"), PROPERTY,
     lambda d: tuple(f.variable for f in d.custom_fields), lambda v: tuple(f["variable"] for f in v),
     [{"variable": "x", "display_name": "X", "type": "string"}]),
    (("$defs", "mapping_field", "properties", "type"), PROPERTY,
     lambda d: d.mapping_fields[0].type, str, "single_select"),
]
IDS = [".".join(c[0]) + ("-in-PROPERTY" if c[1] is PROPERTY else "") for c in CASES]


def _declared(path: tuple[str, ...]) -> Any:
    node: Any = SCHEMA
    for key in path:
        node = node[key]
    return node["default"]


@pytest.mark.parametrize("path, text, shown, as_model, _other", CASES, ids=IDS)
def test_a_key_left_out_takes_the_schemas_default(path, text, shown, as_model, _other):
    assert shown(portalspec.load(text)) == as_model(_declared(path))


@pytest.mark.parametrize("path, text, shown, as_model, other", CASES, ids=IDS)
def test_changing_only_the_schemas_default_changes_the_model(monkeypatch, path, text, shown, as_model, other):
    changed = copy.deepcopy(portalspec.schema.schema())
    node = changed
    for key in path:
        node = node[key]
    assert node["default"] != other
    node["default"] = other
    monkeypatch.setattr(portalspec.schema, "schema", lambda: changed)
    # The model alone (the checks might now object, e.g. to a select field without options).
    assert shown(definition_from_data(yaml.safe_load(text))) == as_model(other)


def test_the_dataclasses_defaults_are_the_schemas():
    assert Endpoint("add_users", "POST", "u", "p").batch_size == _declared(
        ("$defs", "batch_endpoint", "properties", "batch_size"))
    assert CustomField("v", "V", "string").secret is _declared(("$defs", "custom_field", "properties", "secret"))
    assert MappingField("v", "M", "V").type == _declared(("$defs", "mapping_field", "properties", "type"))


def test_the_checks_read_the_mapping_fields_type_default_from_the_schema(monkeypatch):
    assert portalspec.validate(MINIMAL) == []
    changed = copy.deepcopy(portalspec.schema.schema())
    changed["$defs"]["mapping_field"]["properties"]["type"]["default"] = "single_select"
    monkeypatch.setattr(portalspec.schema, "schema", lambda: changed)
    assert codes(portalspec.validate(MINIMAL)) == ["PS306"]  # a select field needs options


def test_the_checks_read_list_id_from_default_from_the_schema(monkeypatch):
    text = edit(MINIMAL, 'example_response: {"listId": 2568}', 'example_response: {"id": 2568}')
    assert codes(portalspec.validate(text)) == ["PS310"]  # read from the (default) response body
    changed = copy.deepcopy(portalspec.schema.schema())
    changed["$defs"]["list_id"]["properties"]["from"]["default"] = "request_body"
    monkeypatch.setattr(portalspec.schema, "schema", lambda: changed)
    assert codes(portalspec.validate(text)) == []  # the example response is not where the id is


def test_default_follows_a_ref_and_says_when_there_is_none():
    assert default("create_list", "errors") == _declared(("$defs", "errors"))
    assert default(None, "headers") == {}
    with pytest.raises(KeyError):
        default(None, "name")
    default(None, "headers")["X"] = "changed"  # a copy: the cached schema stays as it is
    assert default(None, "headers") == {}

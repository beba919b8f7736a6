"""The published JSON Schema, and the diagnostics its violations become."""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest
from jsonschema import Draft202012Validator

import portalspec
from portalspec.loader import parse_document
from portalspec.schema import schema, schema_diagnostics, schema_text

from .conftest import MINIMAL, REPO, at, edit, only, pos


def test_packaged_schema_is_byte_equal_to_the_repository_copy():
    packaged = (REPO / "portalspec" / "data" / "integration.schema.json").read_bytes()
    assert packaged == (REPO / "schemas" / "integration.schema.json").read_bytes()
    assert schema_text().encode("utf-8") == packaged


def test_schema_is_valid_draft_2020_12():
    doc = json.loads(schema_text())
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(doc)


def _subschemas(node: Any, where: str = "#") -> Iterator[tuple[str, dict]]:
    """Every (location, schema) reachable in the schema document."""
    if not isinstance(node, dict):
        return
    yield where, node
    for key in ("properties", "$defs"):
        for name, sub in node.get(key, {}).items():
            yield from _subschemas(sub, f"{where}/{key}/{name}")
    for key in ("items", "additionalProperties", "propertyNames", "if", "then", "else", "not"):
        if isinstance(node.get(key), dict):
            yield from _subschemas(node[key], f"{where}/{key}")
    for key in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(node.get(key, [])):
            yield from _subschemas(sub, f"{where}/{key}/{i}")


def test_every_property_and_definition_has_a_description():
    subs = dict(_subschemas(schema()))
    properties = [w for w in subs if w.split("/")[-2:-1] == ["properties"]]
    assert len(properties) > 40  # the walk reaches nested properties, not only the top level
    # A bare {"$ref": ...} (the items of a list) borrows the description of what it names.
    missing = [w for w, s in subs.items() if not str(s.get("description", "")).strip() and set(s) != {"$ref"}]
    assert missing == []


def test_the_walk_finds_a_known_nested_property():
    subs = dict(_subschemas(schema()))
    assert "#/$defs/batch_endpoint/properties/item_template" in subs
    assert "#/properties/auth/properties/header_name" in subs


def test_examples_in_the_schema_validate_against_their_own_schema():
    for where, sub in _subschemas(schema()):
        if "examples" in sub and "$ref" not in sub:
            validator = Draft202012Validator({**sub, "$defs": schema()["$defs"]})  # (refs inside it resolve)
            for example in sub["examples"]:
                assert not list(validator.iter_errors(example)), (where, example)


def test_an_endpoints_own_auth_names_the_methods_of_the_top_level_auth_but_oauth2():
    """OAuth2 has one token endpoint per definition (the top-level auth's token_url, grant and
    scopes): an endpoint's own auth is one of the other methods."""
    top = schema()["properties"]["auth"]["properties"]["method"]["enum"]
    assert schema()["$defs"]["endpoint_auth"]["properties"]["method"]["enum"] == [m for m in top if m != "oauth2"]


def test_a_valid_definition_has_no_schema_diagnostics():
    assert list(schema_diagnostics(parse_document(MINIMAL).data)) == []


# --- diagnostics of schema violations (through validate, so positions are filled) --------

def test_missing_required_key_is_ps101_at_the_parent():
    text = edit(MINIMAL, "display_name: Acme\n", "")
    d = only(portalspec.validate(text), "PS101")
    assert "'display_name'" in d.message and d.path == () and pos(d) == (1, 1)


def test_header_auth_requires_header_name():
    text = edit(MINIMAL, "method: bearer", "method: header")
    d = only(portalspec.validate(text), "PS101")
    assert "'header_name'" in d.message and pos(d) == at(text, "method: header") and d.json_path == "$.auth"


def test_unknown_key_is_ps102_at_the_key_with_did_you_mean():
    text = edit(MINIMAL, "display_name: Acme\n", "display_name: Acme\nsumary: Sync\n")
    d = only(portalspec.validate(text), "PS102")
    assert d.message == "unknown key 'sumary'"
    assert d.hint == "did you mean 'summary'?"
    assert pos(d) == at(text, "sumary") and d.json_path == "$.sumary"


def test_unknown_key_without_a_close_name_lists_the_allowed_keys():
    text = edit(MINIMAL, "  method: bearer\n", "  method: bearer\n  zzz: 1\n")
    d = only(portalspec.validate(text), "PS102")
    assert d.hint == "allowed here: method, header_name"
    assert pos(d) == at(text, "zzz")


def test_unknown_key_deep_inside_an_endpoint():
    text = edit(MINIMAL, "    item_template: '\"$user_id\"'\n  remove_users",
                "    item_templte: '\"$user_id\"'\n  remove_users")
    diags = portalspec.validate(text)
    d = only(diags, "PS102")
    assert d.hint == "did you mean 'item_template'?" and pos(d) == at(text, "item_templte")
    assert d.json_path == "$.endpoints.add_users.item_templte"


@pytest.mark.parametrize("old, new, expected, hinted, value", [
    ("display_name: Acme", "display_name: yes", "expected a string, got the boolean true", True, "yes"),
    ("display_name: Acme", "display_name: 12", "expected a string, got the number 12", True, "12"),
    ("display_name: Acme", "display_name: null", "expected a string, got null", True, "null"),
    ("auth:\n  method: bearer", "auth: [bearer]", "expected a mapping, got a list", False, "[bearer]"),
    ("    default: us", "    default: [us]", "expected a string, got a list", False, "[us]"),
    ("  - variable: region", "  - variable: 5", "expected a string, got the number 5", True, "5"),
])
def test_wrong_type_is_ps103_at_the_value(old, new, expected, hinted, value):
    text = edit(MINIMAL, old, new)
    d = only(portalspec.validate(text), "PS103")
    assert d.message == expected
    assert (d.hint is not None and "quote the value" in d.hint) is hinted
    assert pos(d) == at(text, new, plus=new.index(value))


def test_a_null_mapping_gets_no_quoting_hint():
    d = only(portalspec.validate(edit(MINIMAL, "auth:\n  method: bearer", "auth:")), "PS103")
    assert d.message == "expected a mapping, got null" and d.hint is None


def test_wrong_type_points_at_the_value():
    text = edit(MINIMAL, "display_name: Acme", "display_name: 12")
    assert pos(only(portalspec.validate(text), "PS103")) == at(text, "12")


def test_enum_is_ps104_with_did_you_mean():
    text = edit(MINIMAL, "method: bearer", "method: beare")
    d = only(portalspec.validate(text), "PS104")
    assert d.hint == "did you mean 'bearer'?" and pos(d) == at(text, "beare")
    assert '"none", "basic", "header", "bearer"' in d.message


def test_pattern_is_ps105():
    text = edit(MINIMAL, "name: acme", "name: Acme Lists")
    d = only(portalspec.validate(text), "PS105")
    assert pos(d) == at(text, "Acme Lists") and "^[a-z0-9]" in d.message


def test_variable_name_pattern_is_ps105():
    text = edit(MINIMAL, "  - variable: user_id", "  - variable: user-id")
    d = only(portalspec.validate(text), "PS105")
    assert pos(d) == at(text, "user-id") and d.json_path == "$.mapping_fields[0].variable"


@pytest.mark.parametrize("size", ["0", "100001"])
def test_out_of_range_is_ps106(size):
    text = edit(MINIMAL, "    item_template: '\"$user_id\"'\n  remove",
                f"    item_template: '\"$user_id\"'\n    batch_size: {size}\n  remove")
    d = only(portalspec.validate(text), "PS106")
    assert pos(d) == at(text, f"batch_size: {size}", plus=len("batch_size: ")) and "1..100000" in d.message


def test_error_status_out_of_range_is_ps106():
    text = edit(MINIMAL, '    example_response: {"listId": 2568}\n',
                '    example_response: {"listId": 2568}\n    errors:\n      - {status: 700, message: x}\n')
    assert pos(only(portalspec.validate(text), "PS106")) == at(text, "700")


def test_empty_string_and_empty_options_are_ps107():
    text = edit(MINIMAL, "display_name: Acme", "display_name: ''")
    assert pos(only(portalspec.validate(text), "PS107")) == at(text, "''")
    text = edit(MINIMAL, "    options:\n      - {label: United States, value: us}\n      - {label: Europe, value: eu}\n",
                "    options: []\n")
    d = only(portalspec.validate(text), "PS107")
    assert d.json_path == "$.custom_fields[0].options" and pos(d) == at(text, "[]")


@pytest.mark.parametrize("version", ["2", "0", "'1'", "1.0.0"])
def test_unknown_format_version_is_ps100(version):
    text = edit(MINIMAL, "portalspec: 1", f"portalspec: {version}")
    d = only(portalspec.validate(text), "PS100")
    assert pos(d) == (1, 13) and "portalspec: 1" in d.message


def test_invalid_header_name_is_ps305_at_the_name():
    text = edit(MINIMAL, "  X-Region: $region", "  Bad Header: $region")
    d = only(portalspec.validate(text), "PS305")
    assert pos(d) == at(text, "Bad Header") and d.json_path == "$.headers['Bad Header']"


def test_invalid_auth_header_name_is_ps305():
    text = edit(MINIMAL, "method: bearer", "method: header\n  header_name: X Key")
    d = only(portalspec.validate(text), "PS305")
    assert pos(d) == at(text, "X Key")


def test_non_string_header_value_is_ps103():
    text = edit(MINIMAL, "  X-Region: $region", "  X-Region: $region\n  X-Count: 3")
    d = only(portalspec.validate(text), "PS103")
    assert pos(d) == at(text, "3\n") and d.json_path == "$.headers.X-Count"

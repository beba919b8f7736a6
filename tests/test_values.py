"""The pure values: a parsed values file checked (values_from_data), values against a definition (resolve_fields)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import portalspec.values as values_module
from portalspec import InputError, User, Values
from portalspec.values import resolve_fields, values_from_data

from .render_helpers import KITCHEN, TRAITS, compile_text, kitchen_values, traits_values

KITCHEN_DEF = compile_text(KITCHEN).definition
TRAITS_DEF = compile_text(TRAITS).definition


# --- a parsed values file ------------------------------------------------------------------

@pytest.mark.parametrize("data, message", [
    ([], "a values file is a mapping"),
    ({"mappings": {"user_id": ""}}, "mapping 'user_id' must name an Amplitude user property"),
    ({"mappings": ["user_id"]}, "'mappings' must be a mapping"),
    ({"cohort": {"id": 1, "name": "n", "colour": "red"}}, "unknown cohort key 'colour'"),
    ({"list_id": [1]}, "'list_id' must be a string or a number"),
])
def test_values_from_data_refuses_malformed_values(data, message):
    with pytest.raises(InputError, match=message):
        values_from_data(data)


# --- fields against the definition --------------------------------------------------------

def test_defaults_apply_and_given_values_win():
    env = resolve_fields(KITCHEN_DEF, kitchen_values(segment="seg", plan="pro"))
    assert env == {"bearer_token": "tok", "label": "L", "amount": "1", "segment": "seg", "query": "q",
                   "tag": "t", "sub": "api", "plan": "pro"}


def test_a_missing_required_field_is_named_by_its_display_name():
    with pytest.raises(InputError) as info:
        resolve_fields(KITCHEN_DEF, Values({"bearer_token": "t"}, {"user_id": "user_id"}))
    assert str(info.value) == "values do not fit the definition:\n  missing required field 'Label' (label)"


def test_a_missing_auth_variable_is_named_by_its_display_name():
    with pytest.raises(InputError, match=r"missing required field 'Bearer Token' \(bearer_token\) for bearer auth"):
        resolve_fields(KITCHEN_DEF, Values({"label": "x"}, {"user_id": "user_id"}))
    with pytest.raises(InputError, match=r"missing required field 'API Key' \(api_key\) for basic auth"):
        resolve_fields(TRAITS_DEF, Values({}, {"user_id": "user_id", "score": "score"}))


def test_basic_auth_secret_is_optional_and_empty_when_left_out():
    assert resolve_fields(TRAITS_DEF, traits_values()) == {"api_key": "key", "secret_key": ""}


def test_a_value_outside_a_selects_options_is_refused():
    with pytest.raises(InputError, match=r"field 'Plan' \(plan\) is 'gold', not one of its options: free, pro"):
        resolve_fields(KITCHEN_DEF, kitchen_values(plan="gold"))
    with pytest.raises(InputError, match="not one of its options"):
        resolve_fields(KITCHEN_DEF, kitchen_values(plan="Pro"))  # the label is not the value


def test_an_unknown_field_is_refused_with_did_you_mean():
    with pytest.raises(InputError, match=r"unknown field 'lable' in the values file \(did you mean 'label'\?\)"):
        resolve_fields(KITCHEN_DEF, kitchen_values(lable="x"))
    with pytest.raises(InputError) as info:
        resolve_fields(KITCHEN_DEF, kitchen_values(zzz="x"))
    assert "unknown field 'zzz' in the values file\n" in str(info.value) + "\n"


def test_a_missing_mapping_is_refused():
    with pytest.raises(InputError, match=r"missing mapping for 'Score Mapping' \(score\)"):
        resolve_fields(TRAITS_DEF, Values({"api_key": "k"}, {"user_id": "user_id"}))


def test_every_problem_is_reported_at_once():
    with pytest.raises(InputError) as info:
        resolve_fields(KITCHEN_DEF, Values({"plan": "gold", "lable": "x"}, {}))
    lines = str(info.value).splitlines()
    assert len(lines) == 1 + 5  # unknown, bearer token, label, plan, mapping


# --- users ----------------------------------------------------------------------------------

def test_a_users_key_follows_ref_and_is_not_part_of_equality():
    user = User("add", {"user_id": "a@x.example"}, "line 2", "u1")  # positional order: operation, values, ref, key
    assert (user.ref, user.key) == ("line 2", "u1")
    assert User("add", {"user_id": 1}).key == ""
    assert user == User("add", {"user_id": "a@x.example"}, "line 2", "another source's key")
    assert user != User("remove", {"user_id": "a@x.example"}, "line 2", "u1")


def test_the_values_module_reads_no_files():
    tree = ast.parse(Path(values_module.__file__).read_text(encoding="utf-8"))
    runtime_imports = {node.module if isinstance(node, ast.ImportFrom) else alias.name
                       for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
                       for alias in node.names}
    assert runtime_imports <= {"__future__", "dataclasses", "typing", "diagnostics", "kinds", "model", "template", "variables"}
    calls = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert "open" not in calls

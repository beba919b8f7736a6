"""The public API of definitions: validate, load, variable_table, and what the package exports."""

from __future__ import annotations

import dataclasses

import pytest

import portalspec
from portalspec import Definition, DefinitionError, Diagnostic, PortalspecError, Severity
from portalspec.loader import parse_document
from portalspec.validate import load_file, load_string, validate_file, validate_string

from .conftest import MINIMAL, PROPERTY, at, codes, edit


def test_all_is_pinned():
    assert sorted(portalspec.__all__) == [
        "Cohort",
        "Definition",
        "DefinitionError",
        "Diagnostic",
        "InputError",
        "Integration",
        "MacroContext",
        "Members",
        "PortalspecError",
        "Request",
        "Severity",
        "User",
        "Values",
        "__version__",
        "compile",
        "load",
        "load_values",
        "read_users",
        "slugify",
        "validate",
        "variable_table",
    ]
    for name in portalspec.__all__:
        assert hasattr(portalspec, name), name


def test_validate_text_returns_an_empty_list_when_clean():
    assert portalspec.validate(MINIMAL) == []


def test_validate_accepts_a_path_a_str_path_and_a_document(write):
    path = write(edit(MINIMAL, "  X-Region: $region", "  X-Region: $regoin"))
    for source in (path, str(path), parse_document(path.read_text(), str(path))):
        diags = portalspec.validate(source)
        assert codes(diags) == ["PS201", "PS202"]
        assert diags[0].file == str(path)


def test_text_diagnostics_are_located_in_string():
    d = portalspec.validate(edit(MINIMAL, "  X-Region: $region", "  X-Region: $regoin"))[0]
    assert d.file == "<string>"
    assert d.format().startswith(f"<string>:8:13: error[PS201]: unknown variable $regoin")


def test_a_single_line_string_is_a_path():
    assert codes(portalspec.validate("no-such-definition.yaml")) == ["PS001"]


def test_validate_string_treats_one_line_as_yaml():
    # validate() takes "portalspec: 1" for a path (PS001); validate_string never does.
    diags = validate_string("portalspec: 1")
    assert "PS001" not in codes(diags)
    assert "PS101" in codes(diags)  # the required keys are missing
    assert all(d.file == "<string>" for d in diags)


def test_validate_string_names_the_text():
    text = edit(MINIMAL, "  X-Region: $region", "  X-Region: $regoin")
    d = validate_string(text, name="acme.yaml")[0]
    assert d.format().startswith("acme.yaml:8:13: error[PS201]: ")
    assert "PS001" not in codes(validate_string("no-such-definition.yaml"))


def test_validate_file_reads_a_path_even_with_a_newline_in_its_name(write, tmp_path):
    path = write(MINIMAL)
    assert validate_file(path) == [] and validate_file(str(path)) == []
    assert codes(validate_file(str(tmp_path / "odd\nname.yaml"))) == ["PS001"]
    assert codes(validate_file(tmp_path / "absent.yaml")) == ["PS001"]


def test_load_string_and_load_file(write):
    path = write(MINIMAL)
    from_file, from_text = load_file(path), load_string(MINIMAL, name="acme.yaml")
    assert from_file.file == str(path) and from_text.file == "acme.yaml"
    assert from_file.name == from_text.name == "acme"
    assert load_string(MINIMAL).file == "<string>"


def test_load_string_of_one_line_raises_for_its_content_not_a_missing_file():
    with pytest.raises(DefinitionError) as info:
        load_string("portalspec: 1")
    assert "PS001" not in codes(info.value.diagnostics)
    assert "PS101" in codes(info.value.diagnostics)


def test_load_file_of_a_missing_file_raises_definition_error(tmp_path):
    with pytest.raises(DefinitionError) as info:
        load_file(tmp_path / "absent.yaml")
    assert codes(info.value.diagnostics) == ["PS001"]


def test_every_diagnostic_carries_file_line_column_and_path(write):
    text = edit(MINIMAL, "display_name: Acme\n", "display_name: Acme\nsumary: x\n")
    text = edit(text, "lists/$list_id/add", "lists/add/$nope")
    path = write(text)
    diags = portalspec.validate(path)
    assert diags
    for d in diags:
        assert isinstance(d, Diagnostic)
        assert d.file == str(path) and d.line and d.column and d.path and d.source_line is not None
        assert d.source_line == text.splitlines()[d.line - 1]
        assert d.json_path.startswith("$.")


def test_errors_come_before_warnings_then_file_order():
    text = edit(MINIMAL, "  X-Region: $region", "  X-Region: us")  # PS202 warning, early in the file
    text = edit(text, "lists/$list_id/remove", "lists/$list_id/$zzz")  # PS201, late
    text = edit(text, "display_name: Acme", "display_name: 3")  # PS103, early
    diags = portalspec.validate(text)
    assert [(d.code, d.severity) for d in diags] == [
        ("PS103", Severity.ERROR), ("PS201", Severity.ERROR), ("PS202", Severity.WARNING)]


def test_load_returns_a_frozen_definition():
    definition = portalspec.load(MINIMAL)
    assert isinstance(definition, Definition)
    assert (definition.name, definition.display_name, definition.type) == ("acme", "Acme", "list")
    assert [e.name for e in definition.endpoints] == ["create_list", "add_users", "remove_users"]
    assert definition.auth.method == "bearer"
    assert definition.custom_fields[0].default == "us"
    assert definition.endpoint("create_list").list_id.path == "listId"
    with pytest.raises(dataclasses.FrozenInstanceError):
        definition.name = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        definition.endpoints[0].url = "https://evil.example"  # type: ignore[misc]
    hash(definition)


def test_load_a_property_definition_with_defaults_filled():
    definition = portalspec.load(PROPERTY)
    update = definition.endpoint("update_users")
    assert definition.type == "property" and update.batch_size == 10_000 and update.is_batch
    assert definition.endpoint("create_list") is None


def test_load_keeps_the_file_and_its_source_map(write):
    path = write(MINIMAL)
    definition = portalspec.load(path)
    assert definition.file == str(path)
    assert definition.source.position(("endpoints", "add_users", "url")) == at(
        MINIMAL, "https://api.acme.example/lists/$list_id/add")


def test_load_accepts_warnings():
    definition = portalspec.load(edit(MINIMAL, "  X-Region: $region", "  X-Region: us"))
    assert definition.headers == (("X-Region", "us"),)


def test_load_raises_definition_error_with_all_diagnostics():
    text = edit(MINIMAL, "  X-Region: $region", "  X-Region: $regoin")
    text = edit(text, "type: list", "type: lst")
    with pytest.raises(DefinitionError) as info:
        portalspec.load(text)
    exc = info.value
    assert isinstance(exc, PortalspecError)
    assert codes(exc.diagnostics) == ["PS104", "PS201", "PS202"]
    assert str(exc).startswith("<string>:4:7: error[PS104]: ")
    assert str(exc).endswith("(and 1 more error)")


def test_load_of_a_missing_file_raises_definition_error(tmp_path):
    with pytest.raises(DefinitionError) as info:
        portalspec.load(tmp_path / "absent.yaml")
    assert codes(info.value.diagnostics) == ["PS001"]


def test_variable_table_of_a_valid_definition():
    rows = {r.name: r for r in portalspec.variable_table(MINIMAL)}
    assert set(rows) == {"bearer_token", "region", "user_id", "amp_cohort_name", "list_id", "items"}
    assert (rows["region"].declared, rows["region"].used, rows["region"].predefined) == (True, True, False)
    assert len(rows["region"].used_in) == 1 and "X-Region" in rows["region"].used_in[0]
    assert (rows["list_id"].declared, rows["list_id"].predefined) == (False, True)
    assert rows["list_id"].used_in == ("add_users.url", "remove_users.url")
    assert rows["user_id"].origin == "mapping field"
    assert rows["bearer_token"].origin == "auth" and rows["bearer_token"].used


def test_variable_table_of_an_invalid_definition_shows_the_typo():
    text = edit(MINIMAL, "  X-Region: $region", "  X-Region: $regoin")
    rows = {r.name: r for r in portalspec.variable_table(text)}
    assert (rows["regoin"].declared, rows["regoin"].used, rows["regoin"].origin) == (False, True, "undeclared")
    assert (rows["region"].declared, rows["region"].used) == (True, False)


def test_variable_table_of_unusable_yaml_is_empty():
    assert portalspec.variable_table("a: [\n") == []


def test_validate_never_raises_on_odd_values():
    odd = [MINIMAL.replace("endpoints:", "endpoints: 3\nx:"), "portalspec: 1\nendpoints: {add_users: [1, 2]}\n",
           "custom_fields: {a: 1}\nmapping_fields: [[], 3, {variable: [1]}]\nheaders: [a]\n",
           "endpoints: {create_list: {list_id: {path: 5}, example_response: [1]}}\n", "logo: [a]\nauth: {method: [1]}\n"]
    for text in odd:
        assert all(isinstance(d, Diagnostic) for d in portalspec.validate(text))

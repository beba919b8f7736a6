"""The documentation agrees with the code: diagnostic codes, schema properties, output shapes."""

from __future__ import annotations

import json
import re

import yaml
from click.testing import CliRunner
from jsonschema import Draft202012Validator

import portalspec
from portalspec.cli import main
from portalspec.diagnostics import Diagnostic
from portalspec.schema import schema
from portalspec.variables import PREDEFINED

from .conftest import MINIMAL, REPO, edit

CODE = re.compile(r"\bPS\d{3}\b")
DIAGNOSTICS_MD = (REPO / "docs" / "diagnostics.md").read_text(encoding="utf-8")
FORMAT_MD = (REPO / "docs" / "format.md").read_text(encoding="utf-8")


def _codes_in_source() -> set[str]:
    found: set[str] = set()
    for path in (REPO / "portalspec").rglob("*.py"):
        found |= set(CODE.findall(path.read_text(encoding="utf-8")))
    return found


def _documented_rows() -> dict[str, list[str]]:
    """Code → cells of its row in the tables of diagnostics.md."""
    rows = {}
    for line in DIAGNOSTICS_MD.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if line.startswith("| PS") and CODE.fullmatch(cells[0]):
            assert cells[0] not in rows, f"{cells[0]} is documented twice"
            rows[cells[0]] = cells
    return rows


def test_every_code_in_the_source_is_documented():
    source = _codes_in_source()
    assert len(source) > 40
    assert sorted(source - set(_documented_rows())) == []


def test_every_documented_code_exists_in_the_source():
    assert sorted(set(CODE.findall(DIAGNOSTICS_MD)) - _codes_in_source()) == []


def test_every_code_row_has_severity_meaning_example_and_fix():
    for code, cells in _documented_rows().items():
        assert len(cells) == 5, code  # code, severity, meaning, example message, how to fix
        assert cells[1] in ("error", "warning", "error / warning", "note / error"), code
        assert all(cells[2:]), code


def test_documented_warnings_match_the_code():
    rows = _documented_rows()
    assert {c for c, cells in rows.items() if "warning" in cells[1]} == {"PS202", "PS209", "PS306", "PS314", "PS319",
                                                                           "PS602", "PS603", "PS604", "PS605", "PS606", "PS613", "PS616",
                                                                           "PS631", "PS632"}


def test_every_schema_property_is_in_format_md():
    names: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            names.update(node.get("properties", {}))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema())
    assert {"portalspec", "item_template", "header_name", "sub_error_code", "from"} <= names
    missing = sorted(n for n in names if f"`{n}`" not in FORMAT_MD)
    assert missing == []


def _resolve(ref: str) -> dict:
    """The schema node a local ``$ref`` (a JSON pointer: ``#/$defs/url``, ``#/properties/auth/…``) names."""
    node = schema()
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_format_md_shows_each_default_the_schema_declares():
    """format.md's Default column says what the schema says (the schema is where defaults live)."""
    declared: list[tuple[str, object]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, prop in node.get("properties", {}).items():
                if isinstance(prop, dict):
                    target = prop if "default" in prop or "$ref" not in prop else _resolve(prop["$ref"])
                    if "default" in target:
                        declared.append((key, target["default"]))
            for value in node.values():
                walk(value)

    walk(schema())
    assert ("batch_size", 10000) in declared and ("secret", False) in declared
    for key, value in declared:
        shown = value if isinstance(value, str) else json.dumps(value)
        # (keys of one name in several tables: only an optional one has a default)
        rows = [line for line in FORMAT_MD.splitlines()
                if line.startswith(f"| `{key}` |") and line.split("|")[3].strip() == "no"]
        assert rows, key
        assert all(f"| `{shown}` |" in row for row in rows), (key, shown, rows)


def test_every_predefined_variable_is_in_format_md():
    missing = sorted(name for name in PREDEFINED if f"`${name}`" not in FORMAT_MD)
    assert missing == []


def test_format_md_no_longer_says_semantic_checks_wait_for_the_schema():
    assert "on a file that passed the schema" not in FORMAT_MD
    assert "checked after the schema" not in FORMAT_MD.lower()


def test_json_output_example_has_the_shape_of_real_output(tmp_path):
    block = DIAGNOSTICS_MD.split("## JSON output", 1)[1].split("```json\n", 1)[1].split("```", 1)[0]
    documented = json.loads(block)
    path = tmp_path / "integration.yaml"
    path.write_text(edit(MINIMAL, "  X-Region: $region", "  X-Region: $regoin"), encoding="utf-8")
    real = json.loads(CliRunner().invoke(main, ["validate", "--format", "json", str(path)]).output)
    assert list(documented) == list(real)
    assert list(documented["files"][0]) == list(real["files"][0])
    assert list(documented["files"][0]["diagnostics"][0]) == list(real["files"][0]["diagnostics"][0])
    assert list(documented["files"][0]["diagnostics"][0]) == list(Diagnostic("PS000", "m").to_dict())


def test_text_output_example_matches_the_formatter():
    block = DIAGNOSTICS_MD.split("## Text output", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    first = block.splitlines()[:4]
    d = Diagnostic("PS201", "unknown variable $regoin: declare it as a custom field, or use a pre-defined one",
                   path=("headers", "X-Region"), file="integrations/acme/integration.yaml", line=8, column=13,
                   hint="did you mean 'region'?", source_line="  X-Region: $regoin")
    assert first == d.format().splitlines()


def test_readme_links_to_docs_that_exist():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\((docs/[^)]+\.md)\)", readme):
        assert (REPO / target).is_file(), target
    assert "docs/diagnostics.md" in readme


def _yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", FORMAT_MD, re.S)


def test_the_complete_example_in_format_md_is_clean(tmp_path):
    block = FORMAT_MD.split("## A complete example", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "integration.yaml"
    path.write_text(block, encoding="utf-8")
    (tmp_path / "acme.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(16))
    assert portalspec.validate(path) == []


def test_the_fragments_in_format_md_fit_the_schema():
    full = schema()
    targets = {"auth": full["properties"]["auth"], "headers": full["$defs"]["header_map"],
               "custom_fields": full["properties"]["custom_fields"],
               "mapping_fields": full["properties"]["mapping_fields"],
               "create_list": full["$defs"]["create_list"], "find_list": full["$defs"]["find_list"],
               "add_users": full["$defs"]["batch_endpoint"],
               "update_users": full["$defs"]["batch_endpoint"], "errors": full["$defs"]["errors"],
               "list_id": full["$defs"]["list_id"], "example_response": {},
               "endpoints": full["properties"]["endpoints"]}
    checked = 0
    for block in _yaml_blocks():
        data = yaml.safe_load(block)
        if "portalspec" in data:
            continue  # the complete example, checked above
        for key, value in data.items():
            validator = Draft202012Validator({**targets[key], "$defs": full["$defs"]})
            assert [e.message for e in validator.iter_errors(value)] == [], (key, value)
            checked += 1
    assert checked >= 9

"""portalspec.sarif and ``validate --format sarif``: SARIF 2.1.0, valid against the OASIS schema.

The schema is a copy in tests/data (see its LICENSE file there); nothing is fetched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from jsonschema import Draft4Validator

from portalspec.cli import main
from portalspec.diagnostics import Diagnostic, Severity
from portalspec.sarif import artifact_uri, sarif_log
from portalspec.validate import validate

from .conftest import EXAMPLES, MINIMAL, at, edit

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
VALIDATOR = Draft4Validator(SCHEMA, format_checker=Draft4Validator.FORMAT_CHECKER)


def assert_valid_sarif(log: dict) -> None:
    errors = sorted(VALIDATOR.iter_errors(log), key=lambda e: list(e.path))
    assert [f"{list(e.path)}: {e.message}" for e in errors] == []


def test_the_schema_copy_is_the_oasis_sarif_2_1_0_schema_and_catches_mistakes():
    assert SCHEMA["id"].endswith("/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json")
    wrong = sarif_log([("a.yaml", [Diagnostic("PS101", "x", line=1, column=1)])], version="1")
    wrong["runs"][0]["results"][0]["level"] = "fatal"
    assert list(VALIDATOR.iter_errors(wrong))


def test_an_invalid_definition_gives_one_located_result_per_diagnostic(write):
    text = edit(MINIMAL, "method: bearer", "method: token")
    text = edit(text, "$amp_cohort_name", "$amp_cohort_nam")
    path = write(text, "my defs/acme.yaml")
    diagnostics = validate(path)
    result = CliRunner().invoke(main, ["validate", "--format", "sarif", str(path)])
    assert result.exit_code == 1
    log = json.loads(result.output)
    assert_valid_sarif(log)
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    assert run["tool"]["driver"]["name"] == "portalspec"
    assert [r["ruleId"] for r in run["results"]] == [d.code for d in diagnostics]
    rules = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert all(rules[r["ruleIndex"]] == r["ruleId"] for r in run["results"])
    first = run["results"][0]
    location = first["locations"][0]
    assert location["physicalLocation"]["artifactLocation"]["uri"] == artifact_uri(str(path))
    region = location["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == at(text, "token")
    assert region["snippet"]["text"] == "  method: token"
    assert location["logicalLocations"][0]["fullyQualifiedName"] == "$.auth.method"
    assert first["level"] == "error"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_example_gives_valid_sarif(example: Path):
    result = CliRunner().invoke(main, ["validate", "--format", "sarif", str(example)])
    assert result.exit_code == 0, result.output
    log = json.loads(result.output)
    assert_valid_sarif(log)
    assert all(r["level"] != "error" for r in log["runs"][0]["results"])


def test_warnings_notes_unlocated_problems_and_odd_paths_stay_valid():
    diagnostics = [
        Diagnostic("PS202", "declared but unused", Severity.WARNING, ("custom_fields", 0, "variable"),
                   "dir with space/é.yaml", 3, 5, "use it", "  - variable: x"),
        Diagnostic("PS501", "beyond the portal", Severity.NOTE, ("headers",), "a.yaml", 2, 1),
        Diagnostic("PS001", "no such file", file="missing.yaml"),
    ]
    log = sarif_log([("dir with space/é.yaml", diagnostics[:1]), ("a.yaml", diagnostics[1:2]),
                     ("missing.yaml", diagnostics[2:])], version="0.1.0", help_uri=lambda c: f"https://x.test/{c}")
    assert_valid_sarif(log)
    results = log["runs"][0]["results"]
    assert [r["level"] for r in results] == ["warning", "note", "error"]
    assert results[0]["message"]["text"] == "declared but unused (use it)"
    assert results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "dir%20with%20space/%C3%A9.yaml"
    assert "region" not in results[2]["locations"][0]["physicalLocation"]
    assert log["runs"][0]["tool"]["driver"]["rules"][0]["helpUri"] == "https://x.test/PS202"


def test_no_diagnostics_is_an_empty_result_list():
    log = sarif_log([("a.yaml", [])], version="0.1.0")
    assert_valid_sarif(log)
    assert log["runs"][0]["results"] == []


def test_absolute_paths_become_file_uris():
    assert artifact_uri("/tmp/a b.yaml") == "file:///tmp/a%20b.yaml"
    assert artifact_uri("./x/../y.yaml") == "y.yaml"

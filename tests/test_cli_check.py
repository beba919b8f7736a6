"""``portalspec check``: text, JSON and SARIF output, exit codes as validate's, lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from portalspec.cli import main

from .conftest import EXAMPLES_DIR, MINIMAL, at, edit
from .test_contract_check import ACME, ACME_SPEC, SENDGRID_SPEC
from .test_sarif import assert_valid_sarif

SENDGRID = EXAMPLES_DIR / "sendgrid-lists"


def run(*args: str):
    return CliRunner().invoke(main, ["check", *args])


def test_a_matching_definition_exits_0_and_says_which_operation_each_endpoint_matched(write):
    result = run(str(write(ACME)), "--openapi", str(ACME_SPEC))
    assert result.exit_code == 0, result.output
    assert f"  add_users -> POST /lists/{{listId}}/members (addMembers) in {ACME_SPEC}" in result.output
    assert result.output.rstrip().endswith("matches Acme Lists API (0 errors, 0 warnings; 27 requests in 9 samples)")


def test_a_mismatch_exits_1_with_the_diagnostic_at_its_line(write):
    text = edit(ACME, '"source": "amplitude"', '"source": "amplitde"')
    path = write(text)
    result = run(str(path), "--openapi", str(ACME_SPEC))
    assert result.exit_code == 1
    line, column = at(text, '"source"')
    assert f"{path}:{line}:{column}: error[PS614]: create_list: the body does not fit POST /lists" in result.output
    assert "does not match Acme Lists API (1 error, 0 warnings" in result.output


def test_sendgrid_lists_with_its_values_and_users_checks_clean_apart_from_the_descriptions_warning():
    result = run(str(SENDGRID / "integration.yaml"), "--openapi", str(SENDGRID_SPEC),
                 "--values", str(SENDGRID / "values.yaml"), "--users", str(SENDGRID / "users.csv"))
    assert result.exit_code == 0, result.output
    assert "warning[PS602]" in result.output and "error[" not in result.output


def test_several_descriptions_follow_one_openapi_option_or_repeat_it(write, tmp_path):
    path = str(write(ACME))
    for args in (["--openapi", str(SENDGRID_SPEC), str(ACME_SPEC)],
                 ["--openapi", str(SENDGRID_SPEC), "--openapi", str(ACME_SPEC)]):
        result = run(path, *args, "--format", "json")
        assert result.exit_code == 0, result.output
        report = json.loads(result.output)
        assert [d["title"] for d in report["descriptions"]] == ["Twilio SendGrid v3 API", "Acme Lists API"]
        assert {e["description"] for e in report["endpoints"]} == {str(ACME_SPEC)}


def test_json_output_carries_the_body_path_and_the_rule(write):
    text = edit(ACME, '"subscribed": true', '"subscribed": "yes"')
    result = run(str(write(text)), "--openapi", str(ACME_SPEC), "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["valid"] is False and report["samples"] == 9
    [d] = report["diagnostics"]
    assert (d["code"], d["line"], d["body_path"]) == ("PS614", at(text, '"subscribed"')[0], "$.members[0].subscribed")
    assert d["rule"].startswith('type: "boolean" at ') and d["operation"] == "POST /lists/{listId}/members (addMembers)"
    assert d["description"] == str(ACME_SPEC) and d["sample"] == "sample values"
    assert [e["endpoint"] for e in report["endpoints"]] == ["create_list", "add_users", "remove_users"]


def test_sarif_output_passes_the_sarif_2_1_0_schema(write):
    text = edit(edit(ACME, '"subscribed": true', '"subscribed": "yes"'), "batch_size: 500\n    rate", "batch_size: 900\n    rate")
    result = run(str(write(text)), "--openapi", str(SENDGRID_SPEC), str(ACME_SPEC), "--format", "sarif")
    assert result.exit_code == 1
    log = json.loads(result.output)
    assert_valid_sarif(log)
    results = log["runs"][0]["results"]
    assert sorted(r["ruleId"] for r in results) == ["PS602", "PS614", "PS630"]
    described = next(r for r in results if r["ruleId"] == "PS602")
    assert described["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("oas_v3.json")


def test_an_invalid_definition_or_an_unusable_description_exits_1_saying_why(write, tmp_path):
    broken = write(edit(MINIMAL, "method: bearer", "method: token"))
    result = run(str(broken), "--openapi", str(ACME_SPEC))
    assert result.exit_code == 1 and "error[PS104]" in result.output and "not checked" in result.output
    swagger = tmp_path / "swagger.json"
    swagger.write_text('{"swagger": "2.0"}', encoding="utf-8")
    result = run(str(write(ACME)), "--openapi", str(swagger), "--format", "sarif")
    assert result.exit_code == 1
    log = json.loads(result.output)
    assert_valid_sarif(log)
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["PS601"]


def test_usage_errors_exit_2(write):
    assert run(str(write(ACME))).exit_code == 2  # no --openapi
    assert run(str(write(ACME)), "--openapi", str(ACME_SPEC), "--format", "xml").exit_code == 2


def test_values_that_do_not_fit_the_definition_fail_as_render_does(write, tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text("fields: {nope: 1}\n", encoding="utf-8")
    result = run(str(write(ACME)), "--openapi", str(ACME_SPEC), "--values", str(values))
    assert result.exit_code == 1 and "unknown field 'nope'" in result.output


def test_check_help_imports_neither_openapi_core_nor_the_contract_package():
    code = ("import sys; from portalspec.cli import main\n"
            "try: main(['check', '--help'])\nexcept SystemExit: pass\n"
            "sys.stderr.write(repr([m for m in ('openapi_core', 'jsonschema_path', 'portalspec.contract') "
            "if m in sys.modules]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stderr == "[]"

"""`portalspec render`: options, output file, and a one-line `error:` (exit 1, no traceback) for bad input."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from .render_helpers import INTEGRATIONS, KITCHEN, NOW_TEXT, cli, cli_render, write_files

INFOBIP = INTEGRATIONS / "infobip"
NESTED = INTEGRATIONS / "nested-audiences"


def render(definition: Path, *args: str):
    return cli("render", str(definition), *args)


def assert_fails(result, *needles: str) -> str:
    """Exit 1, nothing on stdout but what was already rendered, exactly one `error:` line, on stderr."""
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    return errors[0]


@pytest.fixture
def kitchen(tmp_path):
    return write_files(tmp_path, {
        "integration.yaml": KITCHEN,
        "values.yaml": 'fields: {bearer_token: "tok", label: "L"}\nmappings: {user_id: user_id}\n'
                       'cohort: {id: "42", name: "Beta users"}\n',
        "users.csv": "operation,user_id\nadd,a\nadd,b\nremove,c\n",
    })


def kitchen_render(files, *args: str, values: str | None = None, users: str | None = None):
    if values is not None:
        files["values.yaml"].write_text(values, encoding="utf-8")
    if users is not None:
        files["users.csv"].write_text(users, encoding="utf-8")
    return render(files["integration.yaml"], "--values", str(files["values.yaml"]),
                  "--users", str(files["users.csv"]), "--now", NOW_TEXT, "--seed", "7", *args)


# --- success -----------------------------------------------------------------------------------

def test_render_prints_json_by_default(kitchen):
    result = kitchen_render(kitchen)
    assert result.exit_code == 0 and result.stderr == ""
    shown = json.loads(result.stdout)
    assert [r["endpoint"] for r in shown] == ["create_list", "add_users", "remove_users"]
    assert shown[0]["headers"]["Authorization"] == "Bearer ********"
    assert json.loads(shown[1]["body"])["ids"] == ["a", "b"]


def test_output_file(kitchen, tmp_path):
    out = tmp_path / "requests.http"
    result = kitchen_render(kitchen, "--format", "http", "-o", str(out))
    assert result.exit_code == 0 and result.stdout == ""
    text = out.read_bytes().decode("utf-8")
    assert text.startswith("POST /lists/main?q=q&plan=free HTTP/1.1\r\nHost: api.kitchen.example\r\n")
    assert text.count(" HTTP/1.1\r\n") == 3
    assert text == kitchen_render(kitchen, "--format", "http").stdout_bytes.decode("utf-8")


def test_list_id_option_and_response_file(kitchen, tmp_path):
    def add_url(*args):
        shown = json.loads(kitchen_render(kitchen, "--endpoint", "add_users", *args).stdout)
        assert [r["endpoint"] for r in shown] == ["add_users"]
        return shown[0]["url"]

    assert add_url() == "https://api.kitchen.example/lists/L-1/members/main?q=q"  # example_response
    response = tmp_path / "response.json"
    response.write_text('{"response": {"data": {"id": "R-9"}}}', encoding="utf-8")
    assert add_url("--response", str(response)) == "https://api.kitchen.example/lists/R-9/members/main?q=q"
    assert add_url("--response", str(response), "--list-id", "a/b") == \
        "https://api.kitchen.example/lists/a%2Fb/members/main?q=q"


def test_reveal_secrets(kitchen):
    shown = json.loads(kitchen_render(kitchen, "--reveal-secrets").stdout)
    assert shown[0]["headers"]["Authorization"] == "Bearer tok"


def test_same_seed_same_output_other_seed_other_request_ids(kitchen):
    first = kitchen_render(kitchen, "--format", "curl").stdout
    assert kitchen_render(kitchen, "--format", "curl").stdout == first
    other = render(kitchen["integration.yaml"], "--values", str(kitchen["values.yaml"]), "--users",
                   str(kitchen["users.csv"]), "--now", NOW_TEXT, "--seed", "8", "--format", "curl").stdout
    assert other != first
    assert other.replace("X-Request-Id", "") != first.replace("X-Request-Id", "")


def test_skipped_users_are_a_warning(kitchen):
    result = kitchen_render(kitchen, users="operation,user_id\nadd,a\nadd,\nremove,\n")
    assert result.exit_code == 0
    assert json.loads(json.loads(result.stdout)[1]["body"])["ids"] == ["a"]
    assert result.stderr == "warning: 2 user(s) not sent, no value for a mapped property: " \
                            "line 3 (no user_id), line 4 (no user_id)\n"


def test_export_csv_users_with_a_skip(tmp_path):
    files = write_files(tmp_path, {"export.csv": '"amplitude_id","user_id","email"\n"1","u1","a@x"\n"2","","b@x"\n'})
    result = render(NESTED / "integration.yaml", "--values", str(NESTED / "values.yaml"), "--users",
                    str(files["export.csv"]))
    assert result.exit_code == 0
    members = json.loads(json.loads(result.stdout)[1]["body"])["members"]
    assert members == [{"external_id": "u1", "email": "a@x"}]
    assert "warning: 1 user(s) not sent" in result.stderr and "amplitude_id 2 (no user_id)" in result.stderr


def test_render_without_users_renders_create_list(kitchen):
    result = render(kitchen["integration.yaml"], "--values", str(kitchen["values.yaml"]))
    assert result.exit_code == 0
    assert [r["endpoint"] for r in json.loads(result.stdout)] == ["create_list"]


# --- errors ----------------------------------------------------------------------------------------

def test_missing_values_file(tmp_path):
    result = render(INFOBIP / "integration.yaml", "--values", str(tmp_path / "nope.yaml"))
    assert_fails(result, "nope.yaml", "no such file")


def test_bad_values(kitchen):
    result = kitchen_render(kitchen, values='fields: {bearer_token: "t", label: "L", lable: x, plan: gold}\n'
                                            'mappings: {user_id: user_id}\ncohort: {id: 1, name: n}\n')
    line = assert_fails(result, "unknown field 'lable' in the values file (did you mean 'label'?)",
                        "field 'Plan' (plan) is 'gold', not one of its options: free, pro")
    assert line == "error: values do not fit the definition:"


def test_values_that_are_not_yaml(kitchen):
    assert_fails(kitchen_render(kitchen, values="fields: [\n"), "values.yaml:2:1", "YAML syntax error")


def test_missing_required_field_names_its_display_name(kitchen):
    result = kitchen_render(kitchen, values='fields: {bearer_token: "t"}\nmappings: {user_id: user_id}\n'
                                            "cohort: {id: 1, name: n}\n")
    assert_fails(result, "missing required field 'Label' (label)")


def test_unknown_users_format(kitchen):
    line = assert_fails(kitchen_render(kitchen, users="id\nu1\n"))
    assert line.startswith(f"error: {kitchen['users.csv']}:1: unrecognised users file")


def test_malformed_csv_names_the_line(kitchen):
    line = assert_fails(kitchen_render(kitchen, users='operation,user_id\nadd,a\nadd,"b\n'))
    assert line.startswith(f"error: {kitchen['users.csv']}:3: malformed CSV")
    line = assert_fails(kitchen_render(kitchen, users="operation,user_id\nadd,a\nadd,b,c\n"))
    assert line == f"error: {kitchen['users.csv']}:3: expected 2 columns, found 3"


def test_truncated_gzip_users(kitchen, tmp_path):
    data = gzip.compress(("operation,user_id\n" + "".join(f"add,u{i}\n" for i in range(20_000))).encode(), mtime=0)
    (tmp_path / "users.csv.gz").write_bytes(data[: len(data) // 2])
    result = render(kitchen["integration.yaml"], "--values", str(kitchen["values.yaml"]), "--users",
                    str(tmp_path / "users.csv.gz"))
    assert_fails(result, "cannot read users: Compressed file ended")
    assert "Aborted" not in result.output


def test_a_lone_surrogate_in_json_lines(kitchen, tmp_path):
    users = tmp_path / "users.jsonl"
    for line in ('{"user_id": "a\\ud800"}\n', '{"user_id": ["x", {"k": "\\udfff"}]}\n'):
        users.write_text(line, encoding="utf-8")
        result = render(kitchen["integration.yaml"], "--values", str(kitchen["values.yaml"]), "--users", str(users))
        assert_fails(result, "$user_id contains a lone surrogate")


def test_missing_users_file(kitchen, tmp_path):
    result = render(kitchen["integration.yaml"], "--values", str(kitchen["values.yaml"]), "--users",
                    str(tmp_path / "nope.csv"))
    assert_fails(result, "nope.csv: no such users file")


@pytest.mark.parametrize("now", ["yesterday", "2026-13-01T00:00:00Z", "inf", "1e20"])
def test_bad_now(kitchen, now):
    line = assert_fails(kitchen_render(kitchen, "--now", now))
    assert line == f"error: --now {now!r}: expected ISO 8601 (2026-01-01T00:00:00Z) or epoch seconds"


def test_invalid_definition_prints_diagnostics_then_the_error(kitchen):
    kitchen["integration.yaml"].write_text(KITCHEN.replace("X-Tag: $tag", "X-Tag: $tga"), encoding="utf-8")
    result = kitchen_render(kitchen)
    line = assert_fails(result, "error[PS201]: unknown variable $tga")
    assert line == f"error: {kitchen['integration.yaml']} is not a valid definition; fix the errors above " \
                   f"('portalspec validate {kitchen['integration.yaml']}')"
    assert result.stdout == ""


def test_missing_definition(tmp_path):
    assert_fails(render(tmp_path / "nope.yaml", "--values", str(INFOBIP / "values.yaml")), "no such file")


def test_bad_response_file(kitchen, tmp_path):
    response = tmp_path / "response.json"
    response.write_text('{"response": ', encoding="utf-8")
    assert_fails(kitchen_render(kitchen, "--response", str(response)), "response.json:1:", "not valid JSON")
    response.write_text('{"data": {"id": 1}}', encoding="utf-8")
    assert_fails(kitchen_render(kitchen, "--response", str(response)),
                 "cannot find the list id: list_id path 'response.data.id' finds nothing")
    assert_fails(kitchen_render(kitchen, "--response", str(tmp_path / "nope.json")), "nope.json")


def test_a_line_break_in_a_header_value(kitchen):
    result = kitchen_render(kitchen, values='fields: {bearer_token: "t", label: "L", tag: "a\\r\\nX-Evil: 1"}\n'
                                            "mappings: {user_id: user_id}\ncohort: {id: 1, name: n}\n")
    line = assert_fails(result)
    assert line == "error: $tag in header X-Tag (headers.X-Tag): contains a carriage return, which would split " \
                   "or end the header"
    assert "X-Evil" not in result.stdout


def test_a_value_that_cannot_be_json_in_an_item_template(tmp_path):
    text = KITCHEN.replace("item_template: '\"$user_id\"'\n    batch_size: 3\n  remove_users",
                           "item_template: '{\"id\": \"$user_id\", \"w\": $weight}'\n    batch_size: 3\n  remove_users")
    text = text.replace("mapping_fields:", "  - {variable: weight, display_name: Weight, type: string}\nmapping_fields:")
    files = write_files(tmp_path, {"integration.yaml": text, "users.csv": "operation,user_id\nadd,a\n",
                                   "values.yaml": 'fields: {bearer_token: "t", label: "L", weight: .nan}\n'
                                                  "mappings: {user_id: user_id}\ncohort: {id: 1, name: n}\n"})
    result = kitchen_render(files)
    assert_fails(result, "$weight in endpoints.add_users.item_template: cannot be written as JSON")


def test_unknown_endpoint_and_format_are_usage_errors(kitchen):
    assert kitchen_render(kitchen, "--format", "xml").exit_code == 2
    assert kitchen_render(kitchen, "--endpoint", "nope").exit_code == 2
    assert_fails(kitchen_render(kitchen, "--endpoint", "update_users"), "kitchen has no endpoint 'update_users'")


@pytest.mark.parametrize("fmt", ["json", "curl", "http", "har"])
def test_every_example_renders_in_every_format(fmt):
    for folder in sorted(INTEGRATIONS.iterdir()):
        result = cli_render(folder.name, fmt)
        assert result.exit_code == 0 and result.stderr == "", (folder.name, result.stderr)


def test_nothing_is_written_when_the_values_do_not_fit(kitchen, tmp_path):
    bad = tmp_path / "bad-values.yaml"
    bad.write_text('fields: {bearer_token: "tok", label: "L"}\nmappings: {user_id: user_id}\ncohort: {id: "42", name: ""}\n')
    result = render(kitchen["integration.yaml"], "--values", str(bad), "--users", str(kitchen["users.csv"]))
    assert_fails(result, "the cohort has no name")
    assert result.stdout == ""  # not even the opening '[' of the JSON array


def test_output_file_appears_only_when_the_render_succeeds(kitchen, tmp_path):
    target = tmp_path / "requests.json"
    target.write_text("previous render\n")
    bad_users = tmp_path / "bad-users.csv"
    bad_users.write_text("operation,user_id\nadd,a\nadd,b\nadd,\"\ud800\"\n", errors="surrogatepass")
    result = render(kitchen["integration.yaml"], "--values", str(kitchen["values.yaml"]), "--users", str(bad_users),
                    "-o", str(target))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert target.read_text() == "previous render\n"  # untouched: no half document replaced it
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".portalspec-")] == []
    result = render(kitchen["integration.yaml"], "--values", str(kitchen["values.yaml"]), "--users",
                    str(kitchen["users.csv"]), "-o", str(target))
    assert result.exit_code == 0 and json.loads(target.read_text())[0]["endpoint"] == "create_list"


def test_an_unknown_mapping_is_named(kitchen, tmp_path):
    values = tmp_path / "v.yaml"
    values.write_text('fields: {bearer_token: "tok", label: "L"}\nmappings: {user_id: user_id, usr_id: x}\n'
                      'cohort: {id: "42", name: "B"}\n')
    result = render(kitchen["integration.yaml"], "--values", str(values), "--users", str(kitchen["users.csv"]))
    assert_fails(result, "unknown mapping 'usr_id'", "did you mean 'user_id'?")

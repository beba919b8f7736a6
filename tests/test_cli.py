"""The definition commands: validate, vars and schema, through click's CliRunner."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner, Result

from portalspec.cli import main
from portalspec.loader import MAX_FILE_BYTES
from portalspec.schema import schema_text

from .conftest import EXAMPLES, MINIMAL, REPO, at, edit


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output
    # Only click's own exit: an exception escaping a command is a bug.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


# --- validate ---------------------------------------------------------------------------

def test_validate_a_valid_file_exits_0(write):
    path = write(MINIMAL)
    result = run("validate", str(path))
    assert result.exit_code == 0
    assert result.output == f"{path}: valid (0 errors, 0 warnings)\n"


def test_validate_with_only_warnings_exits_0(write):
    text = edit(MINIMAL, "  X-Region: $region", "  X-Region: us")
    path = write(text)
    result = run("validate", str(path))
    assert result.exit_code == 0
    line, column = at(text, "region")
    assert f"{path}:{line}:{column}: warning[PS202]: variable 'region' is declared but never used" in result.output
    assert result.output.rstrip().endswith("valid (0 errors, 1 warning)")


def test_validate_prints_location_source_line_caret_and_path(write):
    text = edit(MINIMAL, "  X-Region: $region", "  X-Region: $regoin")
    path = write(text)
    result = run("validate", str(path))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    line, column = at(text, "$regoin")
    assert lines[0] == f"{path}:{line}:{column}: error[PS201]: unknown variable $regoin: " \
                       "declare it as a custom field, or use a pre-defined one"
    assert lines[1] == "      X-Region: $regoin"
    assert lines[2] == "    " + " " * (column - 1) + "^"
    assert lines[3] == "    = at $.headers.X-Region; did you mean 'region'?"
    assert lines[-1] == f"{path}: invalid (1 error, 1 warning)"


def test_validate_reports_every_file_and_fails_if_one_is_invalid(write):
    good = write(MINIMAL, "good.yaml")
    bad = write(edit(MINIMAL, "type: list", "type: lst"), "bad.yaml")
    result = run("validate", str(good), str(bad))
    assert result.exit_code == 1
    assert f"{good}: valid (0 errors, 0 warnings)" in result.output
    assert f"{bad}: invalid (1 error, 0 warnings)" in result.output


def test_validate_json_output(write):
    good = write(MINIMAL, "good.yaml")
    text = edit(MINIMAL, "  X-Region: $region", "  X-Region: $regoin")
    bad = write(text, "bad.yaml")
    result = run("validate", "--format", "json", str(good), str(bad))
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["valid"] is False
    assert [f["file"] for f in report["files"]] == [str(good), str(bad)]
    assert report["files"][0] == {"file": str(good), "valid": True, "errors": 0, "warnings": 0, "diagnostics": []}
    second = report["files"][1]
    assert (second["valid"], second["errors"], second["warnings"]) == (False, 1, 1)
    line, column = at(text, "$regoin")
    assert second["diagnostics"][0] == {
        "code": "PS201", "severity": "error",
        "message": "unknown variable $regoin: declare it as a custom field, or use a pre-defined one",
        "path": "$.headers.X-Region", "file": str(bad), "line": line, "column": column,
        "hint": "did you mean 'region'?",
    }
    assert second["diagnostics"][1]["severity"] == "warning"


def test_validate_json_of_valid_files_exits_0(write):
    result = run("validate", "--format", "json", str(write(MINIMAL)))
    assert result.exit_code == 0 and json.loads(result.output)["valid"] is True


@pytest.mark.parametrize("args", [["validate"], ["validate", "--format", "xml", "f.yaml"],
                                  ["validate", "--nope", "f.yaml"], ["nope"], ["vars"]])
def test_usage_errors_exit_2(args):
    result = run(*args)
    assert result.exit_code == 2
    assert "Usage:" in result.output


# --- bad input: one clear line, exit 1, no traceback --------------------------------------

LAUGHS = "\n".join(['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'] + [
    f"{chr(97 + i)}: &{chr(97 + i)} [" + ", ".join([f"*{chr(96 + i)}"] * 9) + "]" for i in range(1, 9)]) + "\n"


@pytest.mark.parametrize("content, code, where", [
    (b"portalspec: 1\nname: caf\xe9\n", "PS004", (2, 10)),
    (b"", "PS005", None),
    (b"# nothing here\n", "PS005", None),
    (b"portalspec: 1\nname: [acme\n", "PS006", (3, 1)),
    (b"- portalspec: 1\n", "PS007", (1, 1)),
    (edit(MINIMAL, "name: acme\n", "name: acme\nname: other\n").encode(), "PS008", (3, 1)),
    (LAUGHS.encode(), "PS009", "somewhere"),
    (b"portalspec: 1\n" + b"#" * MAX_FILE_BYTES, "PS003", None),
    (edit(MINIMAL, "display_name: Acme", "display_name: 12").encode(), "PS103", (3, 15)),
    (edit(MINIMAL, "display_name: Acme\n", "display_name: Acme\nsumary: x\n").encode(), "PS102", (4, 1)),
    (edit(MINIMAL, "portalspec: 1", "portalspec: 2").encode(), "PS100", (1, 13)),
], ids=["non-utf8", "empty", "comments-only", "yaml-syntax", "not-a-mapping", "duplicate-key", "billion-laughs",
        "too-large", "wrong-type", "unknown-key", "unknown-version"])
def test_bad_input_is_one_clear_line_and_exit_1(write, content, code, where):
    path = write(content)
    result = run("validate", str(path))
    assert result.exit_code == 1
    first = result.output.splitlines()[0]
    if where == "somewhere":  # a position, wherever the expansion was stopped
        location = re.escape(f"{path}:") + r"\d+:\d+"
    else:
        location = re.escape(f"{path}:{where[0]}:{where[1]}" if where else f"{path}")
    assert re.fullmatch(location + re.escape(f": error[{code}]: ") + r"\S.*", first), first
    json_result = run("validate", "--format", "json", str(path))
    assert json_result.exit_code == 1
    assert json.loads(json_result.output)["files"][0]["diagnostics"][0]["code"] == code


def test_unknown_key_on_the_command_line_gets_did_you_mean(write):
    result = run("validate", str(write(edit(MINIMAL, "display_name: Acme\n", "display_name: Acme\nsumary: x\n"))))
    assert "    = at $.sumary; did you mean 'summary'?" in result.output.splitlines()


def test_missing_file_is_ps001(tmp_path):
    path = tmp_path / "absent.yaml"
    result = run("validate", str(path))
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == f"{path}: error[PS001]: no such file: '{path}'"


def test_directory_is_ps002(tmp_path):
    result = run("validate", str(tmp_path))
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == f"{tmp_path}: error[PS002]: '{tmp_path}' is a directory, not a definition file"


def test_lone_surrogate_escape_does_not_crash_the_output(write):
    path = write('portalspec: 1\n"\\ud800x": 1\n')
    result = run("validate", str(path))
    assert result.exit_code == 1 and f"{path}:2:1: error[PS004]" in result.output
    assert run("validate", "--format", "json", str(path)).exit_code == 1


# --- vars -------------------------------------------------------------------------------

def test_vars_prints_the_variable_table(write):
    result = run("vars", str(write(MINIMAL)))
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == ["VARIABLE", "DECLARED", "USED", "PRE-DEFINED", "ORIGIN", "USED", "IN"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"$bearer_token", "$region", "$user_id", "$amp_cohort_name", "$list_id", "$items"}
    assert rows["$list_id"].split()[1:] == ["yes", "yes", "pre-defined", "add_users.url,", "remove_users.url"]
    assert rows["$user_id"].split()[1:4] == ["yes", "yes", "mapping"]
    # Columns line up: every row's DECLARED cell starts where the header's does.
    column = lines[0].index("DECLARED")
    assert all(line[column - 2:column] == "  " for line in lines)


def test_vars_shows_undeclared_and_unused_variables_and_exits_1(write):
    text = edit(MINIMAL, "  X-Region: $region", "  X-Region: $regoin")
    path = write(text)
    result = run("vars", str(path))
    assert result.exit_code == 1
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:]}
    assert rows["$regoin"][1:3] == ["yes", "undeclared"]  # used, not declared
    assert rows["$region"][1:3] == ["yes", "custom"]  # declared, not used
    assert "has 1 error" in result.stderr


def test_vars_json(write):
    result = run("vars", "--format", "json", str(write(MINIMAL)))
    assert result.exit_code == 0
    report = json.loads(result.output)
    assert report["valid"] is True
    rows = {r["variable"]: r for r in report["variables"]}
    assert rows["list_id"] == {"variable": "list_id", "declared": False, "used": True, "predefined": True,
                               "origin": "pre-defined", "used_in": ["add_users.url", "remove_users.url"],
                               "extensions": []}
    assert rows["region"]["declared"] and rows["region"]["used"] and not rows["region"]["predefined"]


OAUTH2 = edit(MINIMAL, "auth:\n  method: bearer\n", "auth:\n  method: oauth2\n  grant: refresh_token\n"
              "  token_url: https://auth.acme.example/token\n")


@pytest.mark.parametrize("grant, variables", [("refresh_token", ["client_id", "client_secret", "refresh_token"]),
                                              ("client_credentials", ["client_id", "client_secret"])])
def test_vars_lists_the_oauth2_variables_of_the_grant_and_marks_the_extension(write, grant, variables):
    path = write(OAUTH2.replace("grant: refresh_token", f"grant: {grant}"))
    rows = {r["variable"]: r for r in json.loads(run("vars", "--format", "json", str(path)).output)["variables"]}
    auth = [name for name, row in rows.items() if row["origin"] == "auth"]
    assert auth == variables
    assert all(rows[name]["extensions"] == ["PS515"] and rows[name]["used_in"] == ["auth"] for name in auth)
    assert rows["region"]["extensions"] == [] and "access_token" not in rows  # (a runtime value, not declared)
    text = {line.split()[0]: line for line in run("vars", str(path)).output.splitlines()[1:]}
    assert "auth (PS515)" in text["$client_id"] and "PS515" not in text["$region"]


def test_vars_of_unreadable_input_exits_1_with_the_cause(tmp_path, write):
    result = run("vars", str(tmp_path / "absent.yaml"))
    assert result.exit_code == 1 and "error[PS001]" in result.stderr
    result = run("vars", str(write(b"a: [\n")))
    assert result.exit_code == 1 and "error[PS006]" in result.stderr and result.stdout == ""


# --- schema, --help ---------------------------------------------------------------------

def test_schema_prints_the_packaged_schema():
    result = run("schema")
    assert result.exit_code == 0
    assert result.output == schema_text()
    assert result.output == (REPO / "schemas" / "integration.schema.json").read_text(encoding="utf-8")
    assert json.loads(result.output)["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_python_dash_m_portalspec_help():
    done = subprocess.run([sys.executable, "-m", "portalspec", "--help"], capture_output=True, text=True,
                          timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    for command in ("validate", "vars", "schema"):
        assert command in done.stdout


def test_a_command_paces_the_cyclic_collector_for_large_inputs():
    """The command line freezes start-up's objects and collects young ones every 50,000
    allocations, not 700 (a fifth of a large read went to the collector); in a process of its
    own, since it is a process setting."""
    code = ("import gc, sys; from portalspec.cli import main\n"
            "before = gc.get_threshold()[0]\n"
            "main(['schema'], standalone_mode=False)\n"
            "print('PACE', before, gc.get_threshold()[0], gc.get_freeze_count() > 0, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "PACE 700 50000 True" in done.stderr


def test_validate_all_examples_at_once():
    result = run("validate", *map(str, EXAMPLES))
    assert result.exit_code == 0
    assert result.output.count(": valid (0 errors, 0 warnings)") == len(EXAMPLES)


def test_the_lazy_command_table_matches_every_command_and_its_help():
    """portalspec --help lists commands from cli.base.COMMANDS without importing their modules."""
    import importlib
    import inspect

    from portalspec.cli.base import COMMANDS

    for module in {m for m, _ in COMMANDS.values()}:
        importlib.import_module(f"portalspec.cli.{module}")
    assert set(main.commands) == set(COMMANDS)
    for name, (module, summary) in COMMANDS.items():
        command = main.commands[name]
        assert command.callback is not None and command.callback.__module__ == f"portalspec.cli.{module}", name
        first = inspect.cleandoc(command.help or "").split("\n\n")[0]
        assert " ".join(first.split()) == summary, name


def test_help_imports_no_command_module_nor_what_commands_use():
    import subprocess
    import sys

    code = ("import sys; from portalspec.cli import main\n"
            "try: main(['--help'])\nexcept SystemExit: pass\n"
            "heavy = [m for m in ('httpx', 'werkzeug', 'jsonschema', 'yaml', 'portalspec.cli.render', "
            "'portalspec.inputs', 'portalspec.sync', 'openapi_core', 'portalspec.contract') if m in sys.modules]\n"
            "sys.stderr.write(repr(heavy))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stderr == "[]"

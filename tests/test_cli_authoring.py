"""``init``, ``preview`` and ``diff`` from the command line, as a user types them.

The chain the issue asks for runs the real CLI in processes: init → validate → render →
serve + test → pytest of the generated test file."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from portalspec.cli import main

from .conftest import MINIMAL, REPO, edit

ENV = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}


def portalspec(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portalspec", *args], capture_output=True, text=True,
                          cwd=cwd, env=ENV, timeout=120, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("type_, auth", [("list", "header"), ("property", "basic"), ("list", "oauth2")])
def test_init_validate_render_serve_test_and_pytest_all_pass(tmp_path: Path, type_: str, auth: str):
    folder = tmp_path / "acme"
    made = portalspec("init", str(folder), "--type", type_, "--auth", auth)  # not a terminal: no prompt
    assert made.returncode == 0, made.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["integration.schema.json", "integration.yaml", "test_integration.py",
                                                       "users.csv", "values.yaml"]
    definition, values, users = (str(folder / n) for n in ("integration.yaml", "values.yaml", "users.csv"))
    validated = portalspec("validate", definition)
    assert validated.returncode == 0 and "0 errors, 0 warnings" in validated.stdout, validated.stdout
    rendered = portalspec("render", definition, "--values", values, "--users", users, "--format", "curl")
    assert rendered.returncode == 0 and rendered.stdout.count("curl ") >= 2, rendered.stderr
    server = subprocess.Popen([sys.executable, "-m", "portalspec", "serve", definition, "--values", values,
                               "--port", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        banner = server.stderr.readline() if server.stderr else ""  # once listening; "" if it died first
        assert " at http://127.0.0.1:" in banner, banner
        url = banner.split(" at ")[1].split()[0]
        tested = portalspec("test", definition, "--values", values, "--users", users, "--base-url", url)
        assert tested.returncode == 0 and "PASSED" in tested.stdout, tested.stdout + tested.stderr
    finally:
        server.terminate()
        server.communicate(timeout=30)
    generated = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_integration.py"],
                               capture_output=True, text=True, cwd=folder, env=ENV, timeout=120)
    assert generated.returncode == 0 and "2 passed" in generated.stdout, generated.stdout + generated.stderr


def test_init_asks_on_a_terminal(tmp_path: Path):
    leader, follower = pty.openpty()
    answers = "shop-sync\nShop Sync\nproperty\nheader\nX-Shop-Key\nhttps://api.shop.example\n"
    try:
        os.write(leader, answers.encode())
        process = subprocess.run([sys.executable, "-m", "portalspec", "init", str(tmp_path / "s")],
                                 stdin=follower, capture_output=True, text=True, env=ENV, timeout=60)
    finally:
        os.close(follower)
        os.close(leader)
    assert process.returncode == 0, process.stdout + process.stderr
    assert "Integration name (slug)" in process.stdout and "Auth method" in process.stdout
    text = (tmp_path / "s" / "integration.yaml").read_text()
    assert "name: shop-sync\n" in text and "type: property\n" in text and "header_name: X-Shop-Key" in text
    assert "url: https://api.shop.example/users/batch" in text


def test_init_refuses_to_overwrite_and_bad_options_are_clear(tmp_path: Path):
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(tmp_path), "--yes"]).exit_code == 0
    again = runner.invoke(main, ["init", str(tmp_path), "--yes"])
    assert again.exit_code == 1 and "not overwriting" in again.output and "--force" in again.output
    assert runner.invoke(main, ["init", str(tmp_path), "--yes", "--force"]).exit_code == 0
    bad = runner.invoke(main, ["init", str(tmp_path / "b"), "--name", "Not A Slug"])
    assert bad.exit_code == 1 and "name 'Not A Slug'" in bad.output and "Traceback" not in bad.output
    assert runner.invoke(main, ["init", "--type", "tag"]).exit_code == 2


# --- diff -----------------------------------------------------------------------------------

def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", *args],
                   cwd=cwd, check=True, capture_output=True, env=ENV)


def test_diff_exit_codes_text_and_json(tmp_path: Path):
    old, new, safe = tmp_path / "old.yaml", tmp_path / "new.yaml", tmp_path / "safe.yaml"
    old.write_text(MINIMAL)
    new.write_text(edit(MINIMAL, "method: bearer", "method: none"))
    safe.write_text(edit(MINIMAL, "display_name: Acme", "display_name: Acme Corp"))
    runner = CliRunner()
    breaking = runner.invoke(main, ["diff", str(old), str(new)])
    assert breaking.exit_code == 1
    assert "BREAKING [auth-method-changed]" in breaking.output and f"old: {old}:6:11  new: {new}:6:11" in breaking.output
    assert runner.invoke(main, ["diff", str(old), str(new), "--allow-breaking"]).exit_code == 0
    assert runner.invoke(main, ["diff", str(old), str(safe)]).exit_code == 0
    as_json = runner.invoke(main, ["diff", str(old), str(new), "--format", "json"])
    report = json.loads(as_json.output)
    assert as_json.exit_code == 1 and report["breaking"] == 1
    assert report["changes"][0]["new"] == {"file": str(new), "line": 6, "column": 11, "path": "$.auth.method"}
    assert runner.invoke(main, ["diff", str(old)]).exit_code == 2
    assert runner.invoke(main, ["diff", str(old), str(new), "--format", "xml"]).exit_code == 2


def test_diff_reads_git_revisions_and_the_against_mode_passes_new_files(tmp_path: Path):
    git("init", "-q", cwd=tmp_path)
    (tmp_path / "defs").mkdir()
    definition = tmp_path / "defs" / "acme.yaml"
    definition.write_text(MINIMAL)
    git("add", "defs/acme.yaml", cwd=tmp_path)
    git("commit", "-q", "-m", "first", cwd=tmp_path)
    definition.write_text(edit(MINIMAL, "      - {label: Europe, value: eu}\n", ""))
    (tmp_path / "defs" / "new.yaml").write_text(MINIMAL)
    spelled = portalspec("diff", "git:HEAD:defs/acme.yaml", "defs/acme.yaml", cwd=tmp_path)
    assert spelled.returncode == 1 and "[option-removed]" in spelled.stdout
    assert "old: git:HEAD:defs/acme.yaml:15:" in spelled.stdout
    hook = portalspec("diff", "--against", "HEAD", "defs/acme.yaml", "defs/new.yaml", cwd=tmp_path)
    assert hook.returncode == 1 and "defs/new.yaml: new (not in HEAD)" in hook.stdout
    missing = portalspec("diff", "git:HEAD:defs/nope.yaml", "defs/acme.yaml", cwd=tmp_path)
    assert missing.returncode == 1 and "git:HEAD:defs/nope.yaml:" in missing.stderr
    assert "Traceback" not in missing.stderr
    malformed = portalspec("diff", "git:HEAD", "defs/acme.yaml", cwd=tmp_path)
    assert malformed.returncode == 1 and "expected git:REV:path" in malformed.stderr


def test_diff_of_a_file_that_is_not_yaml_names_file_line_and_column(tmp_path: Path):
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(MINIMAL)
    new.write_text("portalspec: 1\nname: [x\n")
    result = CliRunner().invoke(main, ["diff", str(old), str(new)])
    assert result.exit_code == 1 and f"{new}:3:1: error[PS006]" in result.output and "Traceback" not in result.output


def test_the_pre_commit_hooks_run_the_commands():
    import yaml

    hooks = {h["id"]: h for h in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    assert hooks["portalspec-validate"]["entry"] == "portalspec validate"
    assert hooks["portalspec-diff"]["entry"] == "portalspec diff --against HEAD"
    for hook in hooks.values():
        assert hook["language"] == "python" and hook["files"]


# --- init --from-openapi ----------------------------------------------------------------

SENDGRID = REPO / "tests" / "data" / "openapi" / "sendgrid" / "oas_v3.json"
SENDGRID_LISTS = ("--create", "POST_mc-lists", "--add", "PUT_mc-contacts", "--remove", "DELETE_mc-lists-id-contacts")


def init_from(*args: str) -> Result:
    result = CliRunner().invoke(main, ["init", *args])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_init_from_openapi_drafts_the_sendgrid_lists_definition(tmp_path: Path):
    folder = tmp_path / "sendgrid"
    result = init_from(str(folder), "--from-openapi", str(SENDGRID), *SENDGRID_LISTS)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in folder.iterdir()) == ["integration.schema.json", "integration.yaml", "users.csv",
                                                       "values.yaml"]
    assert "choice(s) marked '# DECIDE:'" in result.output
    validated = init_validate(folder / "integration.yaml")
    assert validated.exit_code == 0, validated.output
    checked = CliRunner().invoke(main, ["check", str(folder / "integration.yaml"), "--openapi", str(SENDGRID),
                                        "--values", str(folder / "values.yaml"), "--users", str(folder / "users.csv")])
    assert checked.exit_code == 0 and "(0 errors, 1 warning;" in checked.output, checked.output  # (PS602: SendGrid's)
    text = (folder / "integration.yaml").read_text(encoding="utf-8")
    assert "url: https://api.sendgrid.com/v3/marketing/lists/$list_id/contacts?contact_ids=$items" in text
    assert "# DECIDE:" in text


def init_validate(path: Path) -> Result:
    return CliRunner().invoke(main, ["validate", str(path)])


def test_init_from_openapi_without_operations_lists_the_descriptions(tmp_path: Path):
    result = init_from(str(tmp_path / "x"), "--from-openapi", str(SENDGRID))
    assert result.exit_code == 1
    assert "  POST_mc-lists  POST /v3/marketing/lists\n" in result.output
    assert not (tmp_path / "x").exists()


def test_init_from_openapi_names_a_mistyped_operation_and_writes_nothing(tmp_path: Path):
    result = init_from(str(tmp_path / "x"), "--from-openapi", str(SENDGRID), "--create", "POST_mc-list",
                       "--add", "PUT_mc-contacts", "--remove", "DELETE_mc-lists-id-contacts")
    assert result.exit_code == 1
    assert "no operation 'POST_mc-list' in the description; did you mean 'POST_mc-lists'" in result.output
    assert not (tmp_path / "x").exists()


def test_init_from_openapi_refuses_options_the_description_decides_and_operations_without_it(tmp_path: Path):
    both = init_from(str(tmp_path), "--from-openapi", str(SENDGRID), "--auth", "basic", *SENDGRID_LISTS)
    assert both.exit_code == 2 and "leave out --type, --auth" in both.output
    alone = init_from(str(tmp_path), "--create", "POST_mc-lists")
    assert alone.exit_code == 2 and "operations of --from-openapi SPEC" in alone.output


def test_init_from_openapi_reports_an_unreadable_description(tmp_path: Path):
    missing = init_from(str(tmp_path / "x"), "--from-openapi", str(tmp_path / "nope.yaml"), *SENDGRID_LISTS)
    assert missing.exit_code == 1
    assert "cannot be read as an OpenAPI description" in missing.output

"""portalspec.scaffold: the files of a new integration, from the packaged Jinja2 templates."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from portalspec.auth import AUTH_METHODS
from portalspec.diagnostics import InputError, Severity
from portalspec.inputs import load_values, read_users
from portalspec.kinds import TYPES
from portalspec.scaffold import (ScaffoldOptions, default_display_name, default_name, scaffold,
                                 write_scaffold)
from portalspec.validate import load, validate
from portalspec.integration import compile as compile_definition

from .conftest import REPO


@pytest.mark.parametrize("type_, auth", list(itertools.product(TYPES, AUTH_METHODS)))
def test_every_type_and_auth_scaffolds_a_clean_definition_that_renders(tmp_path: Path, type_: str, auth: str):
    write_scaffold(tmp_path, scaffold(ScaffoldOptions("acme", 'Acme "Lists" & Co', type_, auth), tmp_path))
    definition_file = tmp_path / "integration.yaml"
    problems = [d.format() for d in validate(definition_file) if d.severity is not Severity.NOTE]
    assert problems == []
    definition = load(definition_file)
    assert definition.display_name == 'Acme "Lists" & Co' and definition.auth.method == auth
    values = load_values(tmp_path / "values.yaml")
    users = read_users(tmp_path / "users.csv", definition, values)
    requests = list(compile_definition(definition).render(values, users))
    assert [r.endpoint for r in requests] == (["create_list", "add_users", "remove_users"] if type_ == "list"
                                              else ["update_users", "update_users"])


def test_the_modeline_points_at_the_nearest_schemas_folder_or_at_a_copy(tmp_path: Path):
    inside = REPO / "integrations" / "new-one"
    files = {f.name: f.text for f in scaffold(ScaffoldOptions("new-one", "New"), inside)}
    assert files["integration.yaml"].startswith("# yaml-language-server: $schema=../../schemas/integration.schema.json\n")
    assert "integration.schema.json" not in files
    outside = {f.name: f.text for f in scaffold(ScaffoldOptions("x", "X"), tmp_path)}
    assert outside["integration.yaml"].startswith("# yaml-language-server: $schema=integration.schema.json\n")
    assert '"$id"' in outside["integration.schema.json"]


def test_the_test_file_uses_the_pytest_fixture():
    files = {f.name: f.text for f in scaffold(ScaffoldOptions("x", "X"))}
    assert "def test_a_sync_reaches_the_destination(portalspec_destination):" in files["test_integration.py"]
    compile(files["test_integration.py"], "test_integration.py", "exec")


def test_bad_options_are_named_all_at_once():
    with pytest.raises(InputError) as caught:
        scaffold(ScaffoldOptions("Bad Name", "", "tag", "token", base_url="ftp://x"))
    message = str(caught.value)
    for part in ("name 'Bad Name'", "display name", "type 'tag'", "auth 'token'", "base URL 'ftp://x'"):
        assert part in message


def test_existing_files_are_not_overwritten_without_force(tmp_path: Path):
    files = scaffold(ScaffoldOptions("x", "X"), tmp_path)
    (tmp_path / "values.yaml").write_text("mine\n")
    with pytest.raises(InputError, match="not overwriting .*values.yaml"):
        write_scaffold(tmp_path, files)
    assert (tmp_path / "values.yaml").read_text() == "mine\n" and not (tmp_path / "integration.yaml").exists()
    write_scaffold(tmp_path, files, force=True)
    assert (tmp_path / "values.yaml").read_text() != "mine\n"


def test_names_come_from_the_directory():
    assert default_name("/x/My Tool!") == "my-tool"
    assert default_name("/x/---") == "my-integration"
    assert default_display_name("acme_lists-v2") == "Acme Lists V2"


def test_the_package_data_globs_cover_every_template():
    globs = re.search(r'portalspec = \[(.*?)\]', (REPO / "pyproject.toml").read_text().split("package-data]")[1]).group(1)
    patterns = [g.strip().strip('"') for g in globs.split(",")]
    package = REPO / "portalspec"
    for path in (package / "templates").rglob("*"):
        if path.is_file():
            relative = path.relative_to(package)
            assert any(relative.match(p) for p in patterns), f"{relative} would not be installed"

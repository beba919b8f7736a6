"""portalspec.contract.load: OpenAPI descriptions from local files only, with every problem named."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from portalspec.contract.load import DescriptionError, load_description
from portalspec.diagnostics import Severity

DATA = Path(__file__).parent / "data" / "openapi"
ACME = DATA / "acme" / "openapi.yaml"
SENDGRID = DATA / "sendgrid" / "oas_v3.json"


@pytest.fixture
def offline(monkeypatch):
    """Any attempt to open a network connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def write(tmp_path: Path, name: str, data) -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def minimal(**extra) -> dict:
    return {"openapi": "3.0.3", "info": {"title": "T", "version": "1"}, "paths": {}, **extra}


def test_a_yaml_description_with_refs_across_yaml_and_json_files_loads_whole():
    d = load_description(ACME)
    assert d.version == "3.1"
    assert d.title == "Acme Lists API"
    assert d.name == f"'Acme Lists API' ({ACME})"
    assert d.diagnostics == () and d.spec_valid
    assert {Path(f).name for f in d.files} == {"openapi.yaml", "paths.yaml", "schemas.json"}
    assert [str(op) for op in d.operations()] == [
        "POST /lists (createList)", "POST /lists/{listId}/members (addMembers)",
        "DELETE /lists/{listId}/members (removeMembers)"]
    create = d.operation("createList")
    assert create is not None and create.method == "post"
    # YAML's `201:` is the status "201"; the schema in schemas.json is reached through the $ref.
    schema = create.node / "responses" / "201" / "content" / "application/json" / "schema"
    assert (schema / "properties" / "list" / "properties" / "id").read_value()["type"] == "integer"
    assert d.servers == ("https://api.acme.example/v2",)
    assert d.operation("nope") is None


def test_the_sendgrid_description_fails_spec_validation_and_is_still_used_with_a_warning(offline):
    d = load_description(SENDGRID)
    assert d.version == "3.1" and not d.spec_valid
    [warning] = d.diagnostics
    assert warning.code == "PS602" and warning.severity is Severity.WARNING
    assert warning.file == str(SENDGRID)
    assert "openapi-spec-validator" in warning.message and "used with that validation off" in warning.message
    assert warning.json_path == "$.components.schemas['$ref']"
    assert len(d.files) == 63
    create = d.operation("POST_mc-lists")
    assert create is not None and create.path == "/v3/marketing/lists"
    app = d.openapi  # openapi-core accepts it with its own spec validation off
    assert app.spec is d.spec


def test_an_openapi_3_0_json_description_loads(tmp_path):
    path = write(tmp_path, "api.json", minimal(paths={"/x": {"get": {"responses": {"200": {"description": "ok"}}}}}))
    d = load_description(path)
    assert d.version == "3.0" and d.diagnostics == ()
    assert [str(op) for op in d.operations()] == ["GET /x"]
    assert d.servers == ("/",)


def test_a_remote_ref_is_never_fetched_and_is_a_warning_naming_where_it_stands(tmp_path, offline):
    remote = "https://schemas.example/contact.json#/Contact"
    path = write(tmp_path, "api.yaml", f"""\
openapi: 3.1.0
info: {{title: Remote, version: "1"}}
paths:
  /contacts:
    post:
      requestBody:
        content:
          application/json:
            schema: {{$ref: "{remote}"}}
      responses: {{"200": {{description: ok}}}}
""")
    d = load_description(path)
    [warning] = d.diagnostics
    assert warning.code == "PS603" and warning.severity is Severity.WARNING and warning.file == str(path)
    assert remote in warning.message and "not fetched" in warning.message
    assert warning.json_path == "$.paths['/contacts'].post.requestBody.content['application/json'].schema"
    schema = d.spec / "paths" / "/contacts" / "post" / "requestBody" / "content" / "application/json" / "schema"
    assert "$ref" not in schema.read_value()  # nothing later can follow it either


def test_a_ref_to_a_pointer_that_finds_nothing_is_a_warning(tmp_path):
    write(tmp_path, "schemas.json", {"Contact": {"type": "object"}})
    path = write(tmp_path, "api.json", minimal(components={"schemas": {
        "A": {"$ref": "schemas.json#/Contact"}, "B": {"$ref": "schemas.json#/Contakt"}}}))
    d = load_description(path)
    [warning] = d.diagnostics
    assert warning.code == "PS604" and warning.json_path == "$.components.schemas.B"
    assert "'/Contakt'" in warning.message and "schemas.json" in warning.message
    assert (d.spec / "components" / "schemas" / "A").read_value() == {"type": "object"}


@pytest.mark.parametrize("text, message, position", [
    ('{"openapi": "3.1.0",\n "info": }', "not a usable JSON description", None),
    ("openapi: 3.1.0\ninfo: [\n", "YAML syntax error", (3, 1)),
    ('{"swagger": "2.0", "info": {}}', "not an OpenAPI 3.0 or 3.1 description (it says swagger: '2.0')", None),
    ('{"info": {}}', "it has no 'openapi:' version", None),
    ("- a list", "an OpenAPI description is a mapping", None),
], ids=["json", "yaml", "swagger", "no-version", "list"])
def test_an_unusable_description_is_one_positioned_error(tmp_path, text, message, position):
    path = write(tmp_path, "api.json" if text.startswith("{") else "api.yaml", text)
    with pytest.raises(DescriptionError) as caught:
        load_description(path)
    [error] = caught.value.diagnostics
    assert error.code == "PS601" and error.is_error and error.file == str(path)
    assert message in error.message
    if position:
        assert (error.line, error.column) == position
    if "JSON" in message:
        assert (error.line, error.column) == (2, 10)


def test_a_missing_description_or_referenced_file_is_an_error_naming_that_file(tmp_path):
    with pytest.raises(DescriptionError, match="cannot read the OpenAPI description"):
        load_description(tmp_path / "nope.json")
    path = write(tmp_path, "api.json", minimal(components={"schemas": {"A": {"$ref": "gone.json#/A"}}}))
    with pytest.raises(DescriptionError) as caught:
        load_description(path)
    [error] = caught.value.diagnostics
    assert error.code == "PS601" and error.file.endswith("gone.json")
    assert f"named by $ref 'gone.json#/A' at $.components.schemas.A in {path}" in error.message


def test_yaml_keys_become_strings_and_dates_stay_text(tmp_path):
    path = write(tmp_path, "api.yaml", """\
openapi: 3.0.3
info: {title: T, version: 2024-06-01}
paths:
  /x:
    get:
      responses:
        200: {description: ok}
""")
    d = load_description(path)
    assert d.data["info"]["version"] == "2024-06-01"
    assert list(d.data["paths"]["/x"]["get"]["responses"]) == ["200"]


def _aliases(levels: int) -> str:
    """An extension whose anchors nest ``levels`` deep, each used ten times by the next."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return ("openapi: 3.0.3\ninfo: {title: T, version: '1'}\npaths: {}\n"
            "x-aliases:\n" + "\n".join("  " + line for line in lines) + "\n")


def test_aliases_stay_shared(tmp_path):
    d = load_description(write(tmp_path, "api.yaml", _aliases(3)), validate_spec=False)  # 10**4 values expanded
    aliases = d.data["x-aliases"]
    assert aliases["a3"][0] is aliases["a2"]


@pytest.mark.parametrize("validate_spec", [True, False])
def test_an_alias_bomb_is_refused_at_once_rather_than_walked_expanded(tmp_path, validate_spec):
    """A regression: loading kept the bomb shared, but spec validation (and openapi-core) walk it
    expanded, and `portalspec check` ran until killed on 10**9 values."""
    path = write(tmp_path, "api.yaml", _aliases(8))
    with pytest.raises(DescriptionError) as caught:
        load_description(path, validate_spec=validate_spec)
    [d] = caught.value.diagnostics
    assert d.code == "PS601" and "expand past" in d.message and d.file == str(path)


def test_an_alias_that_refers_to_itself_is_refused(tmp_path):
    path = write(tmp_path, "api.yaml", "openapi: 3.0.3\ninfo: {title: T, version: '1'}\npaths: {}\n"
                                      "x-loop: &loop [1, *loop]\n")
    with pytest.raises(DescriptionError, match="refers to itself"):
        load_description(path)
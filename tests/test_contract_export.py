"""portalspec.contract.export (``portalspec openapi``): the OpenAPI 3.1 description of what a
destination must implement, valid for openapi-spec-validator, the same on every run.

Refresh the snapshots with ``PORTALSPEC_UPDATE_SNAPSHOTS=1 python -m pytest -q tests/test_export.py``
and review the diff."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given

import portalspec
from portalspec.cli import main
from portalspec.contract.export import dump, format_for, openapi, problems

from .conftest import EXAMPLES, MINIMAL, PROPERTY, edit
from .test_fuzz_definitions import SETTINGS, mutated_data

SNAPSHOTS = Path(__file__).resolve().parent / "data" / "export"
UPDATE = os.environ.get("PORTALSPEC_UPDATE_SNAPSHOTS") == "1"
SNAPSHOTTED = ("sendgrid-lists", "mailchimp-static-segments")


def export(text: str) -> dict[str, Any]:
    document = openapi(portalspec.load(text))
    assert problems(document) == []
    return document


def operation(document: dict[str, Any], operation_id: str) -> dict[str, Any]:
    found = [op for item in document["paths"].values() for op in item.values() if op["operationId"] == operation_id]
    assert len(found) == 1, operation_id
    return found[0]


def body(op: dict[str, Any]) -> dict[str, Any]:
    return op["requestBody"]["content"]["application/json"]["schema"]


def with_add_payload(text: str, payload: str) -> str:
    return edit(text, '/add\n    payload: |\n      {"userIds": $items}', "/add\n    payload: |\n      " + payload)


def parameters(op: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in op.get("parameters", ()) if p["in"] == where}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.parent.name for p in EXAMPLES])
def test_every_example_exports_a_valid_openapi_3_1_description(path):
    document = openapi(portalspec.load(path))
    assert document["openapi"] == "3.1.0"
    assert problems(document) == []
    # Every endpoint is an operation, named by the endpoints it stands for.
    named = {name for item in document["paths"].values() for op in item.values()
             for name in op["operationId"].split("_and_")}
    assert named == {e.name for e in portalspec.load(path).endpoints}


@pytest.mark.parametrize("name", SNAPSHOTTED)
def test_export_snapshot(name):
    text = dump(openapi(portalspec.load(Path("integrations") / name / "integration.yaml")))
    snapshot = SNAPSHOTS / f"{name}.openapi.yaml"
    if UPDATE:
        SNAPSHOTS.mkdir(parents=True, exist_ok=True)
        snapshot.write_text(text, encoding="utf-8")
    assert snapshot.is_file(), f"no snapshot {snapshot.name}; create it with PORTALSPEC_UPDATE_SNAPSHOTS=1"
    assert text == snapshot.read_text(encoding="utf-8")


def test_the_export_is_the_same_on_every_run_and_yaml_and_json_say_the_same():
    definition = portalspec.load(Path("integrations/braze-users-track/integration.yaml"))
    assert dump(openapi(definition)) == dump(openapi(portalspec.load(definition.file or "")))
    assert yaml.safe_load(dump(openapi(definition), "yaml")) == json.loads(dump(openapi(definition), "json"))
    assert format_for("x.json") == format_for("X.JSON") == "json"
    assert format_for("x.yaml") == format_for(None) == "yaml"


def test_paths_methods_and_path_parameters_come_from_the_urls():
    document = export(MINIMAL)
    assert document["servers"] == [{"url": "https://api.acme.example"}]
    assert list(document["paths"]) == ["/lists", "/lists/{list_id}/add", "/lists/{list_id}/remove"]
    add = operation(document, "add_users")
    assert document["paths"]["/lists/{list_id}/add"] == {"post": add}
    # $list_id is a path parameter; in a path it is text, whatever type create_list gave it.
    assert parameters(add, "path") == {"list_id": {"name": "list_id", "in": "path", "required": True,
                                                   "schema": {"type": "string"}}}


def test_the_request_body_is_the_payload_structure_with_items_as_an_array_of_the_item_schema():
    text = with_add_payload(MINIMAL, '{"userIds": $items, "source": "amplitude", "dry": false}')
    text = edit(text, "  add_users:\n    method: POST", "  add_users:\n    batch_size: 250\n    method: POST")
    add = operation(export(text), "add_users")
    assert add["requestBody"]["required"] is True
    assert body(add) == {"type": "object", "properties": {
        "userIds": {"type": "array", "items": {"type": "string"}, "maxItems": 250},
        "source": {"type": "string", "const": "amplitude"},
        "dry": {"type": "boolean", "const": False},
    }, "required": ["userIds", "source", "dry"]}
    remove = operation(export(text), "remove_users")
    assert body(remove)["properties"]["userIds"]["maxItems"] == 10000  # the default batch size


def test_each_variable_is_the_schema_of_its_value():
    text = MINIMAL.replace("custom_fields:\n", """custom_fields:
  - {variable: existing_only, display_name: Existing only, type: boolean, default: false}
  - {variable: weight, display_name: Weight, type: number}
  - {variable: token, display_name: Token, type: string, secret: true}
""")
    text = with_add_payload(text, '{"userIds": $items, "existing": $existing_only, "w": $weight, '
                            '"t": "$token", "r": "$region", "flag": "$existing_only", "at": "$now_iso", '
                            '"n": $now_epoch, "id": "$request_id", "label": "cohort $amp_cohort_name"}')
    properties = body(operation(export(text), "add_users"))["properties"]
    assert properties["existing"] == {"type": "boolean"}
    assert properties["w"] == {"type": "number"}
    assert properties["t"] == {"type": "string"}
    assert properties["r"] == {"type": "string", "enum": ["us", "eu"]}  # a select: its options
    assert properties["flag"] == {"type": "string", "enum": ["true", "false"]}  # a boolean written as text
    assert properties["at"] == {"type": "string", "format": "date-time"}
    assert properties["n"] == {"type": "integer", "minimum": 0}
    assert properties["id"] == {"type": "string", "format": "uuid"}
    assert properties["label"] == {"type": "string"}


def test_the_item_schema_keeps_optional_identifiers_optional_and_variable_keys_as_any_key():
    text = PROPERTY.replace("""mapping_fields:
  - variable: user_id
    mapping_display_name: User ID Mapping
    display_name: userId
""", """mapping_fields:
  - {variable: user_id, mapping_display_name: User ID Mapping, display_name: userId, required: false}
  - {variable: email, mapping_display_name: Email, display_name: Email, required: false}
""")
    text = edit(text, '{"userId": "$user_id",', '{"userId": "$user_id", "email": $email, "op": "$amp_operation",')
    item = body(operation(export(text), "update_users"))["properties"]["batch"]["items"]
    assert item["properties"]["userId"] == {"type": "string"}
    assert item["properties"]["email"] == {"type": "string"}  # mapping variables are strings
    assert item["properties"]["op"] == {"type": "string", "enum": ["add", "remove"]}
    assert item["required"] == ["op", "traits"]  # the optional identifiers may be left out
    assert item["properties"]["traits"] == {"type": "object", "properties": {},
                                            "additionalProperties": {"type": "boolean"}}


def test_query_parameters_fixed_parts_are_constants_and_items_a_comma_separated_array():
    text = edit(MINIMAL, """  remove_users:
    method: POST
    url: https://api.acme.example/lists/$list_id/remove
    payload: |
      {"userIds": $items}
    item_template: '"$user_id"'""", """  remove_users:
    method: DELETE
    url: https://api.acme.example/lists/$list_id/remove?mode=soft&ids=$items&key=$region
    item_template: '$user_id'
    batch_size: 100""")
    document = export(text)
    remove = document["paths"]["/lists/{list_id}/remove"]["delete"]
    assert "requestBody" not in remove
    query = parameters(remove, "query")
    assert query["mode"]["schema"] == {"type": "string", "const": "soft"}
    assert query["ids"] == {"name": "ids", "in": "query", "required": True, "style": "form", "explode": False,
                            "schema": {"type": "array", "items": {"type": "string"}, "maxItems": 100}}
    assert query["key"]["schema"] == {"type": "string", "enum": ["us", "eu"]}
    assert "URLs are at most 8000 bytes" in remove["description"]


def test_headers_are_header_parameters_and_content_type_the_media_type():
    text = edit(MINIMAL, "  X-Region: $region", "  X-Region: $region\n  X-Version: \"2024-01\"\n"
                "  Content-Type: application/vnd.api+json\n  Accept: application/json")
    add = operation(export(text), "add_users")
    headers = parameters(add, "header")
    assert headers == {
        "X-Region": {"name": "X-Region", "in": "header", "required": True,
                     "schema": {"type": "string", "enum": ["us", "eu"]}},
        "X-Version": {"name": "X-Version", "in": "header", "required": True,
                      "schema": {"type": "string", "const": "2024-01"}},
    }  # (OpenAPI ignores Content-Type, Accept and Authorization as header parameters)
    assert list(add["requestBody"]["content"]) == ["application/vnd.api+json"]


@pytest.mark.parametrize(("auth", "scheme"), [
    ("{method: bearer}", {"bearer": {"type": "http", "scheme": "bearer"}}),
    ("{method: basic}", {"basic": {"type": "http", "scheme": "basic"}}),
    ("{method: header, header_name: X-Api-Key}", {"header": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}}),
])
def test_the_security_scheme_is_the_auth_methods(auth, scheme):
    document = export(edit(MINIMAL, "auth:\n  method: bearer", "auth: " + auth))
    assert document["components"]["securitySchemes"] == scheme
    assert document["security"] == [{next(iter(scheme)): []}]
    header = scheme.get("header", {}).get("name")
    if header:  # the auth header is the scheme's, not a parameter too
        assert header not in parameters(operation(document, "add_users"), "header")


def test_an_authorization_header_of_the_definitions_own_is_an_api_key_and_no_auth_none():
    document = export(edit(MINIMAL, "auth:\n  method: bearer\nheaders:\n  X-Region: $region",
                           "auth:\n  method: none\nheaders:\n  X-Region: $region\n  Authorization: App $region"))
    assert document["components"]["securitySchemes"] == {"authorization": {
        "type": "apiKey", "in": "header", "name": "Authorization", "description": "Sent as `Authorization: App <region>`."}}
    none = export(edit(MINIMAL, "auth:\n  method: bearer", "auth:\n  method: none"))
    assert "components" not in none and "security" not in none


def test_a_base_url_select_lists_its_origins_as_servers_and_a_host_variable_is_a_server_variable():
    braze = openapi(portalspec.load(Path("integrations/braze-users-track/integration.yaml")))
    assert braze["servers"][0] == {"url": "https://rest.iad-01.braze.com", "description": "US-01"}
    assert len(braze["servers"]) == 11
    assert list(braze["paths"]) == ["/users/track"]
    relay = openapi(portalspec.load(Path("integrations/relay-header/integration.yaml")))
    assert relay["servers"] == [{"url": "https://{region}.relay.example", "variables": {
        "region": {"default": "us", "enum": ["us", "eu"], "description": "Region"}}}]


def test_endpoints_on_one_method_and_path_share_an_operation_whose_body_is_any_of_theirs():
    mailchimp = openapi(portalspec.load(Path("integrations/mailchimp-static-segments/integration.yaml")))
    shared = operation(mailchimp, "add_users_and_remove_users")
    assert [list(branch["properties"]) for branch in body(shared)["anyOf"]] == [["members_to_add"],
                                                                               ["members_to_remove"]]
    # A classification both give once; different messages for one status both described.
    assert shared["responses"]["401"]["description"].count("Mailchimp API key is invalid") == 1
    assert shared["responses"]["404"]["description"].count("Segment not found") == 2


def test_create_lists_response_holds_the_list_id_at_its_path():
    text = edit(MINIMAL, "path: listId\n    example_response: {\"listId\": 2568}",
                "path: $.data.lists[1].id\n    example_response: {\"data\": {\"lists\": [{}, {\"id\": 7}]}}")
    ok = export(text)["paths"]["/lists"]["post"]["responses"]["2XX"]
    media = ok["content"]["application/json"]
    assert media["schema"] == {"type": "object", "required": ["data"], "properties": {"data": {
        "type": "object", "required": ["lists"], "properties": {"lists": {
            "type": "array", "minItems": 2, "prefixItems": [{}, {"type": "object", "required": ["id"],
                                                                 "properties": {"id": {"type": "integer"}}}]}}}}}
    assert media["example"] == {"data": {"lists": [{}, {"id": 7}]}}
    header = export(edit(MINIMAL, "path: listId\n    example_response: {\"listId\": 2568}",
                         "from: response_header\n      path: X-List-Id"))
    assert header["paths"]["/lists"]["post"]["responses"]["2XX"]["headers"] == {
        "X-List-Id": {"required": True, "schema": {"type": "string"}}}


def test_error_classifications_are_responses_with_their_sub_error_codes():
    text = edit(MINIMAL, "    example_response: {\"listId\": 2568}\n", """    example_response: {"listId": 2568}
    errors:
      - {status: 429, reason: Rate limited, message: Slow down.}
      - {status: 400, sub_error_code: {"error": {"code": 7}}, message: Bad list name.}
""")
    responses = export(text)["paths"]["/lists"]["post"]["responses"]
    assert list(responses) == ["2XX", "400", "429"]
    assert responses["429"] == {"description": 'Rate limited: Amplitude shows the customer "Slow down."'}
    assert responses["400"]["content"]["application/json"]["schema"] == {
        "type": "object", "required": ["error"], "properties": {
            "error": {"type": "object", "required": ["code"], "properties": {"code": {"const": 7}}}}}


def test_limits_are_stated_in_the_operations_description():
    text = MINIMAL.replace("endpoints:\n", "rate_limit: {requests: 10, per_seconds: 1}\nendpoints:\n")
    text = edit(text, "  add_users:\n    method: POST", "  add_users:\n    max_body_bytes: 5000\n    method: POST")
    add = operation(export(text), "add_users")
    assert "at most 10 requests every 1 seconds" in add["description"]
    assert "Bodies are at most 5000 bytes." in add["description"]


def test_cli_writes_yaml_to_stdout_and_json_or_yaml_by_the_files_suffix(tmp_path):
    example = str(EXAMPLES[0])
    runner = CliRunner()
    out = runner.invoke(main, ["openapi", example])
    assert out.exit_code == 0
    assert out.output == dump(openapi(portalspec.load(example)))
    target = tmp_path / "api.json"
    written = runner.invoke(main, ["openapi", example, "-o", str(target)])
    assert written.exit_code == 0
    assert json.loads(target.read_text(encoding="utf-8")) == openapi(portalspec.load(example))
    forced = runner.invoke(main, ["openapi", example, "--format", "json"])
    assert json.loads(forced.output)["openapi"] == "3.1.0"


def test_cli_refuses_an_invalid_definition_with_its_diagnostics(write):
    path = write(edit(MINIMAL, "  X-Region: $region", "  X-Region: $regoin"))
    result = CliRunner().invoke(main, ["openapi", str(path)])
    assert result.exit_code == 1
    assert "error[PS201]" in result.output and "Traceback" not in result.output


@SETTINGS
@given(mutated_data())
def test_every_definition_that_validates_exports_a_valid_description(data):
    try:
        definition = portalspec.load(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    except portalspec.DefinitionError:
        return  # (only valid definitions are exported)
    assert problems(openapi(definition)) == []


def test_a_literal_brace_in_a_url_is_percent_encoded_not_a_template():
    # (found by the property test above: openapi-spec-validator crashed on the unclosed brace)
    document = export(edit(MINIMAL, "url: https://api.acme.example/lists\n", "url: https://api.acme.example/{lists\n"))
    assert "/%7Blists" in document["paths"]

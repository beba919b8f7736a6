"""portalspec.contract.draft (``portalspec init --from-openapi``): a definition drafted from a
partner's OpenAPI description validates, takes what the description says, and marks with a
``# DECIDE:`` comment each choice the description leaves to a person."""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
import portalspec
from portalspec.contract.draft import DECIDE, Draft, Operations, draft
from portalspec.auth import AUTH_METHODS
from portalspec.contract.check import ContractReport, check_contract
from portalspec.contract.load import Description, load_description
from portalspec.values import resolve_fields
from portalspec.diagnostics import InputError

LIST_API: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Acme Lists", "version": "1"},
    "servers": [{"url": "https://api.acme.example/v2"}],
    "security": [{"bearer": []}],
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    "paths": {
        "/lists": {"post": {
            "operationId": "createList",
            "parameters": [{"name": "Acme-Version", "in": "header", "required": True,
                            "schema": {"type": "string", "enum": ["2024-06-01"]}}],
            "requestBody": {"content": {"application/json": {"schema": {
                "type": "object", "required": ["name", "source"],
                "properties": {"name": {"type": "string"}, "source": {"type": "string", "enum": ["api", "amplitude"]},
                               "notes": {"type": "string"}}}}}},
            "responses": {"201": {"description": "created", "content": {"application/json": {"schema": {
                "type": "object", "required": ["list"], "properties": {"list": {
                    "type": "object", "required": ["id"], "properties": {"id": {"type": "integer", "example": 4417}}}}}}}},
                "401": {"description": "bad key"}}}},
        "/lists/{listId}/members": {
            "parameters": [{"name": "listId", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "post": {
                "operationId": "addMembers",
                "description": "Adds up to 500 members. Rate limit: 10 requests per second.",
                "parameters": [{"name": "Acme-Version", "in": "header", "required": True,
                                "schema": {"type": "string", "enum": ["2024-06-01"]}}],
                "requestBody": {"content": {"application/json": {"schema": {
                    "type": "object", "required": ["members"], "properties": {"members": {
                        "type": "array", "maxItems": 500, "items": {
                            "type": "object", "required": ["email"],
                            "properties": {"email": {"type": "string", "format": "email"},
                                           "vip": {"type": "boolean"}}}}}}}}},
                "responses": {"202": {"description": "accepted"}, "429": {"description": "slow down"}}},
            "delete": {
                "operationId": "removeMembers",
                "parameters": [{"name": "Acme-Version", "in": "header", "required": True,
                                "schema": {"type": "string", "enum": ["2024-06-01"]}},
                               {"name": "emails", "in": "query", "required": True, "style": "form", "explode": False,
                                "schema": {"type": "array", "maxItems": 100, "items": {"type": "string"}}}],
                "responses": {"202": {"description": "accepted"}}},
        },
        "/users/batch": {"post": {
            "operationId": "batchUsers",
            "requestBody": {"content": {"application/json": {"schema": {
                "type": "object", "required": ["users"], "properties": {"users": {
                    "type": "array", "items": {"type": "object", "required": ["userId"], "properties": {
                        "userId": {"type": "string"},
                        "traits": {"type": "object", "additionalProperties": {"type": "boolean"}}}}}}}}}},
            "responses": {"200": {"description": "ok"}}}},
    },
}
LIST_OPS = Operations(create="createList", add="addMembers", remove="removeMembers")


def drafted(description: dict[str, Any], operations: Operations = LIST_OPS, **options: Any) -> Draft:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "openapi.json"
        path.write_text(json.dumps(description), encoding="utf-8")
        return draft(load_description(path), operations, schema_path="integration.schema.json", **options)


def written(tmp_path: Path, result: Draft) -> Path:
    for name, text in (("integration.yaml", result.definition), ("values.yaml", result.values),
                       ("users.csv", result.users)):
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path / "integration.yaml"


def data(result: Draft) -> dict[str, Any]:
    return yaml.safe_load(result.definition)


def decided(result: Draft, *path: Any) -> list[str]:
    return [d.note for d in result.decisions if d.path == path]


def decisions_written(text: str) -> list[str]:
    """Each ``# DECIDE:`` comment of a draft, its wrapped lines joined."""
    notes: list[str] = []
    for line in text.splitlines():
        comment = line.strip()[2:] if line.strip().startswith("# ") else None
        if comment is not None and comment.startswith(DECIDE):
            notes.append(comment)
        elif comment is not None and notes and not line.startswith("# "):
            notes[-1] += " " + comment
    return notes


def with_changes(**changes: Any) -> dict[str, Any]:
    description = copy.deepcopy(LIST_API)
    description.update(changes)
    return description


def test_a_list_draft_validates_renders_and_takes_what_the_description_says(tmp_path):
    result = drafted(LIST_API)
    path = written(tmp_path, result)
    assert [d.format() for d in portalspec.validate(path) if d.is_error] == []
    definition = data(result)
    assert definition["type"] == "list"
    assert definition["auth"] == {"method": "bearer"}
    assert definition["headers"] == {"Acme-Version": "2024-06-01"}  # one allowed value: no decision
    create, add, remove = (definition["endpoints"][n] for n in ("create_list", "add_users", "remove_users"))
    assert create["url"] == "https://api.acme.example/v2/lists"
    assert create["payload"].strip() == '{"name": "[Amplitude] $amp_cohort_name: $amp_cohort_id", "source": "api"}'
    assert create["list_id"] == {"path": "list.id"}
    assert create["example_response"] == {"list": {"id": 4417}}  # made from the schema and its example
    assert add["url"] == "https://api.acme.example/v2/lists/$list_id/members"
    assert add["payload"].strip() == '{"members": $items}'
    assert add["item_template"].strip() == '{"email": "$email"}'
    assert add["batch_size"] == 500
    assert remove["url"] == "https://api.acme.example/v2/lists/$list_id/members?emails=$items"
    assert "payload" not in remove and remove["batch_size"] == 100
    assert definition["mapping_fields"][0]["variable"] == "email"
    # The users file's emails are emails, as the item schema's format asks.
    assert result.users.splitlines()[1:3] == ["add,ada1@example.com,Beta users,1234", "add,ada2@example.com,Beta users,1234"]
    integration = portalspec.compile(portalspec.load(path))
    values = portalspec.load_values(tmp_path / "values.yaml")
    users = portalspec.read_users(tmp_path / "users.csv", integration.definition, values)
    assert [r.endpoint for r in integration.render(values, users)] == ["create_list", "add_users", "remove_users"]


def test_each_decision_is_a_comment_above_its_line(tmp_path):
    result = drafted(LIST_API)
    assert decided(result, "endpoints", "create_list", "payload") == [
        "source is set to the description's first allowed value: 'api'"]
    assert decided(result, "endpoints", "add_users", "rate_limit") == [
        'read from the description\'s words "10 requests per second"; is the limit per customer, per key or '
        "shared?"]
    lines = result.definition.splitlines()
    comment = lines.index(f"    # {DECIDE} source is set to the description's first allowed value: 'api'")
    assert lines[comment + 1] == "    payload: |"
    written_notes = decisions_written(result.definition)
    assert sorted(written_notes) == sorted(f"{DECIDE} {d.note}" for d in dict.fromkeys(result.decisions))


def test_limits_stated_in_words_become_the_endpoints_limits():
    add = data(drafted(LIST_API))["endpoints"]["add_users"]
    assert add["rate_limit"] == {"requests": 10, "per_seconds": 1}


def test_a_limit_stated_without_a_number_is_left_to_a_person():
    description = copy.deepcopy(LIST_API)
    description["paths"]["/lists/{listId}/members"]["post"]["description"] = "Calls are throttled per account."
    result = drafted(description)
    assert "rate_limit" not in data(result)["endpoints"]["add_users"]
    assert decided(result, "endpoints", "add_users") == [
        "the description states a rate limit (the operation's description: \"Calls are throttled per account.\"); "
        "declare it with rate_limit if it applies"]


def test_several_servers_become_a_base_url_select(tmp_path):
    result = drafted(with_changes(servers=[{"url": "https://api.acme.example/v2", "description": "US"},
                                           {"url": "https://api.eu.acme.example/v2", "description": "EU"}]))
    definition = data(result)
    [field] = definition["custom_fields"]
    assert field == {"variable": "base_url", "display_name": "Data center", "type": "single_select",
                     "options": [{"label": "US", "value": "https://api.acme.example"},
                                 {"label": "EU", "value": "https://api.eu.acme.example"}],
                     "default": "https://api.acme.example"}
    assert definition["endpoints"]["create_list"]["url"] == "$base_url/v2/lists"
    assert decided(result, "custom_fields")
    assert [d.format() for d in portalspec.validate(written(tmp_path, result)) if d.is_error] == []


def test_a_server_variable_in_the_host_is_a_field():
    result = drafted(with_changes(servers=[{"url": "https://{region}.acme.example/v2", "variables": {
        "region": {"default": "us", "enum": ["us", "eu"]}}}]))
    definition = data(result)
    assert definition["endpoints"]["create_list"]["url"] == "https://$region.acme.example/v2/lists"
    assert definition["custom_fields"][0]["options"] == [{"label": "us", "value": "us"}, {"label": "eu", "value": "eu"}]


@pytest.mark.parametrize(("scheme", "auth", "decides"), [
    ({"type": "http", "scheme": "basic"}, {"method": "basic"}, False),
    ({"type": "apiKey", "in": "header", "name": "X-Api-Key"}, {"method": "header", "header_name": "X-Api-Key"}, False),
    ({"type": "apiKey", "in": "header", "name": "Authorization"}, {"method": "header", "header_name": "Authorization"},
     True),  # (is it `Bearer <key>`? the description does not say)
    ({"type": "oauth2", "flows": {"clientCredentials": {"tokenUrl": "https://auth.acme.example/token",
                                                        "scopes": {"lists.write": "write lists"}}}},
     {"method": "oauth2", "grant": "client_credentials", "token_url": "https://auth.acme.example/token",
      "scopes": ["lists.write"]}, True),  # (client_auth: the description cannot say)
    ({"type": "openIdConnect", "openIdConnectUrl": "https://acme.example/.well-known/openid-configuration"},
     {"method": "none"}, True),
])
def test_auth_comes_from_the_security_scheme(tmp_path, scheme, auth, decides):
    result = drafted(with_changes(components={"securitySchemes": {"bearer": scheme}}))
    assert data(result)["auth"] == auth
    assert bool(decided(result, "auth")) is decides
    path = written(tmp_path, result)
    assert [d.format() for d in portalspec.validate(path) if d.is_error] == []
    # Every credential (and field) has a value in values.yaml: resolving them raises otherwise.
    assert set(resolve_fields(portalspec.load(path), portalspec.load_values(tmp_path / "values.yaml"))) >= {
        v.name for v in AUTH_METHODS[auth["method"]].declared(auth)}


def test_an_api_key_in_the_query_is_a_secret_field_in_every_url(tmp_path):
    result = drafted(with_changes(components={"securitySchemes": {"bearer": {
        "type": "apiKey", "in": "query", "name": "key"}}}))
    definition = data(result)
    assert definition["auth"] == {"method": "none"}
    assert {"variable": "api_key", "display_name": "API Key", "type": "string", "secret": True} \
        in definition["custom_fields"]
    assert all(e["url"].endswith("key=$api_key") for e in definition["endpoints"].values())
    assert [d.format() for d in portalspec.validate(written(tmp_path, result)) if d.is_error] == []


def test_a_required_header_without_a_value_is_a_field_the_customer_fills_in():
    description = copy.deepcopy(LIST_API)
    description["paths"]["/lists"]["post"]["parameters"].append(
        {"name": "X-Account", "in": "header", "required": True, "schema": {"type": "string"}})
    definition = data(drafted(description))
    assert definition["endpoints"]["create_list"]["headers"] == {"X-Account": "$x_account"}
    assert {"variable": "x_account", "display_name": "X-Account", "type": "string"} in definition["custom_fields"]


def test_a_property_draft_puts_the_cohort_flag_in_the_items_open_object(tmp_path):
    result = drafted(LIST_API, Operations(update="batchUsers"))
    definition = data(result)
    assert definition["type"] == "property"
    update = definition["endpoints"]["update_users"]
    assert update["item_template"].strip() == \
        '{"userId": "$user_id", "traits": {"[Amplitude] $amp_cohort_name": $amp_in_cohort}}'
    assert decided(result, "endpoints", "update_users")  # no maxItems: the default batch size
    assert [d.format() for d in portalspec.validate(written(tmp_path, result)) if d.is_error] == []


def test_a_path_parameter_followed_by_a_name_character_is_braced_and_a_dollar_in_a_path_doubled(tmp_path):
    description = copy.deepcopy(LIST_API)
    description["paths"]["/li$ts/{listId}_v2/members"] = description["paths"].pop("/lists/{listId}/members")
    result = drafted(description)
    assert data(result)["endpoints"]["add_users"]["url"] == "https://api.acme.example/v2/li$$ts/${list_id}_v2/members"
    assert [d.format() for d in portalspec.validate(written(tmp_path, result)) if d.is_error] == []


def test_a_dollar_in_the_descriptions_values_is_written_as_a_literal_dollar(tmp_path):
    description = copy.deepcopy(LIST_API)
    description["paths"]["/lists"]["post"]["requestBody"]["content"]["application/json"]["schema"][
        "properties"]["source"] = {"type": "string", "const": "$amplitude"}
    result = drafted(description)
    assert '"source": "$$amplitude"' in data(result)["endpoints"]["create_list"]["payload"]
    assert [d.format() for d in portalspec.validate(written(tmp_path, result)) if d.is_error] == []


def test_unknown_operations_and_incomplete_sets_are_refused_clearly():
    with pytest.raises(InputError, match="no operation 'createLst' in the description; did you mean 'createList'"):
        drafted(LIST_API, Operations(create="createLst", add="addMembers", remove="removeMembers"))
    with pytest.raises(InputError, match="--create, --add and --remove"):
        drafted(LIST_API, Operations(create="createList", add="addMembers"))
    with pytest.raises(InputError, match="--update alone"):
        drafted(LIST_API, Operations(create="createList", add="addMembers", remove="removeMembers",
                                     update="batchUsers"))


SENDGRID = Path(__file__).resolve().parent / "data" / "openapi" / "sendgrid" / "oas_v3.json"
SENDGRID_LISTS = Operations(create="POST_mc-lists", add="PUT_mc-contacts", remove="DELETE_mc-lists-id-contacts")


def test_the_sendgrid_lists_draft_validates_and_follows_sendgrids_own_description(tmp_path):
    result = draft(load_description(SENDGRID), SENDGRID_LISTS, schema_path="integration.schema.json")
    path = written(tmp_path, result)
    assert [d.format() for d in portalspec.validate(path) if d.is_error] == []
    definition = data(result)
    assert definition["auth"] == {"method": "header", "header_name": "Authorization"}
    create, add, remove = (definition["endpoints"][n] for n in ("create_list", "add_users", "remove_users"))
    assert create["list_id"] == {"path": "id"}
    assert create["example_response"]["id"] == "ca7a3796-e8a8-4029-9ccb-df8937940562"  # SendGrid's example
    assert add["payload"].strip() == '{"list_ids": ["$list_id"], "contacts": $items}'
    assert add["item_template"].strip() == '{"email": "$email"}'
    assert (add["method"], add["batch_size"], add["max_body_bytes"]) == ("PUT", 30000, 6000000)
    assert remove == {"method": "DELETE", "item_template": "$contact_id", "errors": remove["errors"],
                      "url": "https://api.sendgrid.com/v3/marketing/lists/$list_id/contacts?contact_ids=$items"}
    # What a person must settle: the Authorization key's spelling, the category, the customers'
    # messages, the "6MB" reading and remove's batch size (SendGrid states none).
    assert sorted({d.path for d in result.decisions}) == [
        ("auth",), ("category",), ("endpoints", "add_users", "errors"), ("endpoints", "add_users", "max_body_bytes"),
        ("endpoints", "create_list", "errors"), ("endpoints", "remove_users"), ("endpoints", "remove_users", "errors")]


def undecided(result: Draft, report: ContractReport, description: Description) -> list[str]:
    """The check's findings about the draft that no decision of the draft covers (findings that
    name the description itself, such as its failing spec validation, are about the vendor)."""
    decided_paths = {d.path for d in result.decisions}
    return [f.diagnostic.format() for f in report.findings if f.diagnostic.file != description.file
            and not any(f.diagnostic.path[:len(p)] == p for p in decided_paths)]


@pytest.mark.parametrize("given_samples", [False, True], ids=["generated samples", "the draft's values and users"])
@pytest.mark.parametrize(("spec", "operations"), [
    (SENDGRID, SENDGRID_LISTS),
    (Path(__file__).resolve().parent / "data" / "openapi" / "acme" / "openapi.yaml",
     Operations(create="createList", add="addMembers", remove="removeMembers")),
], ids=["sendgrid", "acme"])
def test_a_draft_checks_clean_against_its_description_apart_from_its_decisions(tmp_path, spec, operations,
                                                                               given_samples):
    description = load_description(spec)
    result = draft(description, operations, schema_path="integration.schema.json")
    definition = portalspec.load(written(tmp_path, result))
    values = portalspec.load_values(tmp_path / "values.yaml") if given_samples else None
    users = portalspec.read_users(tmp_path / "users.csv", definition, values) if values else None
    report = check_contract(definition, [description], values=values, users=users)
    assert undecided(result, report, description) == []
    assert report.valid and all(e.operation is not None for e in report.endpoints)

"""portalspec.contract.check: a definition against its partner's OpenAPI description.

ACME matches tests/data/openapi/acme (a 3.1 description in YAML with its paths and schemas in
other files); each test plants one mismatch and expects one diagnostic, with its code, at the
line and column of what is at fault."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from portalspec.contract.check import ContractReport, check_contract
from portalspec.contract.export import dump, openapi
from portalspec.contract.load import load_description
from portalspec.diagnostics import InputError, Severity
from portalspec.validate import load
from portalspec.values import Cohort, User, Values

from .conftest import EXAMPLES, EXAMPLES_DIR, at, edit, pos

DATA = Path(__file__).parent / "data" / "openapi"
ACME_SPEC = DATA / "acme" / "openapi.yaml"
SENDGRID_SPEC = DATA / "sendgrid" / "oas_v3.json"

ACME = """\
portalspec: 1
name: acme-lists
display_name: Acme Lists
type: list
auth: {method: bearer}
headers:
  Acme-Version: "2024-06-01"
mapping_fields:
  - variable: user_id
    mapping_display_name: User ID Mapping
    display_name: User ID
  - variable: email
    mapping_display_name: Email Mapping
    display_name: Email
endpoints:
  create_list:
    method: POST
    url: https://api.acme.example/v2/lists
    payload: |
      {"name": "[Amplitude] $amp_cohort_name", "source": "amplitude"}
    list_id:
      path: list.id
    example_response: {"list": {"id": 4417, "name": "[Amplitude] Beta testers"}}
  add_users:
    method: POST
    url: https://api.acme.example/v2/lists/$list_id/members
    payload: |
      {"members": $items}
    item_template: '{"id": "$user_id", "email": "$email", "subscribed": true}'
    batch_size: 500
    rate_limit: {requests: 10, per_seconds: 1}
  remove_users:
    method: DELETE
    url: https://api.acme.example/v2/lists/$list_id/members
    payload: |
      {"ids": $items}
    item_template: '"$user_id"'
    batch_size: 500
"""


@pytest.fixture
def check(write):
    """Check definition text against descriptions (default: Acme's); the report."""

    def _check(text: str, *specs: Path, **options) -> ContractReport:
        definition = load(write(text))
        return check_contract(definition, [load_description(s) for s in specs or (ACME_SPEC,)], **options)

    return _check


def errors(report: ContractReport) -> list:
    return [f for f in report.findings if f.diagnostic.is_error]


def test_a_definition_that_matches_its_description_passes_without_a_word(check):
    report = check(ACME)
    assert report.findings == () and report.valid
    assert [(e.endpoint, e.operation) for e in report.endpoints] == [
        ("create_list", "POST /lists (createList)"),
        ("add_users", "POST /lists/{listId}/members (addMembers)"),
        ("remove_users", "DELETE /lists/{listId}/members (removeMembers)")]
    assert all(e.description == str(ACME_SPEC) for e in report.endpoints)
    # Hostile variants ran: the cohort name and the user id go where any string is accepted.
    assert report.samples > 1 and report.requests == 3 * report.samples


PLANTS = {
    # name: (old, new, code, where the diagnostic points: (needle, nth) in the planted text)
    "wrong enum value": ('"source": "amplitude"', '"source": "amplitde"', "PS614", ('"source"', 0)),
    "body key missing": (', "source": "amplitude"', "", "PS614", ('{"name"', 0)),
    "type mismatch inside the item": ('"subscribed": true', '"subscribed": "yes"', "PS614", ('"subscribed"', 0)),
    "batch_size over maxItems": ("    batch_size: 500\n    rate_limit", "    batch_size: 1000\n    rate_limit", "PS630",
                                 ("1000", 0)),
    "list_id.path not in the response schema": (
        "      path: list.id\n    example_response: {\"list\": {\"id\": 4417,",
        "      path: list.uuid\n    example_response: {\"list\": {\"id\": 4417, \"uuid\": 7,", "PS621",
        ("list.uuid", 0)),
    "wrong content type": ("    rate_limit:", "    headers: {Content-Type: application/vnd.api+json}\n    rate_limit:",
                           "PS613", ("application/vnd.api+json", 0)),
}


@pytest.mark.parametrize("plant", PLANTS, ids=list(PLANTS))
def test_each_planted_mismatch_is_found_once_with_its_code_at_its_line(check, plant):
    old, new, code, (needle, nth) = PLANTS[plant]
    text = edit(ACME, old, new)
    report = check(text)
    assert [f.diagnostic.code for f in report.findings] == [code], [f.diagnostic.format() for f in report.findings]
    [finding] = report.findings
    d = finding.diagnostic
    assert d.is_error and not report.valid
    assert pos(d) == at(text, needle, nth)
    assert d.source_line == text.splitlines()[d.line - 1]
    assert finding.operation is not None and finding.description == str(ACME_SPEC)


def test_a_body_mismatch_gives_the_json_path_in_the_body_and_the_schema_rule(check):
    report = check(edit(ACME, '"subscribed": true', '"subscribed": "yes"'))
    [finding] = report.findings
    assert finding.body_path == "$.members[0].subscribed"
    assert finding.rule == (f'type: "boolean" at {ACME_SPEC}#/paths/~1lists~1{{listId}}~1members/post/requestBody/'
                            "content/application~1json/schema/properties/members/items/properties/subscribed/type")
    assert finding.diagnostic.json_path == "$.endpoints.add_users.item_template"
    assert "at $.members[0].subscribed: 'yes' is not of type 'boolean'" in finding.diagnostic.message
    assert finding.diagnostic.hint == f"rule {finding.rule}"
    missing = check(edit(ACME, ', "source": "amplitude"', "")).findings[0]
    assert missing.body_path == "$" and missing.rule.startswith('required: ["name", "source"] at ')
    assert "'source' is a required property" in missing.diagnostic.message


def test_a_missing_required_header_is_found_for_every_endpoint_at_its_key(check):
    text = edit(ACME, 'headers:\n  Acme-Version: "2024-06-01"\n', "")
    report = check(text)
    assert [f.diagnostic.code for f in report.findings] == ["PS611"] * 3
    for finding, endpoint in zip(report.findings, ("create_list", "add_users", "remove_users")):
        assert pos(finding.diagnostic) == at(text, f"  {endpoint}:", plus=2)
        assert "requires the header 'Acme-Version'" in finding.diagnostic.message


def test_a_wrong_header_enum_value_points_at_the_header(check):
    text = edit(ACME, 'Acme-Version: "2024-06-01"', 'Acme-Version: "2024-01-01"')
    report = check(text)
    assert {f.diagnostic.code for f in report.findings} == {"PS612"}
    assert {pos(f.diagnostic) for f in report.findings} == {at(text, '"2024-01-01"')}
    assert report.findings[0].rule.startswith('enum: ["2024-06-01"] at ')


def test_a_rate_limit_the_description_states_is_reported_when_the_definition_declares_none(check):
    text = edit(ACME, "    rate_limit: {requests: 10, per_seconds: 1}\n", "")
    report = check(text)
    [finding] = report.findings
    d = finding.diagnostic
    assert (d.code, d.severity) == ("PS631", Severity.WARNING) and report.valid
    assert pos(d) == at(text, "  add_users:", plus=2)
    assert "Rate limit: 10 requests per second per API key." in d.message


@pytest.mark.parametrize("old, new, needle, words", [
    ("url: https://api.acme.example/v2/lists/$list_id/members\n    payload: |\n      {\"members\"",
     "url: https://api.acme.example/v2/list/$list_id/members\n    payload: |\n      {\"members\"",
     "https://api.acme.example/v2/list/", "the closest path is /lists/{listId}/members"),
    ("method: DELETE", "method: PATCH", "PATCH", "has no PATCH operation"),
    ("url: https://api.acme.example/v2/lists\n", "url: https://api.acme.test/v2/lists\n",
     "https://api.acme.test", "is not a server of 'Acme Lists API'"),
], ids=["path", "method", "server"])
def test_a_request_no_operation_matches_is_ps610_at_the_url_or_method(check, old, new, needle, words):
    text = edit(ACME, old, new)
    report = check(text)
    [finding] = report.findings
    assert finding.diagnostic.code == "PS610"
    assert pos(finding.diagnostic) == at(text, needle)
    assert words in finding.diagnostic.format()


def test_an_example_response_that_does_not_fit_the_response_schema_is_ps620_inside_it(check):
    text = edit(ACME, '"name": "[Amplitude] Beta testers"', '"name": 12')
    report = check(text)
    [finding] = report.findings
    assert finding.diagnostic.code == "PS620" and finding.body_path == "$.list.name"
    assert pos(finding.diagnostic) == at(text, "12}}")
    assert finding.rule.startswith('type: "string" at ')


def test_the_wrong_credentials_are_ps615_at_the_auth_method(check):
    text = edit(ACME, "auth: {method: bearer}", "auth: {method: header, header_name: X-Api-Key}")
    report = check(text)
    [finding] = {f.diagnostic.code: f for f in report.findings}.values()
    assert finding.diagnostic.code == "PS615" and pos(finding.diagnostic) == at(text, "header,")
    assert "bearer (http bearer)" in finding.diagnostic.message


def test_the_sendgrid_lists_example_checks_clean_against_sendgrids_own_description(check):
    text = (EXAMPLES_DIR / "sendgrid-lists" / "integration.yaml").read_text(encoding="utf-8")
    report = check(text, SENDGRID_SPEC)
    # Only the description's own flaw: it fails openapi-spec-validator and is used anyway.
    assert [(f.diagnostic.code, f.diagnostic.file) for f in report.findings] == [("PS602", str(SENDGRID_SPEC))]
    assert report.valid
    assert [e.operation for e in report.endpoints] == [
        "POST /v3/marketing/lists (POST_mc-lists)", "PUT /v3/marketing/contacts (PUT_mc-contacts)",
        "DELETE /v3/marketing/lists/{id}/contacts (DELETE_mc-lists-id-contacts)"]


def test_sendgrid_batch_size_over_its_30000_contacts_and_a_dropped_body_limit_are_found(check):
    text = (EXAMPLES_DIR / "sendgrid-lists" / "integration.yaml").read_text(encoding="utf-8")
    text = edit(edit(text, "batch_size: 30000", "batch_size: 50000"), "    max_body_bytes: 6000000\n", "")
    report = check(text, SENDGRID_SPEC)
    found = {f.diagnostic.code: f.diagnostic for f in report.findings}
    assert sorted(found) == ["PS602", "PS630", "PS632"]
    assert pos(found["PS630"]) == at(text, "50000")
    assert "maxItems" in found["PS630"].message and "30,000" in found["PS630"].message
    assert "6MB" in found["PS632"].message and found["PS632"].severity is Severity.WARNING


def test_given_values_and_users_are_used_as_they_are(check):
    values = Values({"bearer_token": "t0k3n"}, {"user_id": "user_id", "email": "email"},
                    Cohort("c1", "Beta testers"))
    users = [User("add", {"user_id": "u1", "email": "a@example.com"}), User("remove", {"user_id": "u2", "email": ""})]
    report = check(ACME, values=values, users=users)
    assert report.findings == () and report.samples == 1 + 4  # given values, plus hostile cohort names
    broken = Values({"bearer_token": "t0k3n", "nope": 1}, {"user_id": "user_id", "email": "email"})
    with pytest.raises(InputError, match="unknown field 'nope'"):
        check(ACME, values=broken)


# A description whose path parameter has a pattern: a generated value cannot know it.
ACCOUNTS = {
    "openapi": "3.0.3", "info": {"title": "Accounts", "version": "1"},
    "servers": [{"url": "https://api.accounts.example"}],
    "paths": {"/accounts/{account}/lists": {
        "parameters": [{"name": "account", "in": "path", "required": True,
                        "schema": {"type": "string", "pattern": "^[0-9]+$"}}],
        "post": {"operationId": "createList",
                 "requestBody": {"content": {"application/json": {"schema": {
                     "type": "object", "required": ["title"], "properties": {"title": {"type": "string"}}}}}},
                 "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {
                     "type": "object", "properties": {"id": {"type": "string"}}}}}}}}},
        "/accounts/{account}/lists/{list}/members": {
            "parameters": [{"name": "account", "in": "path", "required": True,
                            "schema": {"type": "string", "pattern": "^[0-9]+$"}},
                           {"name": "list", "in": "path", "required": True, "schema": {"type": "string"}}],
            "post": {"requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {
                "contact": {"oneOf": [
                    {"type": "object", "required": ["email"], "properties": {"email": {"type": "string"}}},
                    {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}]},
                "members": {"type": "array", "items": {"type": "string"}}}}}}},
                     "responses": {"200": {"description": "ok"}}},
            "delete": {"parameters": [{"name": "ids", "in": "query", "required": True, "schema": {"type": "string"}}],
                       "responses": {"200": {"description": "ok"}}}}},
}

ACCOUNTS_DEF = """\
portalspec: 1
name: accounts
display_name: Accounts
type: list
auth: {method: none}
custom_fields:
  - {variable: account, display_name: Account number, type: string}
mapping_fields:
  - {variable: user_id, mapping_display_name: User ID Mapping, display_name: User ID}
endpoints:
  create_list:
    method: POST
    url: https://api.accounts.example/accounts/$account/lists
    payload: '{"title": "$amp_cohort_name"}'
    list_id: {path: id}
    example_response: {"id": "l-1"}
  add_users:
    method: POST
    url: https://api.accounts.example/accounts/$account/lists/$list_id/members
    payload: '{"contact": {"id": "x"}, "members": $items}'
    item_template: '"$user_id"'
  remove_users:
    method: DELETE
    url: https://api.accounts.example/accounts/$account/lists/$list_id/members?ids=$items
    items_separator: ","
    item_template: '$user_id'
"""


@pytest.fixture
def accounts(tmp_path):
    def _spec(**changes) -> Path:
        spec = json.loads(json.dumps(ACCOUNTS))
        for where, value in changes.items():
            node = spec
            *parents, last = where.split("|")
            for key in parents:
                node = node[int(key) if key.isdigit() else key]
            node[last] = value
        path = tmp_path / "accounts.json"
        path.write_text(json.dumps(spec), encoding="utf-8")
        return path

    return _spec


def test_a_failure_only_a_generated_value_causes_is_a_warning_not_an_error(check, accounts):
    report = check(ACCOUNTS_DEF, accounts())
    generated = [f for f in report.findings if f.diagnostic.code == "PS616"]
    assert generated and all(f.diagnostic.severity is Severity.WARNING for f in generated)
    assert report.valid and errors(report) == []
    first = generated[0].diagnostic
    assert "'sample-account' does not match '^[0-9]+$'" in first.message
    assert "only with a generated value: sample values" in first.message and "would be PS612" in first.hint
    # A real value that breaks the same rule is the definition's (its values') error.
    given = Values({"account": "acct-9"}, {"user_id": "user_id"}, Cohort("c1", "Beta"))
    assert {f.diagnostic.code for f in errors(check(ACCOUNTS_DEF, accounts(), values=given))} == {"PS612"}


def test_the_descriptions_own_example_is_the_generated_value(check, accounts):
    spec = accounts(**{"paths|/accounts/{account}/lists|parameters|0|schema|example": "4711"})
    report = check(ACCOUNTS_DEF, spec)
    assert not [f for f in report.findings if "'sample-account'" in f.diagnostic.message]
    assert report.findings == ()


def test_an_overlapping_one_of_is_a_warning_naming_the_description(check, accounts):
    # Both branches' required keys: valid under each, so oneOf (exactly one) can never pass.
    text = edit(ACCOUNTS_DEF, '{"contact": {"id": "x"}', '{"contact": {"id": "x", "email": "a@example.com"}')
    spec = accounts(**{"paths|/accounts/{account}/lists|parameters|0|schema|example": "4711"})
    report = check(text, spec)
    [finding] = report.findings
    d = finding.diagnostic
    assert (d.code, d.severity, d.file) == ("PS605", Severity.WARNING, str(spec))
    assert d.line is None and "oneOf" in d.message and finding.body_path == "$.contact"
    assert d.json_path.endswith(".schema.properties.contact.oneOf")
    assert report.valid


def test_hostile_values_go_only_where_any_string_is_accepted_and_a_failure_they_cause_is_theirs(check, accounts):
    spec = accounts(**{"paths|/accounts/{account}/lists|parameters|0|schema|example": "4711"})
    text = edit(ACCOUNTS_DEF, 'items_separator: ","', 'items_separator: ","\n    max_url_bytes: 600')
    report = check(text, spec)
    [finding] = report.findings  # a 1,000-character user id alone overflows the URL
    d = finding.diagnostic
    assert (d.code, d.severity) == ("PS616", Severity.WARNING)
    assert finding.sample == "a long string in $user_id" and "max_url_bytes" in d.message
    assert d.message.startswith("with a long string in $user_id, the requests cannot be rendered: remove_users:")
    assert pos(d) == at(text, "  remove_users:", plus=2)
    # The account number has a pattern: no hostile account numbers were tried.
    assert report.samples == 1 + 4 * 2  # cohort name and user id, 4 hostile values each


def test_a_secret_in_a_message_is_masked(check, tmp_path):
    spec = tmp_path / "keyed.json"
    described = json.loads(json.dumps(ACCOUNTS))
    for item in described["paths"].values():
        for key in ("post", "delete"):
            if key in item:
                item[key].setdefault("parameters", []).append(
                    {"name": "X-Api-Key", "in": "header", "required": True,
                     "schema": {"type": "string", "pattern": "^key-[0-9]+$"}})
    spec.write_text(json.dumps(described), encoding="utf-8")
    text = edit(ACCOUNTS_DEF, "auth: {method: none}", "auth: {method: header, header_name: X-Api-Key}")
    values = Values({"api_key": "supersecret-123", "account": "4711"}, {"user_id": "user_id"}, Cohort("c", "C"))
    report = check(text, spec, values=values)
    shown = [f.diagnostic.format() for f in report.findings if f.diagnostic.code == "PS612"]
    assert shown and not any("supersecret" in s for s in shown)
    assert any("********" in s for s in shown)


def test_checking_never_reaches_the_network(check, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert check(ACME).valid


def test_a_part_of_the_description_openapi_core_cannot_use_is_a_warning_and_never_a_traceback(check, accounts):
    spec = accounts(**{
        "paths|/accounts/{account}/lists|parameters|0|schema|example": "4711",
        # a pattern that is not a regular expression, and a header carried as JSON content
        "paths|/accounts/{account}/lists|post|requestBody|content|application/json|schema|properties|title|pattern":
            "(unclosed",
        "paths|/accounts/{account}/lists|post|parameters": [
            {"name": "X-Trace", "in": "header", "content": {"application/json": {}}}]})
    report = check(edit(ACCOUNTS_DEF, "auth: {method: none}", "auth: {method: none}\nheaders: {X-Trace: abc}"), spec)
    found = {f.diagnostic.code: f.diagnostic for f in report.findings}
    assert sorted(found) == ["PS606", "PS612"]
    assert found["PS606"].severity is Severity.WARNING and found["PS606"].file == str(spec)
    assert "unterminated subpattern" in found["PS606"].message
    assert "MediaTypeDeserializeError" in found["PS612"].message  # openapi-core's own str() of it fails


def test_a_body_the_operation_does_not_declare_is_a_warning(check):
    text = (EXAMPLES_DIR / "sendgrid-lists" / "integration.yaml").read_text(encoding="utf-8")
    text = edit(text, "    items_separator: \",\"\n", "    items_separator: \",\"\n    payload: '{\"why\": 1}'\n")
    report = check(text, SENDGRID_SPEC)
    [finding] = [f for f in report.findings if f.diagnostic.code == "PS613"]
    assert finding.diagnostic.severity is Severity.WARNING and report.valid
    assert "declares no request body" in finding.diagnostic.message
    assert pos(finding.diagnostic) == at(text, '{"why"')


def test_each_endpoint_that_matches_no_operation_is_reported_and_counted(check):
    text = ACME.replace("https://api.acme.example", "https://api.acme.test")
    report = check(text)
    assert [f.diagnostic.code for f in report.findings] == ["PS610"] * 3
    assert [pos(f.diagnostic) for f in report.findings] == [at(text, "https://api.acme.test", n) for n in range(3)]
    assert all(e.operation is None and e.requests > 0 for e in report.endpoints)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_example_checks_clean_against_its_own_export(example, tmp_path):
    """The round trip: what `portalspec openapi` writes is a contract the definition keeps,
    endpoints with their own auth (PS520) included."""
    definition = load(example)
    spec = tmp_path / "openapi.yaml"
    spec.write_text(dump(openapi(definition)), encoding="utf-8")
    report = check_contract(definition, [load_description(spec)])
    assert [f.diagnostic.format() for f in report.findings] == []
    assert all(e.operation is not None for e in report.endpoints)


def test_wrong_credentials_of_an_endpoints_own_auth_point_at_that_auth(check, tmp_path):
    example = EXAMPLES_DIR / "customerio-segments" / "integration.yaml"
    spec = tmp_path / "openapi.yaml"
    spec.write_text(dump(openapi(load(example))), encoding="utf-8")
    own = "    auth: {method: bearer, fields: {bearer_token: app_api_key}}"
    text = example.read_text(encoding="utf-8")
    text = text.replace(own, "    auth: {method: header, header_name: X-Key, fields: {api_key: app_api_key}}", 1)
    report = check(text, spec)
    [finding] = report.findings
    assert finding.diagnostic.code == "PS615" and "find_list" in finding.diagnostic.message
    assert pos(finding.diagnostic) == at(text, "header, header_name: X-Key")

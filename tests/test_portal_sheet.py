"""portalspec.portal_sheet: the Developer Portal's form, field by field, in its order."""

from __future__ import annotations

from portalspec.portal_sheet import portal_sheet
from portalspec.validate import load

from .conftest import FINDS, MINIMAL, OWN_AUTH, PROPERTY, REPO, edit


def rows(sections, title):
    return {row.label: row.text for s in sections if s.title == title for row in s.rows}


def test_the_sections_follow_the_portal_form():
    assert [s.title for s in portal_sheet(load(MINIMAL))] == [
        "Connection info", "Integration type", "Authentication", "Additional Headers",
        "Custom field 1: Region", "Mapping field 1: User ID Mapping",
        "List creation endpoint", "Add users endpoint", "Remove users endpoint"]
    assert [s.title for s in portal_sheet(load(PROPERTY))][-1] == "Property-based update endpoint"


def test_each_row_is_the_exact_text_to_paste():
    sheet = portal_sheet(load(REPO / "integrations" / "infobip" / "integration.yaml"))
    assert rows(sheet, "Connection info")["Display Name"] == "Infobip"
    assert rows(sheet, "Integration type") == {"Integration type": "List-based"}
    assert rows(sheet, "Authentication") == {"Authentication method for all API calls": "No authentication"}
    assert rows(sheet, "Additional Headers") == {"Header Name": "Authorization", "Header Value": "App $api_key"}
    assert rows(sheet, "Custom field 1: API Key") == {"Field Type": "String",
                                                      "Field variable name used in payload": "api_key",
                                                      "Display name": "API Key"}
    create = rows(sheet, "List creation endpoint")
    assert create["Path to List ID in the response"] == "listId"
    assert create["List ID is in the request instead of the response"] == "no"
    assert create["Payload"].startswith('{"name": "[Amplitude] $amp_cohort_name: $amp_cohort_id",')
    assert create["Error 1: Status Code"] == "401" and create["Error 1: Failure Reason"] == "Unauthorized"
    add = rows(sheet, "Add users endpoint")
    assert add["Item template"] == '"$user_id_field_amplitude"'
    assert add["Maximum number of items in each API call (batch size)"] == "10000"
    assert add["Error 1: Sub Error Code"] == '{"error_code": 1000}'


def test_options_defaults_header_auth_and_a_list_id_in_the_request():
    text = edit(MINIMAL, "method: bearer", "method: header\n  header_name: X-Api-Key")
    text = edit(text, "path: listId", "from: request_body\n      path: name")
    sheet = portal_sheet(load(text))
    assert rows(sheet, "Authentication")["Header Name"] == "X-Api-Key"
    region = rows(sheet, "Custom field 1: Region")
    assert region["Field Type"] == "Single Select" and region["Default Value"] == "us"
    assert region["Option 'Europe': value"] == "eu"
    create = rows(sheet, "List creation endpoint")
    assert create["List ID is in the request instead of the response"] == "yes"
    assert create["Path to List ID in the request"] == "name"


def test_a_lookup_has_no_place_in_the_portals_form():
    assert [s.title for s in portal_sheet(load(FINDS))] == [s.title for s in portal_sheet(load(MINIMAL))]


def test_an_endpoints_own_auth_is_shown_with_a_note():
    sheet = portal_sheet(load(OWN_AUTH))
    row = next(r for s in sheet if s.title == "List creation endpoint" for r in s.rows
               if r.label == "Authentication (this endpoint)")
    assert row.text == "Basic Authentication (api_key: $site_id, secret_key: $app_key)" and "one method" in row.note
    assert "Authentication (this endpoint)" not in rows(sheet, "Add users endpoint")

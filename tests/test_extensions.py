"""Targets: every construct beyond the Developer Portal's form is a note under `portalspec`
and an error under `portal` — exactly those constructs, each with its code and position."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from portalspec import Severity, validate
from portalspec.cli import main
from portalspec.extensions import EXTENSIONS

from .conftest import EXAMPLES, FINDS, MINIMAL, OWN_AUTH, PROPERTY, at, edit, pos

# One definition per construct: (code, definition text, the text the diagnostic points at).
CONSTRUCTS = {
    "PS501": (edit(MINIMAL, "X-Region: $region", "X-Region: ${region}"), "${region}"),
    "PS502": (edit(MINIMAL, '{"name": "[Amplitude] $amp_cohort_name"}',
                   '{"name": "[Amplitude] $amp_cohort_name", "at": "$now_iso"}'), "$now_iso"),
    "PS503": (edit(MINIMAL, "    url: https://api.acme.example/lists\n",
                   "    url: https://api.acme.example/lists\n    headers: {X-Once: '1'}\n"), "headers: {X-Once"),
    "PS504": (edit(MINIMAL, "      path: listId\n", "      from: response_header\n      path: X-List-Id\n")
              .replace('example_response: {"listId": 2568}', 'example_response: {"X-List-Id": "7"}'),
              "response_header"),
    "PS505": (edit(MINIMAL, "      path: listId", "      path: $.listId"), "$.listId"),
    "PS506": (edit(MINIMAL, "  create_list:\n    method: POST", "  create_list:\n    method: PUT"), "PUT"),
    "PS507": (edit(MINIMAL, "X-Region: $region", "X-Region: $region\n  Content-Type: application/vnd.api+json"),
              "Content-Type"),
    "PS508": (edit(MINIMAL, '{"name": "[Amplitude] $amp_cohort_name"}', '{"name": "$amp_cohort_name", "x": $flag}')
              .replace("mapping_fields:", "  - {variable: flag, display_name: Flag, type: boolean, default: false}\n"
                                          "mapping_fields:"), "boolean"),
    "PS509": (edit(MINIMAL, "    display_name: User ID\n", "    display_name: User ID\n    transform: [trim, sha256]\n"),
              "[trim, sha256]"),
    "PS510": (edit(MINIMAL, "    display_name: User ID\n", "    display_name: User ID\n    required: false\n")
              .replace("""item_template: '"$user_id"'""", """item_template: '{"id": "$user_id"}'"""), "false"),
    "PS511": (edit(MINIMAL, "url: https://api.acme.example/lists\n", "url: $base/lists\n")
              .replace("mapping_fields:", "  - {variable: base, display_name: Base, type: origin,"
                                          " default: 'https://api.acme.example'}\nmapping_fields:"), "origin, default"),
    "PS512": (edit(MINIMAL, """    url: https://api.acme.example/lists/$list_id/add
    payload: |
      {"userIds": $items}
    item_template: '"$user_id"'""", """    url: https://api.acme.example/lists/$list_id/users/$user_id
    batch_size: 1
    payload: '{"user": $item}'
    item_template: '{"in": true}'"""), "$user_id"),
    "PS513": (edit(MINIMAL, """    url: https://api.acme.example/lists/$list_id/remove
    payload: |
      {"userIds": $items}
    item_template: '"$user_id"'""", """    url: https://api.acme.example/lists/$list_id/remove?ids=$items
    item_template: '$user_id'"""), "remove_users:"),
    "PS514": (edit(MINIMAL, """    url: https://api.acme.example/lists/$list_id/remove
    payload: |
      {"userIds": $items}""", """    url: https://api.acme.example/lists/$list_id/remove?ids=$items
    payload: '{"x": 1}'"""), "$items\n    payload: '{\"x\""),
    "PS515": (edit(MINIMAL, "auth:\n  method: bearer\n",
                   "auth:\n  method: oauth2\n  grant: client_credentials\n"
                   "  token_url: https://auth.acme.example/token\n"), "oauth2"),
    "PS516": (edit(MINIMAL, "      path: listId", "      from: request_body\n      path: name")
              .replace('    example_response: {"listId": 2568}', "    exists_on: [409]"), "exists_on:"),
    "PS517": (edit(FINDS, "    exists_on: [409]\n", ""), "find_list:"),
    "PS518": (edit(MINIMAL, "mapping_fields:", "rate_limit: {requests: 5, per_seconds: 1}\nmapping_fields:"),
              "rate_limit:"),
    "PS520": (OWN_AUTH, "auth: {method: basic"),
    "PS519": (edit(MINIMAL, """    item_template: '"$user_id"'\n  remove_users""",
                   """    item_template: '"$user_id"'\n    max_body_bytes: 100000\n  remove_users"""), "100000"),
}


# Constructs that cannot come alone: a body-less request carries its users in the URL.
ALSO = {"PS513": {"PS514"}}


def test_every_extension_in_the_table_has_a_construct_here():
    assert sorted(CONSTRUCTS) == sorted(e.code for e in EXTENSIONS)


@pytest.mark.parametrize("code", sorted(CONSTRUCTS))
def test_the_portal_target_rejects_each_construct_at_its_place(code):
    text, anchor = CONSTRUCTS[code]
    assert not [d for d in validate(text) if d.is_error]  # valid for portalspec
    found = [d for d in validate(text, target="portal") if d.code.startswith("PS5")]
    assert {d.code for d in found} == {code} | ALSO.get(code, set())
    diag = next(d for d in found if d.code == code)
    assert diag.severity is Severity.ERROR and diag.message.startswith("the Developer Portal cannot express this")
    assert pos(diag) == at(text, anchor)


@pytest.mark.parametrize("code", sorted(CONSTRUCTS))
def test_the_portalspec_target_lists_each_construct_as_a_note(code):
    text, _ = CONSTRUCTS[code]
    notes = [d for d in validate(text, target="portalspec") if d.code.startswith("PS5")]
    assert {(d.code, d.severity) for d in notes} == {(c, Severity.NOTE) for c in {code} | ALSO.get(code, set())}


def test_a_portal_shaped_definition_has_no_construct_beyond_the_form():
    assert validate(MINIMAL, target="portal") == []
    assert validate(MINIMAL) == validate(MINIMAL, target="portalspec") == []


def test_without_a_target_nothing_beyond_the_form_is_reported():
    assert validate(CONSTRUCTS["PS501"][0]) == []


# What each example shipped in integrations/ uses beyond the portal's form (the closing note
# lists the same): a change here means an example started or stopped needing one.
EXAMPLE_EXTENSIONS = {
    "braze-cohort-import": {'PS502', 'PS511', 'PS518'},
    "braze-users-track": {'PS502', 'PS508', 'PS511', 'PS518'},
    "mailchimp-static-segments": set(),
    "meta-custom-audiences": {'PS509'},
    "onesignal-tags": {"PS502", "PS512", "PS518"},
    "iterable-lists": {"PS508", "PS510", "PS511"},
    "sendgrid-lists": {"PS513", "PS514", "PS519"},
    "customerio-segments": {"PS511", "PS517", "PS518", "PS520"},
    "hubspot-lists": {"PS515", "PS517", "PS518"},
    "flagsmith": set(),
    "infobip": set(),
    "nested-audiences": set(),
    "relay-basic": {"PS505"},
    "relay-header": {"PS501", "PS502", "PS503", "PS505"},
    "segment-identify": {"PS502"},
}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_each_example_is_flagged_for_exactly_what_the_portal_lacks(path):
    codes = {d.code for d in validate(path, target="portal") if d.is_error}
    assert codes == EXAMPLE_EXTENSIONS[path.parent.name]


def test_the_cli_target_option(tmp_path):
    definition = tmp_path / "d.yaml"
    definition.write_text(CONSTRUCTS["PS501"][0])
    notes = CliRunner().invoke(main, ["validate", str(definition)])
    assert notes.exit_code == 0 and "note[PS501]" in notes.output
    assert "valid (0 errors, 0 warnings); 1 construct beyond the portal's form" in notes.output
    refused = CliRunner().invoke(main, ["validate", "--target", "portal", str(definition)])
    assert refused.exit_code == 1 and "error[PS501]: the Developer Portal cannot express this" in refused.output
    assert "nearest portal way" in refused.output


def test_a_property_definition_flags_its_trait_macro():
    assert {d.code for d in validate(PROPERTY, target="portal")} == {"PS502"}

"""portalspec.diff: one test per classification rule, and the positions of each change."""

from __future__ import annotations

import pytest

from portalspec.diff import Impact, diff_documents, squeeze_json
from portalspec.loader import parse_document
from portalspec.validate import check_document

from .conftest import FINDS, MINIMAL, PROPERTY, at, edit


def changes(old: str, new: str, *, valid: bool = True) -> list[tuple[str, str]]:
    """(impact, rule) of every change from ``old`` to ``new``; both must be valid definitions
    unless ``valid`` is false."""
    before, after = parse_document(old, "old.yaml"), parse_document(new, "new.yaml")
    if valid:
        for document in (before, after):
            assert [d.format() for d in check_document(document) if d.is_error] == []
    return [(c.impact.value, c.rule) for c in diff_documents(before, after).changes]


def only(old: str, new: str, **options: bool) -> tuple[str, str]:
    found = changes(old, new, **options)
    assert len(found) == 1, found
    return found[0]


def test_the_same_definition_has_no_change():
    assert changes(MINIMAL, MINIMAL) == []


def test_reordering_fields_and_options_is_not_a_change():
    reordered = edit(MINIMAL, """      - {label: United States, value: us}
      - {label: Europe, value: eu}""", """      - {label: Europe, value: eu}
      - {label: United States, value: us}""")
    assert changes(MINIMAL, reordered) == []


# --- breaking -------------------------------------------------------------------------------

def test_a_removed_variable_is_breaking():
    new = edit(MINIMAL, "headers:\n  X-Region: $region\n", "")
    new = edit(new, new[new.index("custom_fields:"):new.index("mapping_fields:")], "")
    assert ("breaking", "variable-removed") in changes(MINIMAL, new)


def test_a_rename_is_breaking_even_when_the_new_name_is_used_everywhere():
    renamed = edit(MINIMAL, "$region", "$area")
    renamed = edit(renamed, "variable: region", "variable: area")
    assert changes(MINIMAL, renamed) == [("breaking", "variable-renamed"), ("risky", "header-changed")]


def test_a_renamed_mapping_variable_is_breaking():
    renamed = edit(MINIMAL, "$user_id", "$external_id", count=2)
    renamed = edit(renamed, "variable: user_id", "variable: external_id")
    assert ("breaking", "variable-renamed") in changes(MINIMAL, renamed)
    assert ("risky", "payload-changed") in changes(MINIMAL, renamed)


def test_a_required_custom_field_added_without_a_default_is_breaking():
    new = edit(MINIMAL, "mapping_fields:", """  - variable: account
    display_name: Account
    type: string
mapping_fields:""")
    new = edit(new, '{"name": "[Amplitude] $amp_cohort_name"}', '{"name": "[Amplitude] $amp_cohort_name", "account": "$account"}')
    assert changes(MINIMAL, new) == [("breaking", "required-field-added"), ("risky", "payload-changed")]


def test_a_custom_field_added_with_a_default_is_safe():
    new = edit(MINIMAL, "mapping_fields:", """  - variable: tier
    display_name: Tier
    type: button_group
    options: [{label: Free, value: free}, {label: Paid, value: paid}]
    default: free
mapping_fields:""")
    new = edit(new, "  X-Region: $region\n", "  X-Region: $region\n  X-Tier: $tier\n")
    assert changes(MINIMAL, new) == [("risky", "header-changed"), ("safe", "optional-field-added")]


def test_an_added_mapping_field_is_breaking():
    new = edit(MINIMAL, "endpoints:", """  - variable: email
    mapping_display_name: Email Mapping
    display_name: Email
endpoints:""")
    new = edit(new, "item_template: '\"$user_id\"'", "item_template: '{\"id\": \"$user_id\", \"email\": \"$email\"}'",
               count=2)
    assert ("breaking", "required-field-added") in changes(MINIMAL, new)


def test_a_changed_auth_method_is_breaking():
    assert only(MINIMAL, edit(MINIMAL, "method: bearer", "method: none")) == ("breaking", "auth-method-changed")


OAUTH2 = edit(MINIMAL, "auth:\n  method: bearer\n",
              "auth:\n  method: oauth2\n  grant: client_credentials\n  token_url: https://a.example/t\n")


def test_a_changed_oauth2_grant_is_breaking_and_other_oauth2_settings_risky():
    assert only(OAUTH2, OAUTH2.replace("client_credentials", "refresh_token")) == ("breaking", "auth-grant-changed")
    assert only(OAUTH2, OAUTH2.replace("a.example/t", "a.example/token")) == ("risky", "other-change")
    assert changes(MINIMAL, OAUTH2) == [("breaking", "auth-method-changed"), ("risky", "other-change")]  # (token_url)


def test_a_changed_list_id_path_is_breaking():
    new = edit(MINIMAL, "path: listId", "path: data.id")
    new = edit(new, 'example_response: {"listId": 2568}', 'example_response: {"data": {"id": 2568}}')
    assert changes(MINIMAL, new) == [("breaking", "list-id-changed"), ("safe", "example-changed")]


def test_a_changed_list_id_source_is_breaking():
    new = edit(MINIMAL, "path: listId", "from: response_header\n      path: X-List-Id")
    new = edit(new, 'example_response: {"listId": 2568}', 'example_response: {"X-List-Id": "2568"}')
    assert changes(MINIMAL, new) == [("breaking", "list-id-changed"), ("breaking", "list-id-changed"),
                                     ("safe", "example-changed")]


def test_moving_an_endpoint_that_addresses_existing_lists_is_breaking():
    new = edit(MINIMAL, "https://api.acme.example/lists/$list_id/add", "https://api.acme.example/v2/lists/$list_id/add")
    assert only(MINIMAL, new) == ("breaking", "list-endpoint-moved")
    assert only(MINIMAL, edit(MINIMAL, "method: POST\n    url: https://api.acme.example/lists/$list_id/remove",
                              "method: DELETE\n    url: https://api.acme.example/lists/$list_id/remove")) \
        == ("breaking", "list-endpoint-moved")


def test_moving_create_list_or_changing_a_query_is_risky_not_breaking():
    moved = edit(MINIMAL, "url: https://api.acme.example/lists\n", "url: https://api.acme.example/v2/lists\n")
    assert only(MINIMAL, moved) == ("risky", "endpoint-changed")
    query = edit(MINIMAL, "/lists/$list_id/add", "/lists/$list_id/add?mode=upsert")
    assert only(MINIMAL, query) == ("risky", "endpoint-changed")


def test_a_changed_type_is_breaking():
    found = changes(MINIMAL, PROPERTY)
    assert ("breaking", "type-changed") in found
    assert ("breaking", "endpoint-removed") in found and ("breaking", "endpoint-added") in found


def test_a_removed_select_option_is_breaking():
    new = edit(MINIMAL, "      - {label: Europe, value: eu}\n", "")
    assert only(MINIMAL, new) == ("breaking", "option-removed")


def test_a_transform_added_changed_or_removed_on_a_mapping_field_is_breaking():
    plain = PROPERTY
    lower = edit(PROPERTY, "    display_name: userId\n", "    display_name: userId\n    transform: [trim, lower]\n")
    hashed = edit(lower, "transform: [trim, lower]", "transform: [email, sha256]")
    assert only(plain, lower) == ("breaking", "transform-changed")
    assert only(lower, hashed) == ("breaking", "transform-changed")
    assert only(lower, plain) == ("breaking", "transform-changed")


def test_an_optional_mapping_field_is_safe_to_add_and_breaking_to_make_required():
    optional = edit(MINIMAL, "endpoints:", """  - variable: email
    mapping_display_name: Email Mapping
    display_name: Email
    required: false
endpoints:""")
    optional = edit(optional, "item_template: '\"$user_id\"'\n  remove_users",
                    "item_template: '{\"id\": \"$user_id\", \"email\": \"$email\"}'\n  remove_users")
    assert changes(MINIMAL, optional) == [("risky", "payload-changed"), ("safe", "optional-field-added")]
    required = edit(optional, "    required: false\n", "")
    assert only(optional, required) == ("breaking", "required-field-added")
    assert only(required, optional) == ("safe", "field-made-optional")


# --- risky ----------------------------------------------------------------------------------

def test_a_payload_shape_change_is_risky_and_a_reformatting_safe():
    shape = edit(MINIMAL, '{"userIds": $items}', '{"users": $items}', count=2)
    assert changes(MINIMAL, shape) == [("risky", "payload-changed")] * 2
    spaced = edit(MINIMAL, '{"userIds": $items}', '{\n      "userIds":   $items\n      }', count=2)
    assert changes(MINIMAL, spaced) == [("safe", "payload-reformatted")] * 2


def test_an_item_template_change_is_risky():
    new = edit(MINIMAL, "item_template: '\"$user_id\"'\n  remove_users", "item_template: '{\"id\": \"$user_id\"}'\n"
               "  remove_users")
    assert only(MINIMAL, new) == ("risky", "payload-changed")


def test_a_header_added_removed_or_changed_is_risky():
    added = edit(MINIMAL, "  X-Region: $region\n", "  X-Region: $region\n  X-Client: amplitude\n")
    assert only(MINIMAL, added) == ("risky", "header-changed")
    changed = edit(MINIMAL, "X-Region: $region", "X-Region: region-$region")
    assert only(MINIMAL, changed) == ("risky", "header-changed")
    endpoint = edit(MINIMAL, "    url: https://api.acme.example/lists\n",
                    "    url: https://api.acme.example/lists\n    headers: {X-Mode: create}\n")
    assert only(MINIMAL, endpoint) == ("risky", "header-changed")
    header_auth = edit(MINIMAL, "method: bearer", "method: header\n  header_name: X-Api-Key")
    assert only(header_auth, edit(header_auth, "X-Api-Key", "X-Key")) == ("risky", "header-changed")


def test_a_raised_batch_size_is_risky_and_a_lowered_one_safe():
    sized = edit(MINIMAL, "item_template: '\"$user_id\"'\n  remove_users", "item_template: '\"$user_id\"'\n"
                 "    batch_size: 500\n  remove_users")
    assert only(MINIMAL, sized) == ("safe", "batch-size-lowered")  # from the default, 10000
    assert only(sized, MINIMAL) == ("risky", "batch-size-raised")


def test_a_field_type_change_is_risky():
    new = edit(MINIMAL, "type: single_select", "type: button_group")
    assert only(MINIMAL, new) == ("risky", "field-type-changed")


def test_a_field_no_longer_secret_is_risky():
    secret = edit(MINIMAL, "    default: us\n", "    default: us\n    secret: true\n")
    assert only(secret, MINIMAL) == ("risky", "secret-unset")
    assert only(MINIMAL, secret) == ("safe", "display-text-changed")


def test_a_renamed_integration_is_risky():
    assert only(MINIMAL, edit(MINIMAL, "name: acme", "name: acme-v2")) == ("risky", "name-changed")


# --- safe -----------------------------------------------------------------------------------

def test_display_text_is_safe():
    new = edit(MINIMAL, "display_name: Acme", "display_name: Acme Corp")
    new = edit(new, "display_name: Region", "display_name: Data region")
    new = edit(new, "mapping_display_name: User ID Mapping", "mapping_display_name: Identity")
    new = edit(new, "label: Europe", "label: European Union")
    new = edit(new, "type: list", "type: list\nsummary: Lists for Acme.")
    assert changes(MINIMAL, new) == [("safe", "display-text-changed")] * 5


def test_an_added_option_error_table_and_default_are_safe():
    new = edit(MINIMAL, "      - {label: Europe, value: eu}\n", "      - {label: Europe, value: eu}\n"
               "      - {label: Asia, value: ap}\n")
    new = edit(new, "default: us", "default: eu")
    new = edit(new, 'example_response: {"listId": 2568}', 'example_response: {"listId": 2568}\n'
               '    errors: [{status: 401, message: "Wrong key."}]')
    assert sorted(changes(MINIMAL, new)) == [("safe", "default-changed"), ("safe", "errors-changed"),
                                             ("safe", "option-added")]


# --- positions and the report ---------------------------------------------------------------

def test_each_change_is_positioned_in_both_files():
    new = "# a comment moving every line down\n" + edit(MINIMAL, "path: listId", "path: id")
    new = edit(new, 'example_response: {"listId": 2568}', 'example_response: {"id": 2568}')
    report = diff_documents(parse_document(MINIMAL, "old.yaml"), parse_document(new, "new.yaml"))
    change = report.changes[0]
    assert change.rule == "list-id-changed"
    assert (change.old.file, change.old.line, change.old.column) == ("old.yaml", *at(MINIMAL, "listId"))
    assert (change.new.file, change.new.line, change.new.column) == ("new.yaml", *at(new, "path: id", plus=6))
    assert change.old.to_dict()["path"] == "$.endpoints.create_list.list_id.path"


def test_an_added_field_points_at_the_enclosing_list_in_the_old_file():
    new = edit(MINIMAL, "mapping_fields:", "  - {variable: tier, display_name: Tier, type: string, default: x}\n"
               "mapping_fields:")
    new = edit(new, "  X-Region: $region\n", "  X-Region: $region\n  X-Tier: $tier\n")
    report = diff_documents(parse_document(MINIMAL, "old.yaml"), parse_document(new, "new.yaml"))
    added = next(c for c in report.changes if c.rule == "optional-field-added")
    assert added.old.path == ("custom_fields",) and added.old.line == at(MINIMAL, "  - variable: region")[0]
    assert added.new.path == ("custom_fields", 1, "variable")


def test_breaking_changes_come_first_and_the_report_counts_them():
    new = edit(MINIMAL, "display_name: Acme", "display_name: Acme Corp")
    new = edit(new, "method: bearer", "method: none")
    report = diff_documents(parse_document(MINIMAL, "old.yaml"), parse_document(new, "new.yaml"))
    assert [c.impact for c in report.changes] == [Impact.BREAKING, Impact.SAFE]
    assert report.breaking and report.to_dict()["breaking"] == 1 and report.to_dict()["safe"] == 1


def test_unknown_keys_are_risky_rather_than_ignored():
    new = edit(MINIMAL, "portalspec: 1\n", "portalspec: 1\nx_future: 1\n")
    assert only(MINIMAL, new, valid=False) == ("risky", "other-change")


@pytest.mark.parametrize("text, squeezed", [
    ('{ "a" : [ 1, 2 ] }', '{"a":[1,2]}'),
    ('{"a b": "c  d"}', '{"a b":"c  d"}'),
    ('{"q": "say \\"hi  there\\"", "n":\n $items}', '{"q":"say \\"hi  there\\"","n":$items}'),
])
def test_squeeze_keeps_strings_and_drops_formatting(text: str, squeezed: str):
    assert squeeze_json(text) == squeezed


def test_a_lookup_is_safe_to_add_and_risky_to_remove():
    without = edit(FINDS, "    exists_on: [409]\n", "")
    with_lookup = without
    bare = edit(without, without[without.index("  find_list:"):without.index("  create_list:")], "")
    assert only(bare, with_lookup) == ("safe", "lookup-added")
    assert only(with_lookup, bare) == ("risky", "lookup-removed")

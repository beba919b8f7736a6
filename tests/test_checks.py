"""Semantic checks: each rule's code, severity and the line/column it points at."""

from __future__ import annotations

import pytest

from portalspec import Severity, validate
from portalspec.checks import CHECKS, run_checks

from .conftest import FINDS, MINIMAL, OWN_AUTH, PROPERTY, at, codes, edit, only, pos

ADD_PAYLOAD = '      {"userIds": $items}\n    item_template: \'"$user_id"\'\n  remove_users'
CREATE_PAYLOAD = '{"name": "[Amplitude] $amp_cohort_name"}'
CREATE_URL = "url: https://api.acme.example/lists\n"
LIST_ID = '    list_id:\n      path: listId\n    example_response: {"listId": 2568}\n'
REMOVE_USERS = MINIMAL[MINIMAL.index("  remove_users:"):]  # the tail of MINIMAL, to cut or move it


def add_payload(payload: str, item_template: str | None = "'\"$user_id\"'") -> str:
    """MINIMAL with the add_users payload (one line of a block scalar) and item template replaced."""
    item = f"\n    item_template: {item_template}" if item_template is not None else ""
    return edit(MINIMAL, ADD_PAYLOAD, f"      {payload}{item}\n  remove_users")


def test_the_minimal_definitions_are_clean():
    assert validate(MINIMAL) == []
    assert validate(PROPERTY) == []


def test_checks_ignore_data_that_is_not_a_mapping():
    assert list(run_checks(None, None)) == [] and list(run_checks(["a"], None)) == []
    for check in CHECKS:  # each survives values of the wrong type where it looks
        assert list(check({"endpoints": [], "custom_fields": {}, "headers": [], "auth": "x", "type": 3}, None)) == []


# --- variables --------------------------------------------------------------------------

def test_unknown_variable_is_ps201_at_the_use_with_did_you_mean():
    text = edit(MINIMAL, CREATE_PAYLOAD, '{"name": "[Amplitude] $amp_cohort_nam"}')
    d = only(validate(text), "PS201")
    assert pos(d) == at(text, "$amp_cohort_nam")  # the line inside the block scalar
    assert d.hint == "did you mean 'amp_cohort_name'?"
    assert d.json_path == "$.endpoints.create_list.payload"
    assert d.is_error


def test_unknown_variable_in_a_header_and_a_url():
    text = edit(MINIMAL, "  X-Region: $region", "  X-Region: $regoin")
    text = edit(text, "lists/$list_id/remove", "lists/$list_id/$nothing_like_it")
    diags = [d for d in validate(text) if d.code == "PS201"]
    assert [pos(d) for d in diags] == [at(text, "$regoin"), at(text, "$nothing_like_it")]
    assert diags[0].hint == "did you mean 'region'?"
    assert diags[1].hint is None


def test_unknown_variable_braced_points_at_the_dollar():
    text = edit(MINIMAL, "  X-Region: $region", "  X-Region: ${region}-${zone}")
    assert pos(only(validate(text), "PS201")) == at(text, "${zone}")


def test_declared_but_unused_is_warning_ps202_at_the_declaration():
    text = edit(MINIMAL, "  X-Region: $region", "  X-Region: us")
    d = only(validate(text), "PS202")
    assert d.severity is Severity.WARNING
    assert pos(d) == at(text, "region", nth=0) == at(text, "variable: region", plus=len("variable: "))
    assert d.json_path == "$.custom_fields[0].variable"


def test_auth_variables_are_not_reported_unused():
    text = edit(MINIMAL, "method: bearer", "method: basic")
    assert validate(text) == []


def test_variable_declared_twice_is_ps203_at_the_second():
    text = edit(MINIMAL, "  - variable: user_id", "  - variable: region")
    d = only(validate(text), "PS203")
    assert pos(d) == at(text, "variable: region", nth=1, plus=len("variable: "))
    assert "$.custom_fields[0].variable" in d.message


def test_variable_declared_by_the_auth_method_and_a_field_is_ps203():
    text = edit(MINIMAL, "  - variable: region", "  - variable: bearer_token")
    d = only(validate(text), "PS203")
    assert "auth method" in d.message
    assert pos(d) == at(text, "bearer_token")


@pytest.mark.parametrize("name", ["list_id", "amp_cohort_name", "items", "now_iso", "amp_in_cohort"])
def test_declaring_a_predefined_name_is_ps204(name):
    text = edit(MINIMAL, "  - variable: user_id", f"  - variable: {name}")
    d = only(validate(text), "PS204")
    assert pos(d) == at(text, f"variable: {name}", plus=len("variable: "))
    assert d.json_path == "$.mapping_fields[0].variable"


# --- where a variable may stand (PS205) ---------------------------------------------------

@pytest.mark.parametrize("old, new, needle, nth", [
    # $items outside a batch payload
    (CREATE_PAYLOAD, '{"name": "$amp_cohort_name", "x": $items}', "$items", 0),
    # (a batch endpoint's URL may hold $items as a query value: PS514; create_list's may not)
    ("api.acme.example/lists\n", "api.acme.example/lists?x=$items\n", "$items", 0),
    ("item_template: '\"$user_id\"'\n  remove", "item_template: '[$items]'\n  remove", "$items]", 0),
    ("  X-Region: $region", "  X-Region: $region $items", "$items", 0),
    # mapping and item-only variables outside item templates
    ('{"userIds": $items}\n    item_template: \'"$user_id"\'\n  remove',
     '{"userIds": $items, "u": "$user_id"}\n    item_template: \'"$user_id"\'\n  remove', '$user_id"}', 0),
    ('{"userIds": $items}\n    item_template: \'"$user_id"\'\n  remove',
     '{"userIds": $items, "in": $amp_in_cohort}\n    item_template: \'"$user_id"\'\n  remove', "$amp_in_cohort", 0),
    ("  X-Region: $region", "  X-Region: $region\n  X-Op: $amp_operation", "$amp_operation", 0),
    ("lists/$list_id/add", "lists/$list_id/add/$user_id", "$user_id", 0),
    # $list_id in create_list or the shared headers
    (CREATE_URL, "url: https://api.acme.example/lists/$list_id\n", "$list_id", 0),
    (CREATE_PAYLOAD, '{"name": "$amp_cohort_name $list_id"}', "$list_id", 0),
    ("  X-Region: $region", "  X-Region: $region\n  X-List: $list_id", "$list_id", 0),
])
def test_variable_where_it_may_not_stand_is_ps205_at_the_use(old, new, needle, nth):
    text = edit(MINIMAL, old, new)
    d = only(validate(text), "PS205")
    assert pos(d) == at(text, needle, nth=nth)
    assert d.is_error and "cannot be used in" in d.message


def test_list_id_in_update_users_is_ps205():
    text = edit(PROPERTY, "v1/batch", "v1/batch/$list_id")
    d = only(validate(text), "PS205")
    assert pos(d) == at(text, "$list_id") and d.json_path == "$.endpoints.update_users.url"


def test_list_id_in_an_add_users_header_is_allowed():
    text = edit(MINIMAL, "    url: https://api.acme.example/lists/$list_id/add\n",
                "    url: https://api.acme.example/lists/$list_id/add\n    headers:\n      X-List: $list_id\n")
    assert validate(text) == []


def test_item_only_variables_are_allowed_in_item_templates():
    text = edit(MINIMAL, "item_template: '\"$user_id\"'\n  remove",
                "item_template: '{\"id\": \"$user_id\", \"in\": $amp_in_cohort, \"op\": \"$amp_operation\"}'\n  remove")
    assert validate(text) == []


# --- $items (PS206, PS207, PS208) ---------------------------------------------------------

def test_payload_without_items_is_ps206_at_the_payload_start():
    text = add_payload('{"userIds": []}')
    d = only(validate(text), "PS206")
    assert pos(d) == at(text, '{"userIds": []}')
    assert "add_users" in d.message


def test_items_twice_is_ps206_at_the_second():
    text = add_payload('{"userIds": $items, "again": $items}')
    d = only(validate(text), "PS206")
    assert pos(d) == at(text, "$items", nth=1)


def test_items_inside_a_string_is_ps207():
    text = add_payload('{"userIds": "$items"}')
    d = only(validate(text), "PS207")
    assert pos(d) == at(text, "$items")


def test_items_without_an_item_template_is_ps208_at_the_endpoint():
    text = add_payload('{"userIds": $items}', item_template=None)
    d = only(validate(text), "PS208")
    assert pos(d) == at(text, "add_users:")
    assert d.json_path == "$.endpoints.add_users"


def test_update_users_without_item_template_is_ps208():
    text = edit(PROPERTY, PROPERTY[PROPERTY.index("    item_template"):], "")
    assert pos(only(validate(text), "PS208")) == at(text, "update_users:")


# --- $list_id use (PS209) -----------------------------------------------------------------

def test_add_users_without_list_id_is_warning_ps209():
    text = edit(MINIMAL, "lists/$list_id/add", "lists/add")
    d = only(validate(text), "PS209")
    assert d.severity is Severity.WARNING and pos(d) == at(text, "add_users:")


def test_list_id_in_the_payload_counts_as_used():
    text = edit(add_payload('{"list": "$list_id", "userIds": $items}'), "lists/$list_id/add", "lists/add")
    assert validate(text) == []


# --- template syntax (PS210) --------------------------------------------------------------

@pytest.mark.parametrize("value, needle", [
    ("${region", "${region"),
    ("${}x", "${}"),
    ("${1a}", "${1a}"),
    ("$region $", "$\n"),
    ("cost $5", "$5"),
])
def test_malformed_placeholder_is_ps210_at_the_dollar(value, needle):
    text = edit(MINIMAL, "  X-Region: $region", f"  X-Region: $region {value}")
    d = only(validate(text), "PS210")
    assert pos(d) == at(text, needle)


def test_ps210_inside_a_block_scalar_payload():
    text = edit(MINIMAL, CREATE_PAYLOAD, '{"name": "[Amplitude] $amp_cohort_name",\n       "price": "$.99"}')
    assert pos(only(validate(text), "PS210")) == at(text, "$.99")


def test_double_dollar_and_braces_are_fine():
    text = edit(MINIMAL, "  X-Region: $region", "  X-Region: $$region ${region}_x $${y} $$")
    assert validate(text) == []


# --- endpoints by type (PS301, PS302) -----------------------------------------------------

def test_list_without_remove_users_is_ps301_at_endpoints():
    text = edit(MINIMAL, REMOVE_USERS, "")
    d = only(validate(text), "PS301")
    assert pos(d) == at(text, "endpoints:") and "remove_users" in d.message


def test_property_integration_with_list_endpoints():
    text = edit(MINIMAL, "type: list", "type: property")
    diags = validate(text)
    assert sorted(pos(d) for d in diags if d.code == "PS302") == sorted(
        [at(text, "create_list:"), at(text, "add_users:"), at(text, "remove_users:")])
    d = only(diags, "PS301")
    assert "update_users" in d.message and pos(d) == at(text, "endpoints:")


def test_list_integration_with_update_users_is_ps302_at_the_key():
    text = MINIMAL + "  update_users:\n    method: POST\n    url: https://api.acme.example/u\n" \
                     "    payload: |\n      {\"b\": $items}\n    item_template: '\"$user_id\"'\n"
    d = only(validate(text), "PS302")
    assert pos(d) == at(text, "update_users:") and d.json_path == "$.endpoints.update_users"


# --- JSON templates (PS303) ---------------------------------------------------------------

def test_invalid_payload_is_ps303_on_the_line_inside_the_block_scalar():
    text = edit(MINIMAL, CREATE_PAYLOAD, '{"name": "[Amplitude] $amp_cohort_name",\n       "id": $amp_cohort_id,\n'
                                         '       "x": }')
    d = only(validate(text), "PS303")
    assert pos(d) == at(text, '"x": }', plus=5)
    assert d.source_line.strip() == '"x": }'


def test_invalid_item_template_is_ps303_in_a_quoted_scalar():
    text = edit(MINIMAL, "item_template: '\"$user_id\"'\n  remove", "item_template: '{\"id\": \"$user_id\",}'\n  remove")
    d = only(validate(text), "PS303")
    assert pos(d) == at(text, ",}'", plus=1)
    assert "item template" in d.message


def test_ps303_in_a_multi_line_item_template():
    text = edit(PROPERTY, '"traits": {"cohort $amp_cohort_id": $amp_in_cohort}}', '"traits": {"cohort": $amp_in_cohort} "x"}')
    d = only(validate(text), "PS303")
    assert pos(d) == at(text, '"x"}')


@pytest.mark.parametrize("payload", [
    '{"n": $amp_cohort_name}',  # a variable standing as a JSON value
    '[$amp_cohort_id, $now_epoch]',
    '{"n": "$amp_cohort_name", "big": ' + "9" * 5000 + "}",
])
def test_payloads_valid_once_substituted(payload):
    assert validate(edit(MINIMAL, CREATE_PAYLOAD, payload)) == []


@pytest.mark.parametrize("payload, needle", [
    ('{"n": "$amp_cohort_name", "x": NaN}', "NaN"),
    ('{"n": "$amp_cohort_name", "x": Infinity}', "Infinity"),
    ("{'n': '$amp_cohort_name'}", "'n'"),
    ('{"n": "$amp_cohort_name"} trailing', "trailing"),
])
def test_payloads_that_are_not_json(payload, needle):
    text = edit(MINIMAL, CREATE_PAYLOAD, payload)
    assert pos(only(validate(text), "PS303")) == at(text, needle)


def test_deeply_nested_payload_is_ps303_not_an_exception():
    text = edit(MINIMAL, CREATE_PAYLOAD, "[" * 5000 + "]" * 5000)
    assert "PS303" in codes(validate(text))


def test_blank_payload_is_ps303():
    text = edit(MINIMAL, "    payload: |\n      " + CREATE_PAYLOAD, "    payload: ' '")
    d = only(validate(text), "PS303")
    assert "empty" in d.message and pos(d) == at(text, "' '")


# --- URLs (PS304) -------------------------------------------------------------------------

@pytest.mark.parametrize("url, needle, message", [
    ("/lists", "/lists", "absolute"),
    ("ftp://api.acme.example/lists", "ftp:", "absolute"),
    ("api.acme.example/lists", "api.acme.example/lists\n", "absolute"),
    ("$region://api.acme.example/lists", "$region://", "scheme"),
    ("https:///lists", "https:///", "no host"),
    ("https://api.acme.example/my lists", " lists\n", "white space"),
    ("https://[::1/lists", "https://[", "invalid URL"),
])
def test_bad_url_is_ps304(url, needle, message):
    text = edit(MINIMAL, CREATE_URL, f"url: {url}\n")
    d = only(validate(text), "PS304")
    assert message in d.message
    assert pos(d) == at(text, needle)


@pytest.mark.parametrize("url", [
    "https://$region.acme.example/lists",  # host
    "https://api.acme.example:$region/lists",  # port (part of the host)
    "https://api.acme.example/$region/lists",  # path
    "https://api.acme.example/lists?r=$region&c=$amp_cohort_id",  # query
    "https://api.acme.example/lists#$region",  # fragment
    "http://localhost:8080/lists",
])
def test_variables_may_stand_in_host_port_path_query_and_fragment(url):
    assert validate(edit(MINIMAL, CREATE_URL, f"url: {url}\n")) == []


# --- headers (PS305, PS314) ---------------------------------------------------------------

def test_list_id_header_name_must_be_a_token_ps305():
    text = edit(MINIMAL, LIST_ID, '    list_id:\n      from: response_header\n      path: X List\n'
                                  '    example_response: {"X List": "1"}\n')
    d = only(validate(text), "PS305")
    assert pos(d) == at(text, "X List") and d.json_path == "$.endpoints.create_list.list_id.path"


def test_endpoint_header_name_must_be_a_token_ps305():
    text = edit(MINIMAL, "    url: https://api.acme.example/lists\n",
                "    url: https://api.acme.example/lists\n    headers:\n      'X:Bad': x\n")
    assert pos(only(validate(text), "PS305")) == at(text, "'X:Bad'")


@pytest.mark.parametrize("header", ["Content-Type", "content-type", "CONTENT-TYPE"])
def test_content_type_header_is_warning_ps314(header):
    text = edit(MINIMAL, "  X-Region: $region", f"  X-Region: $region\n  {header}: text/plain")
    d = only(validate(text), "PS314")
    assert d.severity is Severity.WARNING and pos(d) == at(text, header + ":")


def test_authorization_header_with_bearer_auth_is_warning_ps314():
    text = edit(MINIMAL, "    url: https://api.acme.example/lists\n",
                "    url: https://api.acme.example/lists\n    headers:\n      authorization: Token x\n")
    d = only(validate(text), "PS314")
    assert d.severity is Severity.WARNING and pos(d) == at(text, "authorization:")
    assert d.json_path == "$.endpoints.create_list.headers.authorization"


def test_auth_header_name_overridden_is_ps314():
    text = edit(MINIMAL, "method: bearer", "method: header\n  header_name: X-Key")
    text = edit(text, "  X-Region: $region", "  X-Region: $region\n  x-key: $api_key")
    assert pos(only(validate(text), "PS314")) == at(text, "x-key:")


def test_authorization_header_without_auth_is_fine():
    text = edit(MINIMAL, "method: bearer", "method: none")
    assert validate(edit(text, "  X-Region: $region", "  X-Region: $region\n  Authorization: App x")) == []


# --- fields (PS306, PS307, PS308) ---------------------------------------------------------

OPTIONS = "    options:\n      - {label: United States, value: us}\n      - {label: Europe, value: eu}\n"


def test_select_without_options_is_ps306_at_the_type():
    text = edit(MINIMAL, OPTIONS + "    default: us\n", "")
    d = only(validate(text), "PS306")
    assert d.is_error and pos(d) == at(text, "single_select")


def test_button_group_and_mapping_select_need_options_too():
    text = edit(edit(MINIMAL, OPTIONS + "    default: us\n", ""), "single_select", "button_group")
    assert pos(only(validate(text), "PS306")) == at(text, "button_group")
    text = edit(MINIMAL, "    display_name: User ID\n", "    display_name: User ID\n    type: single_select\n")
    d = only(validate(text), "PS306")
    assert d.json_path == "$.mapping_fields[0].type" and pos(d) == at(text, "single_select", nth=1)


def test_string_field_with_options_is_warning_ps306():
    text = edit(MINIMAL, "type: single_select", "type: string")
    d = only(validate(text), "PS306")
    assert d.severity is Severity.WARNING and pos(d) == at(text, "- {label: United States")


def test_default_not_among_options_is_ps307_with_did_you_mean():
    text = edit(MINIMAL, "    default: us\n", "    default: use\n")
    d = only(validate(text), "PS307")
    assert pos(d) == at(text, "use\n") and d.hint == "did you mean 'us'?"


def test_default_far_from_every_option_lists_them():
    d = only(validate(edit(MINIMAL, "    default: us\n", "    default: zz\n")), "PS307")
    assert d.hint == "allowed: us, eu"


def test_duplicate_option_value_is_ps308_at_the_second():
    text = edit(MINIMAL, "{label: Europe, value: eu}", "{label: Europe, value: us}")
    d = only(validate(text), "PS308")
    assert pos(d) == at(text, "us}", nth=1) and d.json_path == "$.custom_fields[0].options[1].value"


def test_unhashable_option_values_do_not_break_the_checks():
    text = edit(MINIMAL, "value: us}", "value: [us]}")
    text = edit(text, "value: eu}", "value: [us]}")
    assert set(codes(validate(text))) == {"PS103", "PS308", "PS307"}


# --- list id and example response (PS309, PS310) ------------------------------------------

def list_id(path: str, example: str | None, source: str | None = None) -> str:
    spec = "    list_id:\n" + (f"      from: {source}\n" if source else "") + f"      path: {path}\n"
    return edit(MINIMAL, LIST_ID, spec + (f"    example_response: {example}\n" if example else ""))


@pytest.mark.parametrize("path", ['"$..["', '"a[?"', "'a b c'"])
def test_bad_jsonpath_is_ps309_at_the_path(path):
    text = list_id(path, '{"listId": 1}')
    d = only(validate(text), "PS309")
    assert pos(d) == at(text, path) and d.json_path == "$.endpoints.create_list.list_id.path"


def test_bad_jsonpath_without_example_is_still_ps309():
    assert "PS309" in codes(validate(list_id('"a[?"', None)))


@pytest.mark.parametrize("path, example, words", [
    ("id", '{"listId": 2568}', "finds nothing"),
    ('"items[*].id"', '{"items": [{"id": 1}, {"id": 2}]}', "finds 2 values"),
    ("data", '{"data": {"id": 1}}', "string or a number"),
    ("ok", '{"ok": true}', "string or a number"),
    ("none", '{"none": null}', "string or a number"),
])
def test_example_response_not_resolving_to_one_id_is_ps310(path, example, words):
    text = list_id(path, example)
    d = only(validate(text), "PS310")
    assert words in d.message
    assert pos(d) == at(text, example) and d.json_path == "$.endpoints.create_list.example_response"


@pytest.mark.parametrize("path, example", [
    ("listId", '{"listId": 2568}'),
    ('"$.listId"', '{"listId": "L-1"}'),
    ("response.data.id", '{"response": {"data": {"id": "aud_1"}}}'),
    ('"items[0].id"', '{"items": [{"id": 1}, {"id": 2}]}'),
])
def test_example_response_resolving_to_one_string_or_number(path, example):
    assert validate(list_id(path, example)) == []


def test_response_header_list_id_is_checked_case_insensitively():
    assert validate(list_id("X-List-Id", '{"x-list-id": "17"}', "response_header")) == []
    text = list_id("X-List-Id", '{"Other": "17"}', "response_header")
    assert pos(only(validate(text), "PS310")) == at(text, '{"Other"')
    assert "PS310" in codes(validate(list_id("X-List-Id", '{"X-List-Id": true}', "response_header")))


def test_request_body_list_id_is_not_checked_against_example_response():
    assert validate(list_id("name", None, "request_body")) == []


# --- logo (PS311, PS312) ------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


def with_logo(name: str) -> str:
    return edit(MINIMAL, "type: list\n", f"logo: {name}\ntype: list\n")


def test_missing_logo_is_ps311(write):
    text = with_logo("acme.png")
    d = only(validate(write(text)), "PS311")
    assert pos(d) == at(text, "acme.png") and "acme.png" in d.message


def test_logo_that_is_not_a_png_is_ps312(write):
    text = with_logo("acme.png")
    path = write(text)
    write(b"GIF89a....", "acme.png")
    d = only(validate(path), "PS312")
    assert pos(d) == at(text, "acme.png")


def test_logo_that_is_a_directory_is_ps311(write, tmp_path):
    (tmp_path / "logo.png").mkdir()
    assert codes(validate(write(with_logo("logo.png")))) == ["PS311"]


def test_png_logo_relative_to_the_definition(write):
    path = write(with_logo("img/acme.png"), "sub/integration.yaml")
    write(PNG, "sub/img/acme.png")
    assert validate(path) == []


# --- one run, everything ------------------------------------------------------------------

def test_schema_and_semantic_problems_are_reported_together_errors_first():
    text = edit(MINIMAL, "display_name: Acme\n", "display_name: Acme\nsumary: x\n")  # PS102
    text = edit(text, "  X-Region: $region", "  X-Region: $regoin")  # PS201, and PS202 for region
    text = edit(text, "lists/$list_id/add", "lists/add")  # PS209
    text = edit(text, CREATE_PAYLOAD, '{"name": }')  # PS303
    diags = validate(text)
    assert codes(diags) == ["PS102", "PS201", "PS303", "PS202", "PS209"]
    errors = [d for d in diags if d.is_error]
    assert [pos(d) for d in errors] == sorted(pos(d) for d in errors)


@pytest.mark.parametrize("macro", ["request_id", "amp_message_id"])
def test_a_request_level_macro_in_an_item_template_is_an_error(macro):
    """A regression: validate accepted it, then render and sync crashed with a KeyError —
    in sync after the list was created, so every rerun crashed."""
    text = MINIMAL.replace("""item_template: '"$user_id"'""", f"""item_template: '{{"id": "$user_id", "m": "${macro}"}}'""", 1)
    found = [d for d in validate(text) if d.code == "PS205"]
    assert found and f"${macro} cannot be used in add_users.item_template" in found[0].message


@pytest.mark.parametrize("raw", ["\r", "\n", "\x0b", "\x7f"])
def test_a_control_character_in_a_header_template_is_an_error(raw):
    """A regression: validate accepted a raw CR/LF in a header template's own text."""
    text = MINIMAL.replace("X-Region: $region", f'X-Region: "a{raw.encode("unicode_escape").decode()}$region"')
    (diag,) = [d for d in validate(text) if d.code == "PS315"]
    assert diag.path == ("headers", "X-Region") and f"U+{ord(raw):04X}" in diag.message


# --- find_list (PS309, PS317) ---------------------------------------------------------

FIND_PATH = "$.items[?(@.name == '[Amplitude] $amp_cohort_name')].listId"


def find_path(path: str) -> str:
    return edit(FINDS, FIND_PATH, path)


def test_a_find_list_definition_is_clean():
    assert validate(FINDS) == []


def test_a_variable_outside_the_quoted_strings_of_the_path_is_ps309_at_it():
    text = find_path("$.lists.$amp_cohort_name.id")
    d = only(validate(text), "PS309")
    assert "outside a quoted string" in d.message and pos(d) == at(text, "$amp_cohort_name.id")
    assert d.json_path == "$.endpoints.find_list.list_id.path"


def test_a_variable_in_a_regular_expression_is_ps309():
    d = only(validate(find_path("$.items[?(@.name =~ '$amp_cohort_name')].listId")), "PS309")
    assert "regular expression" in d.message


def test_a_find_list_path_that_is_no_jsonpath_is_ps309():
    d = only(validate(find_path("$.items[?(@.name == '$amp_cohort_name'")), "PS309")
    assert "is not a valid JSONPath" in d.message and "$amp_cohort_name" in d.message


def test_a_single_ampersand_between_filter_conditions_is_a_ps319_warning_and_two_are_clean():
    """jsonpath-ng deprecates `&` (its 2.0 removes it, and a sync with it would stop parsing)."""
    single = find_path("$.items[?(@.name == '[Amplitude] $amp_cohort_name' & @.type == 'manual')].listId")
    d = only(validate(single), "PS319")
    assert d.severity is Severity.WARNING and "&&" in (d.hint or "")
    assert d.json_path == "$.endpoints.find_list.list_id.path"
    assert validate(find_path("$.items[?(@.name == '[Amplitude] $amp_cohort_name' && @.type == 'manual')].listId")) == []
    text = list_id('"$.lists[?(@.a == 1 & @.b == 2)].id"', '{"lists": [{"a": 1, "b": 2, "id": 7}]}')
    assert only(validate(text), "PS319").json_path == "$.endpoints.create_list.list_id.path"


@pytest.mark.parametrize("variable, where", [("list_id", "add_users and remove_users"), ("user_id", "item templates"),
                                             ("items", "payload")])
def test_variables_a_lookup_cannot_have_are_ps205(variable, where):
    d = only(validate(find_path(f"$.items[?(@.name == '${variable}')].listId")), "PS205")
    assert where in d.message and "find_list.list_id.path" in d.message


def test_an_unknown_variable_in_the_path_is_ps201():
    assert "PS201" in codes(validate(find_path("$.items[?(@.name == '$cohort')].listId")))


def test_exists_on_with_an_id_the_destination_chose_needs_find_list():
    text = edit(FINDS, FINDS[FINDS.index("  find_list:"):FINDS.index("  create_list:")], "")
    d = only(validate(text), "PS317")
    assert "needs find_list" in d.message and pos(d) == at(text, "exists_on")
    assert validate(edit(text, "    exists_on: [409]\n", "")) == []  # without exists_on: nothing to find


def test_find_list_beside_a_list_the_request_names_is_ps317():
    text = edit(FINDS, "      path: listId\n", "      from: request_body\n      path: name\n")
    d = only(validate(text), "PS317")
    assert "request names the list" in d.message and pos(d) == at(text, "find_list:")


def test_find_list_is_for_list_based_definitions_only():
    text = PROPERTY.replace("endpoints:\n", "endpoints:\n  find_list:\n    url: https://x.example/l\n"
                                             "    list_id: {path: id}\n")
    assert "PS302" in codes(validate(text))


# --- an endpoint's own auth (PS318, PS314) ----------------------------------------------

OWN = "auth: {method: basic, fields: {api_key: site_id, secret_key: app_key}}"


def test_an_endpoints_own_auth_is_clean_and_its_fields_count_as_used():
    assert validate(OWN_AUTH) == []  # (no PS202 for site_id and app_key: the auth reads them)


@pytest.mark.parametrize("auth, words, anchor", [
    ("auth: {method: basic, fields: {api_key: site_id, token: app_key}}", "'token' is not a variable of the basic",
     "token"),
    ("auth: {method: basic, fields: {api_key: site_idd}}", "no custom field declares 'site_idd'", "site_idd"),
    ("auth: {method: bearer, fields: {bearer_token: region}}", "custom field 'region' holds a credential", "region}"),
    ("auth: {method: bearer}", "the bearer method needs $bearer_token", "bearer}"),
    ("auth: {method: basic, fields: {secret_key: app_key}}", "the basic method needs $api_key", "basic, fields"),
])
def test_an_endpoints_own_auth_reads_secret_custom_fields_of_its_method(auth, words, anchor):
    text = edit(OWN_AUTH, OWN, auth)
    d = only(validate(text), "PS318")
    assert words in d.message and pos(d) == at(text, anchor)


def test_a_typo_in_a_field_name_gets_a_hint():
    d = only(validate(edit(OWN_AUTH, OWN, "auth: {method: basic, fields: {api_key: site_idd}}")), "PS318")
    assert d.hint and "site_id" in d.hint


def test_an_endpoint_header_is_compared_with_that_endpoints_own_auth():
    header_auth = edit(OWN_AUTH, OWN, "auth: {method: header, header_name: X-Key, fields: {api_key: site_id}}")
    header_auth = edit(header_auth, "  - {variable: app_key, display_name: App key, type: string, secret: true}\n", "")
    assert validate(header_auth) == []
    own = edit(header_auth, "    auth: {method: header", "    headers: {X-Key: x}\n    auth: {method: header")
    d = only(validate(own), "PS314")
    assert "already sends X-Key" in d.message and pos(d) == at(own, "X-Key: x")
    elsewhere = edit(header_auth, "    url: https://api.acme.example/lists/$list_id/add\n",
                     "    url: https://api.acme.example/lists/$list_id/add\n    headers: {X-Key: x}\n")
    assert validate(elsewhere) == []  # add_users sends the bearer token, not X-Key
    everywhere = edit(header_auth, "  X-Region: $region\n", "  X-Region: $region\n  X-Key: x\n")
    assert "PS314" in codes(validate(everywhere))  # a header of every call replaces create_list's auth too

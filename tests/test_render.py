"""Rendering: values + users → Request values: substitution, auth, list ids, batching and order, masking."""

from __future__ import annotations

import base64
import dataclasses
import json
import uuid

import pytest

from portalspec import Cohort, InputError, Members, Request, User, Values, read_users
from portalspec.masking import MASK

from .render_helpers import (BARE, KITCHEN, TRAITS, VAULT, adds, bare_values, body, compile_text, context, example,
                             ids_in, kitchen_values, render_example, traits_values)


def render(text_or_integration, values, users=(), **options):
    integration = compile_text(text_or_integration) if isinstance(text_or_integration, str) else text_or_integration
    options.setdefault("context", context())
    return list(integration.render(values, users, **options))


# --- the examples, exactly -------------------------------------------------------------------

def test_infobip_renders_the_lifecycle_exactly():
    requests = render_example("infobip")
    context_json = '"context": {"integration": {"name": "Amplitude Cohort Sync", "version": "1.0.0"}}'
    assert requests == [
        Request("POST", "https://api.infobip.example/people/2/lists",
                (("Content-Type", "application/json"), ("Authorization", "App test-key-123")),
                ('{"name": "[Amplitude] Beta users: 1234",\n ' + context_json + "}\n").encode(), "create_list"),
        Request("POST", "https://api.infobip.example/people/2/lists/2568/add",
                (("Content-Type", "application/json"), ("Authorization", "App test-key-123")),
                ('{"userIds": ["user123","user456","user457"], ' + context_json + "}\n").encode(), "add_users", 3),
        Request("POST", "https://api.infobip.example/people/2/lists/2568/remove",
                (("Content-Type", "application/json"), ("Authorization", "App test-key-123")),
                ('{"userIds": ["user789","user790"], ' + context_json + "}\n").encode(), "remove_users", 2),
    ]


def test_requests_are_frozen_values():
    request = render_example("flagsmith")[0]
    assert isinstance(request.headers, tuple) and isinstance(request.body, bytes)
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.url = "https://elsewhere.example/"  # type: ignore[misc]
    assert hash(request) == hash(dataclasses.replace(request))


def test_nested_audiences_uses_the_default_field_and_two_mapping_variables():
    create, add, remove = render_example("nested-audiences")
    assert body(create)["platform"] == "ios"  # the default: values.yaml leaves it out
    assert body(add) == {"audience_id": "aud_123", "members": [
        {"external_id": "user123", "email": "ann@example.com"},
        {"external_id": "user-7, jr", "email": "jr7@example.com"},
        {"external_id": 'o"reilly-42', "email": "oreilly@example.com"},
        {"external_id": "zoë-01", "email": "zoë@example.com"}]}
    assert body(remove)["members"] == [{"external_id": "user789", "email": "bob@example.com"},
                                       {"external_id": "user790", "email": "carl@example.com"}]


def test_every_request_with_a_body_says_application_json():
    for name in ("flagsmith", "infobip", "nested-audiences", "relay-basic", "relay-header", "segment-identify"):
        for request in render_example(name):
            assert request.body is not None
            assert [v for k, v in request.headers if k.lower() == "content-type"] == ["application/json"]


def test_a_content_type_in_the_definition_is_ignored():
    text = KITCHEN.replace("  X-Tag: $tag\n", "  X-Tag: $tag\n  content-type: text/plain\n", 1)
    for request in render(text, kitchen_values(), adds("a")):
        assert [(k, v) for k, v in request.headers if k.lower() == "content-type"] == [
            ("Content-Type", "application/json")]


# --- substitution by position ---------------------------------------------------------------

def test_json_string_and_json_value_positions():
    create = render(KITCHEN, kitchen_values(label='say "hi" \\ \n', amount="123"))[0]
    data = body(create)
    assert data["label"] == 'pre say "hi" \\ \n post'
    assert data["amount"] == "123"  # a text value in a value position is a JSON string: its type is kept
    assert render(KITCHEN, kitchen_values(amount=123))[0].body.count(b'"amount": 123,') == 1
    assert body(render(KITCHEN, kitchen_values(amount=True))[0])["amount"] is True
    assert body(render(KITCHEN, kitchen_values(amount=2.5))[0])["amount"] == 2.5
    assert body(render(KITCHEN, kitchen_values(amount=[1, "a"]))[0])["amount"] == [1, "a"]


def test_cohort_name_in_a_json_string_is_escaped():
    name = 'Q"1\\ \u2028 </script> {{x}} $y'
    create = render(KITCHEN, kitchen_values(name))[0]
    assert body(create)["name"] == name
    assert b"\\u2028" in create.body and "\u2028".encode() not in create.body


def test_url_path_and_query_values_are_encoded():
    add = render(KITCHEN, kitchen_values(segment="../admin", query="a&b=c #"), adds("u"), list_id="x/y")[1]
    assert add.url == "https://api.kitchen.example/lists/x%2Fy/members/..%2Fadmin?q=a%26b%3Dc%20%23"
    assert add.target == "/lists/x%2Fy/members/..%2Fadmin?q=a%26b%3Dc%20%23"
    dots = render(KITCHEN, kitchen_values(segment=".."), adds("u"), list_id=".")[1]
    assert dots.url == "https://api.kitchen.example/lists/%2E/members/%2E%2E?q=q"


def test_a_host_value_must_be_a_host_label():
    assert render(KITCHEN, kitchen_values(sub="eu-1"))[0].url.startswith("https://eu-1.kitchen.example/")
    for bad in ("evil.com/x", "a b", "eu\n", ""):
        with pytest.raises(InputError, match=r"^\$sub in endpoints.create_list.url: .* is not a valid host name label"):
            render(KITCHEN, kitchen_values(sub=bad))


@pytest.mark.parametrize("bad", ["a\r\nX-Evil: 1", "a\nb", "a\rb", "a\x00b"])
def test_a_line_break_or_nul_in_a_header_value_is_an_input_error(bad):
    with pytest.raises(InputError) as info:
        render(KITCHEN, kitchen_values(tag=bad))
    assert str(info.value).startswith("$tag in header X-Tag (headers.X-Tag): contains")


@pytest.mark.parametrize("name, field, header", [("relay-header", "api_key", "X-Relay-Key"),
                                                 ("flagsmith", "bearer_token", "Authorization")])
def test_a_line_break_in_an_auth_variable_is_an_input_error_naming_it(name, field, header):
    integration, values, _ = example(name)
    values = dataclasses.replace(values, fields={**values.fields, field: "k\r\nX-Evil: 1"})
    with pytest.raises(InputError, match=rf"^\${field} in the auth header {header}: contains a carriage return"):
        render(integration, values)


def test_a_cohort_name_with_a_newline_is_fine_in_a_body():
    assert body(render(KITCHEN, kitchen_values("two\nlines"))[0])["name"] == "two\nlines"


@pytest.mark.parametrize("where", ["cohort", "field", "user", "list_id"])
def test_a_lone_surrogate_is_an_input_error(where):
    values = kitchen_values("\ud800x" if where == "cohort" else "c", **({"label": "a\udfff"} if where == "field" else {}))
    users = adds("\udc80" if where == "user" else "u")
    list_id = "\ud83d" if where == "list_id" else None
    with pytest.raises(InputError, match="lone surrogate"):
        render(KITCHEN, values, users, list_id=list_id)


def test_a_lone_surrogate_in_a_user_names_the_user():
    integration = compile_text(TRAITS)
    users = [User("add", {"user_id": "ok", "score": 1}, "line 2"), User("add", {"user_id": "b\ud800", "score": 1}, "line 3")]
    with pytest.raises(InputError, match=r"user line 3: \$user_id contains a lone surrogate \(U\+D800\)"):
        render(integration, traits_values(), users)


def test_a_value_that_cannot_be_json_is_an_input_error():
    text = TRAITS.replace('"op": "$amp_operation"}', '"op": "$amp_operation", "w": $weight}').replace(
        "mapping_fields:", "custom_fields:\n  - {variable: weight, display_name: Weight, type: string}\nmapping_fields:")
    with pytest.raises(InputError, match=r"\$weight in endpoints.update_users.item_template: cannot be written as JSON"):
        render(text, traits_values(weight=float("nan")), [User("add", {"user_id": "a", "score": 1})])
    with pytest.raises(InputError, match=r"user #1 of its batch \('a'\): \$score in .*cannot be written as JSON"):
        render(TRAITS, traits_values(), [User("add", {"user_id": "a", "score": float("inf")})])


def test_item_values_keep_their_type_in_a_value_position():
    requests = render(BARE, bare_values(), adds("7", 7, 7.5, True, None, ["x"], {"k": "v"}))
    assert body(requests[1]) == {"ids": ["7", 7, 7.5, True, None, ["x"], {"k": "v"}]}
    traits = render(TRAITS, traits_values(), [User("add", {"user_id": 12, "score": "12"})])
    assert body(traits[0])["batch"] == [{"userId": "12", "tagged": "id:12", "score": "12", "in": True, "op": "add"}]


def test_quoted_item_ids_stay_strings_whatever_their_type():
    requests = render(KITCHEN, kitchen_values(), adds("1", 2, True, "x\u2029"))
    assert body(requests[1])["ids"] == ["1", "2", "true"]
    assert body(requests[2])["ids"] == ["x\u2029"]
    assert b"\\u2029" in requests[2].body


# --- auth -------------------------------------------------------------------------------------

def test_basic_auth_is_base64_of_key_and_secret():
    request = render_example("relay-basic")[0]
    assert request.header("Authorization") == "Basic " + base64.b64encode(b"test-key-123:test-secret-456").decode()


def test_basic_auth_with_an_empty_secret():
    request = render_example("segment-identify")[0]
    assert request.header("Authorization") == "Basic " + base64.b64encode(b"test-write-key-123:").decode()
    # and when the secret is left out of the values altogether
    integration, values, _ = example("segment-identify")
    values = dataclasses.replace(values, fields={"api_key": "wk"})
    assert render(integration, values, adds("u", variable="user_id_field_amplitude"))[0].header("Authorization") == \
        "Basic " + base64.b64encode(b"wk:").decode()


def test_basic_auth_encodes_utf8():
    values = traits_values(api_key="clé", secret_key="p:ss")
    request = render(TRAITS, values, [User("add", {"user_id": "a", "score": 1})])[0]
    assert base64.b64decode(request.header("Authorization")[6:]) == "clé:p:ss".encode()


def test_bearer_and_header_auth():
    assert render_example("flagsmith")[0].header("Authorization") == "Bearer test-token-123"
    request = render_example("relay-header")[0]
    assert request.header("X-Relay-Key") == "test-key-123"
    assert request.header("Authorization") is None


def test_a_definition_header_replaces_the_auth_header_of_the_same_name():
    text = KITCHEN.replace("  X-Tag: $tag\n", "  X-Tag: $tag\n  authorization: Token $label\n", 1)
    request = render(text, kitchen_values())[0]
    assert [(k, v) for k, v in request.headers if k.lower() == "authorization"] == [("authorization", "Token L")]


def test_an_endpoint_header_wins_over_the_definition_header():
    text = KITCHEN.replace("headers: {X-Request-Id: $request_id}\n    payload: '{\"label\": \"$label\", \"ids\": $items, \"at\"",
                           "headers: {x-tag: endpoint}\n    payload: '{\"label\": \"$label\", \"ids\": $items, \"at\"")
    create, add = render(text, kitchen_values(), adds("a"))
    assert create.header("X-Tag") == "t"
    assert [(k, v) for k, v in add.headers if k.lower() == "x-tag"] == [("x-tag", "endpoint")]


# --- list id ------------------------------------------------------------------------------------

def _list_ids(**options):
    integration, values, users = example("nested-audiences")
    values = dataclasses.replace(values, list_id=options.pop("values_list_id", None))
    requests = render(integration, values, [User("add", {"user_id_field_amplitude": "u", "email_field": "e"})],
                      **options)
    return body(requests[-1])["audience_id"]


def test_list_id_from_the_example_response_through_a_nested_path():
    assert _list_ids() == "aud_123"


def test_list_id_precedence_argument_values_response_example():
    response = {"response": {"data": {"id": "from-response"}}}
    assert _list_ids(response=response) == "from-response"
    assert _list_ids(response=response, values_list_id="from-values") == "from-values"
    assert _list_ids(response=response, values_list_id="from-values", list_id="from-arg") == "from-arg"
    assert _list_ids(values_list_id=2568) == "2568"


def test_a_numeric_list_id_in_the_url():
    assert render_example("infobip")[1].url.endswith("/lists/2568/add")
    assert render_example("infobip", list_id=99)[1].url.endswith("/lists/99/add")


def test_a_response_without_the_list_id_is_an_input_error():
    with pytest.raises(InputError, match=r"cannot find the list id: list_id path 'response.data.id' finds nothing"):
        _list_ids(response={"data": {"id": 1}})
    with pytest.raises(InputError, match="the list id must be a string or a number"):
        _list_ids(response={"response": {"data": {"id": {"nested": 1}}}})


KITCHEN_LIST_ID = """    list_id: {path: response.data.id}
    example_response: {"response": {"data": {"id": "L-1"}}}"""


def test_list_id_from_a_response_header():
    text = KITCHEN.replace(KITCHEN_LIST_ID, "    list_id: {from: response_header, path: X-List-Id}")
    requests = render(text, kitchen_values(), adds("a"), response={"x-list-id": "H-1"})
    assert requests[1].url.startswith("https://api.kitchen.example/lists/H-1/")
    with pytest.raises(InputError, match="no list id: pass --list-id"):
        render(text, kitchen_values(), adds("a"))
    with pytest.raises(InputError, match="the create_list response has no header 'X-List-Id'"):
        render(text, kitchen_values(), adds("a"), response={"X-Other": "1"})


def test_list_id_from_the_create_list_request_body():
    text = KITCHEN.replace(KITCHEN_LIST_ID, "    list_id: {from: request_body, path: id}")
    requests = render(text, kitchen_values(), adds("a"))
    assert body(requests[0])["id"] == "42"
    assert requests[1].url.startswith("https://api.kitchen.example/lists/42/")
    only_add = render(text, kitchen_values(), adds("a"), endpoint="add_users")
    assert [r.endpoint for r in only_add] == ["add_users"] and only_add[0].url == requests[1].url


def test_list_id_not_needed_for_property_based():
    requests = render_example("segment-identify")
    assert [r.endpoint for r in requests] == ["update_users"] * 2


# --- batching and order ---------------------------------------------------------------------------

def test_order_is_create_then_entering_then_leaving():
    users = [User(op, {"user_id": f"{op}{i}"}) for i, op in enumerate("add remove add remove add add remove add".split())]
    requests = render(KITCHEN, kitchen_values(), users)
    assert [(r.endpoint, r.items) for r in requests] == [
        ("create_list", 0), ("add_users", 3), ("add_users", 2), ("remove_users", 3)]
    assert ids_in(requests) == [["add0", "add2", "add4"], ["add5", "add7"], ["remove1", "remove3", "remove6"]]
    assert [r.method for r in requests] == ["POST", "POST", "POST", "DELETE"]


@pytest.mark.parametrize("pattern", ["", "a", "r", "aaa", "rrr", "aaaa", "rrrr", "arararar", "rrrrrrraaaaaaa",
                                     "aarraarraarraaa"])
def test_batches_never_mix_and_partition_the_input_in_order(pattern):
    users = [User("add" if c == "a" else "remove", {"user_id": f"{c}{i}"}) for i, c in enumerate(pattern)]
    requests = render(KITCHEN, kitchen_values(), users)
    assert requests[0].endpoint == "create_list"
    batches = requests[1:]
    endpoints = [r.endpoint for r in batches]
    assert endpoints == sorted(endpoints)  # every add_users before every remove_users
    for request in batches:
        ids = body(request)["ids"]
        assert 1 <= len(ids) <= 3 and request.items == len(ids)
        assert {i[0] for i in ids} == {"a" if request.endpoint == "add_users" else "r"}
    flat = [i for r in batches for i in body(r)["ids"]]
    assert flat == [u.values["user_id"] for u in users if u.operation == "add"] + \
                   [u.values["user_id"] for u in users if u.operation == "remove"]
    # every batch but the last of each operation is full
    for endpoint in ("add_users", "remove_users"):
        sizes = [r.items for r in batches if r.endpoint == endpoint]
        assert all(s == 3 for s in sizes[:-1])


def test_25001_users_in_batches_of_10000():
    integration, values, _ = example("flagsmith")
    assert integration.endpoint("add_users").batch_size == 10_000
    users = adds(*(f"u{i}" for i in range(25_001)), variable="user_id_field_amplitude")
    requests = render(integration, values, users)
    assert [r.endpoint for r in requests] == ["create_list", "add_users", "add_users", "add_users"]
    chunks = [body(r)["user_ids"] for r in requests[1:]]
    assert [len(c) for c in chunks] == [10_000, 10_000, 5_001]
    assert [r.items for r in requests[1:]] == [10_000, 10_000, 5_001]
    assert [i for c in chunks for i in c] == [f"u{i}" for i in range(25_001)]


def test_members_blocks_batch_like_users():
    integration, values, _ = example("flagsmith")
    members = [Members("add", {"user_id_field_amplitude": [f"a{i}" for i in range(15_000)]}),
               Members("remove", {"user_id_field_amplitude": [f"r{i}" for i in range(3)]}),
               Members("add", {"user_id_field_amplitude": [f"b{i}" for i in range(6_000)]})]
    requests = render(integration, values, members)
    assert [(r.endpoint, r.items) for r in requests] == [
        ("create_list", 0), ("add_users", 10_000), ("add_users", 10_000), ("add_users", 1_000), ("remove_users", 3)]
    flat = [i for r in requests[1:4] for i in body(r)["user_ids"]]
    assert flat == [f"a{i}" for i in range(15_000)] + [f"b{i}" for i in range(6_000)]


def test_property_based_mixed_users_become_true_then_false_batches():
    requests = render_example("segment-identify")
    assert [r.endpoint for r in requests] == ["update_users", "update_users"]
    entering, leaving = (body(r)["batch"] for r in requests)
    trait = "[Amplitude] Trial converters: 3456"
    assert [(u["userId"], u["traits"][trait]) for u in entering] == [("user123", True), ("user456", True),
                                                                     ("user999", True)]
    assert [(u["userId"], u["traits"][trait]) for u in leaving] == [("user789", False), ("user111", False)]


def test_property_based_batches_by_size_and_operation():
    users = [User(op, {"user_id": f"{op[0]}{i}", "score": i}) for i, op in enumerate(["add", "remove"] * 3 + ["add"])]
    requests = render(TRAITS, traits_values(), users)
    batches = [[(u["userId"], u["in"], u["op"]) for u in body(r)["batch"]] for r in requests]
    assert batches == [[("a0", True, "add"), ("a2", True, "add")], [("a4", True, "add"), ("a6", True, "add")],
                       [("r1", False, "remove"), ("r3", False, "remove")], [("r5", False, "remove")]]


def test_render_one_endpoint():
    integration, values, users = example("infobip")

    def only(endpoint):
        return [r.endpoint for r in integration.render(values, read_users(users, integration.definition, values),
                                                       endpoint=endpoint, context=context())]
    assert only("create_list") == ["create_list"]
    assert only("add_users") == ["add_users"]
    assert only("remove_users") == ["remove_users"]
    with pytest.raises(InputError, match="infobip has no endpoint 'update_users'"):
        only("update_users")


def test_cohort_columns_and_values_merge_field_by_field(tmp_path):
    integration = compile_text(KITCHEN)
    path = tmp_path / "u.csv"
    path.write_text("operation,user_id,amp_cohort_name\nadd,a,From CSV\n", encoding="utf-8")
    values = Values({"bearer_token": "t", "label": "l"}, {"user_id": "user_id"}, Cohort("5", ""))
    create = render(integration, values, read_users(path, integration.definition, values))[0]
    assert (body(create)["id"], body(create)["name"]) == ("5", "From CSV")
    with pytest.raises(InputError, match="the cohort name is 'Beta users' in the values file but 'From CSV'"):
        render(integration, kitchen_values(), read_users(path, integration.definition, values))


def test_no_users_renders_only_create_list():
    assert [r.endpoint for r in render(KITCHEN, kitchen_values())] == ["create_list"]
    assert render(TRAITS, traits_values()) == []


def test_a_user_without_a_value_for_a_mapping_variable_is_an_error():
    with pytest.raises(InputError, match=r"user line 9: no value for \$score"):
        render(TRAITS, traits_values(), [User("add", {"user_id": "a"}, "line 9")])


# --- macros per request -----------------------------------------------------------------------------

def test_amp_message_id_is_stable_per_batch_and_distinct_across_batches():
    text = KITCHEN.replace("headers: {X-Request-Id: $request_id}\n    payload: '{\"label\": \"$label\", \"ids\": $items, \"at\"",
                           "headers: {X-Message-Id: $amp_message_id}\n    payload: '{\"label\": \"$label\", \"ids\": $items, \"at\"")
    users = adds(*"abcdefg")

    def ids(seed):
        return [r.header("X-Message-Id") for r in render(text, kitchen_values(), users, context=context(seed))][1:]

    first = ids(1)
    assert len(first) == 3 and len(set(first)) == 3
    assert all(uuid.UUID(i).version == 5 for i in first)
    assert ids(2) == first  # derived from the content, not the clock or the seed


# --- secrets ------------------------------------------------------------------------------------------

def test_masking_replaces_secrets_by_origin_wherever_they_land():
    values = Values({"api_key": "KEY-1", "account_token": "TOK-2"}, {"user_id": "user_id"}, Cohort("1", "c"))
    requests = render(VAULT, values, adds("u"), mask_secrets=True)
    for request in requests:
        shown = json.dumps(request.to_dict()) + request.to_http() + json.dumps(request.to_har_entry())
        assert "KEY-1" not in shown and "TOK-2" not in shown
        assert {v for _, v in request.masked} == {"api_key", "account_token"}
    create = requests[0].to_dict()
    assert create["url"] == f"https://api.vault.example/accounts/{MASK}/lists?region=us"
    assert create["headers"]["X-Account"] == f"acct-{MASK}"
    assert create["headers"]["X-Api-Key"] == MASK
    assert json.loads(create["body"])["token"] == MASK
    revealed = render(VAULT, values, adds("u"))
    assert revealed[0].url == "https://api.vault.example/accounts/TOK-2/lists?region=us"
    assert revealed[0].masked == ()


def test_masking_basic_auth_masks_the_whole_credential():
    request = render_example("relay-basic", mask_secrets=True)[0]
    assert request.to_dict()["headers"]["Authorization"] == "Basic " + MASK
    (sentinel,) = [s for s, name in request.masked if name == "basic_credentials"]  # one, for the whole credential
    assert sentinel.startswith("pssecret") and sentinel.endswith("basicq9z")


def test_user_data_equal_to_a_placeholder_is_never_taken_for_a_secret():
    """A regression: a user id equal to a masking placeholder made masked curl send the key as
    a user id. Placeholders now carry a hash of the secrets, which a user file cannot know."""
    for guess in ("pssecret00q9z", "pssecretbasicq9z", "pssecret01q9z"):
        integration, values, _ = example("relay-basic")
        requests = list(integration.render(values, [User("add", {"user_id_field_amplitude": guess})],
                                           context=context(), mask_secrets=True))
        add = requests[1]
        assert guess in add.to_dict()["body"] and guess in add.to_curl()
        assert "${" not in add.to_curl().split("--data-raw", 1)[1]


def test_masking_changes_nothing_but_the_secrets():
    masked = render_example("nested-audiences", mask_secrets=True)
    plain = render_example("nested-audiences")
    for m, p in zip(masked, plain):
        assert m.to_dict() == {**p.to_dict(), "headers": {**p.to_dict()["headers"], "Authorization": f"Bearer {MASK}"}}

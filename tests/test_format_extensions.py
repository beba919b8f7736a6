"""Format extensions beyond the portal's form, end to end: typed custom fields, Content-Type,
transforms, optional identifiers and base-URL fields — validated, rendered, served, tested
and synced, with hostile values that never change a request's structure."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import portalspec
from portalspec import Cohort, InputError, MacroContext, User, Values, validate
from portalspec.endpoint_test import run_endpoint_test
from portalspec.sync import State, SyncOptions, SyncReport, sync
from portalspec.testing import running_destination
from portalspec.transport import Transport
from portalspec.values import values_from_data

from .conftest import FINDS, MINIMAL, OWN_AUTH, REPO, edit

COHORT = Cohort("77", "Beta")

# A list API on a regional base URL, with a boolean setting, a JSON:API content type, an
# optional email hashed for an ad platform and an optional id.
EXTENDED = """\
portalspec: 1
name: extended
display_name: Extended
type: list
auth: {method: bearer}
headers:
  Content-Type: application/vnd.api+json
custom_fields:
  - variable: base
    display_name: Data center
    type: single_select
    options:
      - {label: US, value: "https://api.us.example"}
      - {label: EU, value: "https://api.eu.example:8443"}
    default: "https://api.us.example"
  - {variable: existing_only, display_name: Update existing users only, type: boolean, default: false}
  - {variable: weight, display_name: Weight, type: number, default: 1.5}
  - {variable: label, display_name: Label, type: string, transform: [trim, upper]}
mapping_fields:
  - {variable: email, mapping_display_name: Email, display_name: Email, required: false, transform: [email, sha256]}
  - {variable: uid, mapping_display_name: User ID, display_name: User ID, required: false}
endpoints:
  create_list:
    method: POST
    url: $base/lists
    payload: '{"name": "$amp_cohort_name", "label": "$label", "weight": $weight}'
    list_id: {path: id}
    example_response: {"id": 12}
  add_users:
    method: POST
    url: $base/lists/$list_id/add
    payload: '{"existingOnly": $existing_only, "users": $items}'
    item_template: '{"emailHash": "$email", "userId": "$uid"}'
  remove_users:
    method: POST
    url: $base/lists/$list_id/remove
    payload: '{"users": $items}'
    item_template: '{"emailHash": "$email", "userId": "$uid"}'
"""


def integration() -> portalspec.Integration:
    return portalspec.compile(portalspec.load(EXTENDED))


def values(**fields: Any) -> Values:
    return Values({"bearer_token": "tok", "label": "  beta  ", **fields}, {"email": "email", "uid": "user_id"}, COHORT)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def rendered(users: list[User], **fields: Any) -> list[portalspec.Request]:
    return list(integration().render(values(**fields), users, context=MacroContext(seed=1)))


def test_the_extended_definition_is_valid_and_all_beyond_the_portal():
    assert [d for d in validate(EXTENDED) if d.is_error] == []
    codes = {d.code for d in validate(EXTENDED, target="portal")}
    assert {"PS507", "PS508", "PS509", "PS510", "PS511"} <= codes


def test_typed_fields_keep_their_json_type_and_a_string_field_is_transformed():
    create, add = rendered([User("add", {"email": " A@X.com ", "uid": "u1"})], existing_only=True)
    assert json.loads(create.body) == {"name": "Beta", "label": "BETA", "weight": 1.5}
    assert json.loads(add.body)["existingOnly"] is True


def test_the_base_url_starts_every_url_and_the_content_type_is_the_definitions():
    create, add = rendered([User("add", {"email": "a@x", "uid": "u1"})], base="https://api.eu.example:8443")
    assert create.url == "https://api.eu.example:8443/lists" and add.url == "https://api.eu.example:8443/lists/12/add"
    assert create.header("Content-Type") == "application/vnd.api+json"


def test_emails_are_normalised_and_hashed_as_ad_platforms_want_and_shown_as_sent():
    _, add = rendered([User("add", {"email": "  Jane.Doe@Example.COM ", "uid": "u1"})])
    (item,) = json.loads(add.body)["users"]
    assert item == {"emailHash": sha("jane.doe@example.com"), "userId": "u1"}
    assert "jane" not in add.to_curl().lower() and sha("jane.doe@example.com") in add.to_curl()  # data, not a secret


def test_a_user_lacking_an_optional_identifier_is_sent_without_that_member():
    users = [User("add", {"email": "a@x", "uid": None}), User("add", {"email": None, "uid": "u2"}),
             User("add", {"email": "b@x", "uid": "u3"})]
    _, add = rendered(users)
    assert json.loads(add.body)["users"] == [{"emailHash": sha("a@x")}, {"userId": "u2"},
                                             {"emailHash": sha("b@x"), "userId": "u3"}]


def test_an_optional_identifier_anywhere_but_a_member_value_is_ps211():
    text = EXTENDED.replace('''item_template: '{"emailHash": "$email", "userId": "$uid"}'
  remove_users''', '''item_template: '{"emailHash": "$email", "userId": "id-$uid"}'
  remove_users''')
    found = [d for d in validate(text) if d.code == "PS211"]
    assert found and "$uid is optional" in found[0].message


@pytest.mark.parametrize("field, value, why", [
    ("existing_only", "yes", "not true or false"),
    ("weight", "heavy", "not a number"),
    ("weight", True, "not a number"),
    ("base", "https://api.other.example", "not one of its options"),
])
def test_a_values_file_value_that_does_not_fit_its_type_is_refused(field, value, why):
    with pytest.raises(InputError, match=why):
        rendered([], **{field: value})


def test_an_origin_field_is_checked_when_the_values_are_read():
    text = EXTENDED.replace('''    type: single_select
    options:
      - {label: US, value: "https://api.us.example"}
      - {label: EU, value: "https://api.eu.example:8443"}
    default: "https://api.us.example"''', '''    type: origin''')
    assert [d for d in validate(text) if d.is_error] == []
    compiled = portalspec.compile(portalspec.load(text))
    for bad in ("https://api.example/v1", "ftp://api.example", "api.example", "https://a b.example"):
        with pytest.raises(InputError, match="not an origin"):
            list(compiled.render(values(base=bad), []))
    assert next(compiled.render(values(base="http://127.0.0.1:8080"), [])).url == "http://127.0.0.1:8080/lists"


def test_only_a_base_url_field_may_start_a_url_and_it_may_stand_nowhere_else():
    text = edit(MINIMAL, "url: https://api.acme.example/lists\n", "url: $region/lists\n")
    assert any(d.code == "PS304" and "only a base-URL field" in d.message for d in validate(text))
    text = EXTENDED.replace('"label": "$label"', '"label": "$base"')
    assert any(d.code == "PS304" and "may stand only at the very start" in d.message for d in validate(text))


def test_a_select_whose_options_cannot_stand_where_used_is_ps316():
    text = edit(MINIMAL, "      - {label: Europe, value: eu}", "      - {label: Europe, value: api.eu}")
    text = edit(text, "url: https://api.acme.example/lists\n", "url: https://$region.acme.example/lists\n")
    (diag,) = [d for d in validate(text) if d.code == "PS316"]
    assert diag.path == ("custom_fields", 0, "options", 1, "value") and "'api.eu'" in diag.message


# --- serve, test and sync --------------------------------------------------------------

@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    definition, values_file = tmp_path / "integration.yaml", tmp_path / "values.yaml"
    definition.write_text(EXTENDED)
    values_file.write_text(json.dumps({"fields": {"bearer_token": "tok", "label": " beta ", "existing_only": True},
                                       "mappings": {"email": "email", "uid": "user_id"},
                                       "cohort": {"id": "77", "name": "Beta"}}))
    return definition, values_file


def test_serve_and_the_endpoint_test_take_typed_transformed_and_optional_values(files):
    definition, values_file = files
    users = [User("add", {"email": "A@x", "uid": None}), User("remove", {"email": None, "uid": "u9"})]
    with running_destination(definition, values_file) as dest, Transport(base_url=dest.url) as transport:
        report = run_endpoint_test(integration(), portalspec.load_values(values_file), users, transport=transport)
        assert report.passed, report.to_text()
        members = dest.state()["lists"][0]["members"]
    assert [m["values"] for m in members] == [{"email": sha("a@x")}]


def test_sync_delivers_extended_users_and_keeps_identity_apart_from_transformed_values(files):
    definition, values_file = files
    cohort = [User("add", {"email": "A@x.com", "uid": None}, key="amp-1"),
              User("add", {"email": "b@x.com", "uid": "u2"}, key="amp-2")]
    with running_destination(definition, values_file) as dest, Transport(base_url=dest.url) as transport, \
            State(":memory:") as state:
        report = sync(integration(), portalspec.load_values(values_file), cohort, state=state, transport=transport,
                      options=SyncOptions())
        assert report.ok, report.errors
        assert set(state.members(1)) == {"amp-1", "amp-2"}  # identities, never hashed values
        hashes = sorted(m["values"]["email"] for m in dest.state()["lists"][0]["members"])
    assert hashes == sorted([sha("a@x.com"), sha("b@x.com")])


# --- hostile values never change a request's structure ---------------------------------

hostile = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=150, deadline=None)
@given(email=st.none() | hostile, uid=st.none() | hostile, label=hostile)
def test_hostile_values_through_transforms_and_optional_members_keep_the_structure(email, uid, label):
    if email in (None, "") and uid in (None, ""):
        return  # a user lacking every identifier is skipped by the readers
    try:
        create, add = rendered([User("add", {"email": email, "uid": uid})], label=label)
    except InputError:
        return  # a label a header or URL cannot carry is refused, never sent
    assert json.loads(create.body)["label"] == label.strip().upper()
    (item,) = json.loads(add.body)["users"]
    expected = {}
    if email not in (None, ""):
        expected["emailHash"] = sha(email.strip().lower())
    if uid not in (None, ""):
        expected["userId"] = uid
    assert item == expected


PER_USER = edit(MINIMAL, """    url: https://api.acme.example/lists/$list_id/add
    payload: |
      {"userIds": $items}
    item_template: '"$user_id"'""", """    url: https://api.acme.example/lists/$list_id/users/$user_id?tag=$user_id
    batch_size: 1
    payload: '{"user": $item}'
    item_template: '{"id": "$user_id", "in": $amp_in_cohort}'""")


@settings(max_examples=150, deadline=None)
@given(uid=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30))
def test_a_per_user_endpoint_sends_one_request_each_with_the_id_as_one_path_segment(uid):
    from urllib.parse import parse_qs, unquote, urlsplit

    integration = portalspec.compile(portalspec.load(PER_USER))
    users = [User("add", {"user_id": uid}), User("add", {"user_id": "second"})]
    requests = list(integration.render(Values({"bearer_token": "t"}, {"user_id": "user_id"}, COHORT), users))
    adds = [r for r in requests if r.endpoint == "add_users"]
    assert len(adds) == 2  # one request per user
    parts = urlsplit(adds[0].url)
    segments = parts.path.split("/")
    assert len(segments) == 5 and unquote(segments[-1]) == uid  # the id is one segment, whatever it holds
    assert parse_qs(parts.query, keep_blank_values=True)["tag"] == [uid]
    assert json.loads(adds[0].body) == {"user": {"id": uid, "in": True}}  # the item itself, not an array


def test_per_user_values_and_item_are_only_for_batch_size_1():
    text = PER_USER.replace("    batch_size: 1\n", "")
    codes = {d.code for d in validate(text) if d.is_error}
    assert "PS205" in codes  # $user_id in the URL and $item need one request per user


QUERY = edit(MINIMAL, """    url: https://api.acme.example/lists/$list_id/remove
    payload: |
      {"userIds": $items}
    item_template: '"$user_id"'""", """    method: DELETE
    url: https://api.acme.example/lists/$list_id/members?ids=$items&force=1
    max_url_bytes: 300
    item_template: '$user_id'""").replace("  remove_users:\n    method: POST\n", "  remove_users:\n")


def query_values() -> Values:
    return Values({"bearer_token": "tok-query-secret"}, {"user_id": "user_id"}, COHORT)


def test_items_in_a_query_are_percent_encoded_joined_and_split_to_fit_the_url():
    from urllib.parse import parse_qs, urlsplit

    integration = portalspec.compile(portalspec.load(QUERY))
    ids = [f"{i:04d}-user,with&odd=chars%@example.com" for i in range(40)]
    removes = [r for r in integration.render(query_values(), [User("remove", {"user_id": u}) for u in ids])
               if r.endpoint == "remove_users"]
    assert len(removes) > 1 and all(r.body is None and r.header("Content-Type") is None for r in removes)
    assert all(len(r.url.encode()) <= 300 for r in removes)
    got = []
    for request in removes:
        query = urlsplit(request.url).query
        raw = dict(pair.split("=", 1) for pair in query.split("&"))
        assert raw["force"] == "1"
        from urllib.parse import unquote
        got += [unquote(piece) for piece in raw["ids"].split(",")]
    assert got == ids  # every user, once, in order, whatever the id holds
    assert sum(r.items for r in removes) == 40


def test_one_user_too_large_for_the_url_is_an_error_naming_the_user():
    integration = portalspec.compile(portalspec.load(QUERY))
    with pytest.raises(InputError, match="alone is .* over max_url_bytes 300"):
        list(integration.render(query_values(), [User("remove", {"user_id": "x" * 400})]))


def test_a_body_over_max_body_bytes_is_split_and_synced_piece_by_piece():
    import httpx

    text = edit(MINIMAL, """    item_template: '"$user_id"'\n  remove_users""",
                """    item_template: '"$user_id"'\n    max_body_bytes: 200\n  remove_users""")
    integration = portalspec.compile(portalspec.load(text))
    ids = [f"{i:03d}-{'u' * 20}@example.com" for i in range(30)]
    bodies: list[bytes] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/add"):
            bodies.append(request.content)
        return httpx.Response(200, json={"listId": 3})

    with State(":memory:") as state:
        report = sync(integration, query_values(), ids, state=state,
                      transport=Transport(client=httpx.Client(transport=httpx.MockTransport(answer))),
                      options=SyncOptions(concurrency=1))
        assert report.ok and report.delivered == 30
        assert set(state.members(1)) == set(ids)
    assert len(bodies) > 1 and all(len(b) <= 200 for b in bodies)
    assert [u for b in bodies for u in json.loads(b)["userIds"]] == ids


@settings(max_examples=100, deadline=None)
@given(ids=st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=15),
                    min_size=1, max_size=6, unique=True))
def test_query_items_read_back_by_serve_are_the_ids_sent(ids):
    from werkzeug.test import Client

    from portalspec.destination import Destination

    integration = portalspec.compile(portalspec.load(QUERY.replace("max_url_bytes: 300", "max_url_bytes: 100000")))
    values = query_values()
    destination = Destination(integration, values)
    client = Client(destination)
    def send(request: portalspec.Request) -> Any:
        split = request.url.split("://", 1)[1]
        answer = client.open("/" + split.split("/", 1)[1], method=request.method, headers=list(request.headers),
                             data=request.body)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return answer.json

    list_id = send(next(integration.render(values, [], endpoint="create_list")))["listId"]
    rest = integration.render(values, [User("add", {"user_id": u}) for u in ids] +
                              [User("remove", {"user_id": u}) for u in ids], list_id=list_id)
    for request in rest:
        if request.endpoint == "create_list":
            continue
        send(request)
    assert destination.state()["lists"][0]["members"] == []  # every id came back exactly as added


EXISTS = edit(MINIMAL, """    payload: |
      {"name": "[Amplitude] $amp_cohort_name"}
    list_id:
      path: listId
    example_response: {"listId": 2568}""", """    payload: |
      {"key": "amp-$amp_cohort_id", "name": "[Amplitude] $amp_cohort_name"}
    list_id: {from: request_body, path: key}
    exists_on: [409]""")


def test_a_list_that_exists_already_is_used_when_the_request_names_it(tmp_path: Path):
    """LaunchDarkly answers 409 for an existing key: without exists_on every sync after a first
    run cut short between the create and storing its answer failed for ever."""
    definition = tmp_path / "integration.yaml"
    definition.write_text(EXISTS)
    values_file = tmp_path / "values.yaml"
    values_file.write_text(json.dumps({"fields": {"bearer_token": "tok-exists"}, "mappings": {"user_id": "user_id"},
                                       "cohort": {"id": "31", "name": "Beta"}}))
    integration = portalspec.compile(portalspec.load(definition))
    values = portalspec.load_values(values_file)
    with running_destination(definition, values_file) as dest, Transport(base_url=dest.url) as transport:
        with State(":memory:") as first:
            assert sync(integration, values, ["a@x"], state=first, transport=transport).ok
        with State(":memory:") as lost:  # the state of the first run is gone: create again → 409
            report = sync(integration, values, ["a@x", "b@x"], state=lost, transport=transport)
        assert report.ok and report.list_id == "amp-31", report.errors
        test = run_endpoint_test(integration, values, [User("add", {"user_id": "c@x"})], transport=transport)
        assert test.passed, test.to_text()
        lists = dest.state()["lists"]
    assert len(lists) == 1 and {m["key"] for m in lists[0]["members"]} == {"a@x", "b@x", "c@x"}


def test_exists_on_needs_the_list_named_in_the_request():
    text = edit(MINIMAL, '    example_response: {"listId": 2568}', '    example_response: {"listId": 2568}\n'
                                                                      '    exists_on: [409]')
    assert any(d.code == "PS317" for d in validate(text))


def test_a_per_user_endpoint_without_a_body_is_served():
    """A regression: a body-less per-user DELETE (the user only in the path) answered 500."""
    from werkzeug.test import Client

    from portalspec.destination import Destination

    text = edit(MINIMAL, """    url: https://api.acme.example/lists/$list_id/remove
    payload: |
      {"userIds": $items}
    item_template: '"$user_id"'""", """    method: DELETE
    url: https://api.acme.example/lists/$list_id/users/$user_id
    batch_size: 1
    item_template: '"$user_id"'""").replace("  remove_users:\n    method: POST\n", "  remove_users:\n")
    assert [d for d in validate(text) if d.is_error] == []
    integration = portalspec.compile(portalspec.load(text))
    values = Values({"bearer_token": "tok-per-user"}, {"user_id": "user_id"}, COHORT)
    client = Client(Destination(integration, values))
    sent = []
    create = next(integration.render(values, [], endpoint="create_list"))
    list_id = client.post("/lists", headers=list(create.headers), data=create.body).json["listId"]
    for request in integration.render(values, [User("add", {"user_id": "a/b"}), User("remove", {"user_id": "a/b"})],
                                      list_id=list_id):
        if request.endpoint == "create_list":
            continue
        path = "/" + request.url.split("://", 1)[1].split("/", 1)[1]
        answer = client.open(path, method=request.method, headers=list(request.headers), data=request.body)
        sent.append((request.endpoint, answer.status_code, answer.json))
    assert [(e, s) for e, s, _ in sent] == [("add_users", 200), ("remove_users", 200)]
    assert sent[1][2]["removed"] == 1


# --- lists that already exist, found again (find_list) ------------------------------------

def finds_files(tmp_path: Path, name: str) -> tuple[Path, Path]:
    definition = tmp_path / "integration.yaml"
    definition.write_text(FINDS)
    values_file = tmp_path / "values.yaml"
    values_file.write_text(json.dumps({"fields": {"bearer_token": "tok-find"}, "mappings": {"user_id": "user_id"},
                                       "cohort": {"id": "31", "name": name}}))
    return definition, values_file


def test_a_sync_whose_state_was_lost_finds_its_list_and_creates_no_second_one(tmp_path: Path):
    definition, values_file = finds_files(tmp_path, "It's [new] \\ \")] $x")
    integration = portalspec.compile(portalspec.load(definition))
    values = portalspec.load_values(values_file)
    with running_destination(definition, values_file) as dest, Transport(base_url=dest.url) as transport:
        with State(":memory:") as first:
            created = sync(integration, values, ["a@x"], state=first, transport=transport)
        with State(":memory:") as lost:  # the first run's state is gone: find_list finds the list
            again = sync(integration, values, ["a@x", "b@x"], state=lost, transport=transport)
        test = run_endpoint_test(integration, values, [User("add", {"user_id": "c@x"})], transport=transport)
        lists = dest.state()["lists"]
        endpoints = [r["endpoint"] for r in dest.requests()]
    assert created.ok and created.created_list and again.ok and not again.created_list, again.errors
    assert again.list_id == created.list_id == test.list_id and test.passed, test.to_text()
    assert len(lists) == 1 and {m["key"] for m in lists[0]["members"]} == {"a@x", "b@x", "c@x"}
    assert endpoints.count("create_list") == 1 and endpoints.count("find_list") == 3


def test_the_cli_tests_and_syncs_a_lookup_against_serve(tmp_path: Path):
    from click.testing import CliRunner

    from portalspec.cli import main

    definition, values_file = finds_files(tmp_path, "Beta")
    users = tmp_path / "users.csv"
    users.write_text("operation,user_id\nadd,a@x\nremove,b@x\n")
    cohort = tmp_path / "cohort.txt"
    cohort.write_text("a@x\n")
    with running_destination(definition, values_file) as dest:
        base = ["--values", str(values_file), "--base-url", dest.url]
        first = CliRunner().invoke(main, ["test", str(definition), "--users", str(users), *base])
        synced = CliRunner().invoke(main, ["sync", str(definition), "--cohort-file", str(cohort),
                                           "--state", str(tmp_path / "s.db"), *base])
        plan = CliRunner().invoke(main, ["sync", str(definition), "--cohort-file", str(cohort), "--dry-run",
                                         "--state", str(tmp_path / "other.db"), *base])
        lists = dest.state()["lists"]
    assert first.exit_code == 0 and "no such list yet: create_list creates it" in first.output, first.output
    assert synced.exit_code == 0, synced.output
    assert "find_list" in plan.output and plan.output.index("find_list") < plan.output.index("create_list")
    assert len(lists) == 1


@settings(max_examples=40, deadline=None)
@given(names=st.lists(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20), min_size=2,
                      max_size=3, unique=True))
def test_hostile_cohort_names_each_find_their_own_list(names):
    """Quotes, brackets and backslashes in cohort names: each sync, its state lost, finds its
    own cohort's list among the others and never creates another."""
    import httpx

    from portalspec.destination import Destination

    integration = portalspec.compile(portalspec.load(FINDS))
    base = portalspec.Values({"bearer_token": "tok-find"}, {"user_id": "user_id"}, None)
    destination = Destination(integration, base)
    with Transport(client=httpx.Client(transport=httpx.WSGITransport(app=destination))) as transport:
        first = {}
        for i, name in enumerate(names):
            values = portalspec.Values(base.fields, base.mappings, Cohort(str(i), name))
            with State(":memory:") as state:
                first[name] = sync(integration, values, [f"u{i}"], state=state, transport=transport).list_id
        for i, name in enumerate(names):
            values = portalspec.Values(base.fields, base.mappings, Cohort(str(i), name))
            with State(":memory:") as state:
                report = sync(integration, values, [f"u{i}", f"v{i}"], state=state, transport=transport)
            assert report.ok and report.list_id == first[name] and not report.created_list, report.errors
    assert len(destination.state()["lists"]) == len(names) == len(set(first.values()))


# --- an endpoint's own auth: a second credential ------------------------------------------

OWN_VALUES = {"fields": {"bearer_token": "tok-top", "site_id": "site-9", "app_key": "k/ey\"1"},
              "mappings": {"user_id": "user_id"}, "cohort": {"id": "31", "name": "Beta"}}


def test_an_endpoints_own_basic_auth_reads_its_fields_never_the_top_level_variables():
    integration = portalspec.compile(portalspec.load(OWN_AUTH))
    values = values_from_data(OWN_VALUES)
    revealed = list(integration.render(values, [User("add", {"user_id": "a"})], list_id=5))
    assert revealed[0].header("Authorization") == "Basic " + base64.b64encode(b'site-9:k/ey"1').decode()
    assert revealed[1].header("Authorization") == "Bearer tok-top"
    basic_only = edit(OWN_AUTH, "fields: {api_key: site_id, secret_key: app_key}", "fields: {api_key: site_id}")
    basic_only = basic_only.replace("  - {variable: app_key, display_name: App key, type: string, secret: true}\n", "")
    top_basic = basic_only.replace("auth:\n  method: bearer", "auth:\n  method: basic")
    values = values_from_data({**OWN_VALUES, "fields": {"api_key": "top", "secret_key": "TOPSECRET",
                                                                   "site_id": "site-9"}})
    create = next(portalspec.compile(portalspec.load(top_basic)).render(values, [], endpoint="create_list"))
    assert create.header("Authorization") == "Basic " + base64.b64encode(b"site-9:").decode()  # not TOPSECRET


def test_an_endpoints_own_credential_is_masked_in_every_format():
    from portalspec.formats import FORMATS, FormatOptions

    integration = portalspec.compile(portalspec.load(OWN_AUTH))
    values = values_from_data(OWN_VALUES)
    requests = list(integration.render(values, [User("add", {"user_id": "a"})], list_id=5, mask_secrets=True))
    derived = base64.b64encode(b'site-9:k/ey"1').decode()
    for name, writer in FORMATS.items():
        text = "".join(writer(requests, FormatOptions(env_prefix="ACME")))
        assert not any(secret in text for secret in ("site-9", "k/ey", derived, "tok-top")), name
    curl = "".join(FORMATS["curl"](requests, FormatOptions(env_prefix="ACME")))
    assert '-u "${ACME_SITE_ID}:${ACME_APP_KEY}"' in curl and "export ACME_SITE_ID=" in curl
    masker = integration.bind(values).masker
    assert masker(f"Basic {derived} and tok-top") == "Basic ******** and ********"


def test_serve_checks_each_endpoints_own_credential():
    from werkzeug.test import Client

    from portalspec.destination import Destination

    integration = portalspec.compile(portalspec.load(OWN_AUTH))
    values = values_from_data(OWN_VALUES)
    client = Client(Destination(integration, values))
    basic = {"Authorization": "Basic " + base64.b64encode(b'site-9:k/ey"1').decode()}
    bearer = {"Authorization": "Bearer tok-top"}
    body = json.dumps({"name": "[Amplitude] Beta"})
    assert client.post("/lists", data=body, headers=bearer, content_type="application/json").status_code == 401
    created = client.post("/lists", data=body, headers=basic, content_type="application/json")
    assert created.status_code == 200
    add = json.dumps({"userIds": ["a"]})
    path = f"/lists/{created.json['listId']}/add"
    assert client.post(path, data=add, headers=basic, content_type="application/json").status_code == 401
    assert client.post(path, data=add, headers=bearer, content_type="application/json").status_code == 200


CUSTOMERIO = REPO / "integrations" / "customerio-segments"


def _sync_twice_losing_the_state(folder: Path, first: list[str], second: list[str]
                                 ) -> tuple[SyncReport, SyncReport, list[dict[str, Any]], dict[str, Any]]:
    """Two syncs of ``folder``'s example into serve, the second with a new state (the first's
    lost): both reports, what serve received, and what it holds."""
    definition, values_file = folder / "integration.yaml", folder / "values.yaml"
    integration = portalspec.compile(portalspec.load(definition))
    values = portalspec.load_values(values_file)
    with running_destination(definition, values_file) as dest, Transport(base_url=dest.url) as transport:
        with State(":memory:") as state:
            created = sync(integration, values, first, state=state, transport=transport)
        with State(":memory:") as lost:
            again = sync(integration, values, second, state=lost, transport=transport)
        return created, again, dest.requests(), dest.state()


def test_customerio_syncs_with_two_credentials_and_finds_its_segment_again():
    """The Track API's basic credential on add/remove, the App API's bearer key on find/create;
    a sync whose state was lost finds the segment by its name instead of making another."""
    created, again, requests, held = _sync_twice_losing_the_state(CUSTOMERIO, ["c1", "c2"], ["c1", "c3"])
    received = [(r["endpoint"], r["status"], r["headers"]["Authorization"]) for r in requests]
    lists = held["lists"]
    assert created.ok and created.created_list and again.ok and not again.created_list, again.errors
    assert again.list_id == created.list_id and len(lists) == 1
    assert {m["key"] for m in lists[0]["members"]} == {"c1", "c2", "c3"}  # (the lost state could not remove c2)
    assert [e for e, _, _ in received] == ["find_list", "create_list", "add_users", "find_list", "add_users"]
    assert all(status == 200 and auth == "********" for _, status, auth in received)


HUBSPOT = REPO / "integrations" / "hubspot-lists"


def test_hubspot_syncs_with_oauth2_and_finds_its_list_by_name_again():
    """OAuth2 (refresh token grant) from serve's token endpoint, the list looked up by its name
    in the URL path before creating it; a sync whose state was lost finds the list again."""
    created, again, requests, held = _sync_twice_losing_the_state(HUBSPOT, ["51201", "51877"], ["51201", "60342"])
    received = [(r["endpoint"], r["status"]) for r in requests]
    lists = held["lists"]
    secrets = portalspec.load_values(HUBSPOT / "values.yaml").fields
    shown = json.dumps(held) + json.dumps(requests)
    assert created.ok and created.created_list and again.ok and not again.created_list, again.errors
    assert again.list_id == created.list_id and len(lists) == 1
    assert {m["key"] for m in lists[0]["members"]} == {"51201", "51877", "60342"}
    assert [e for e, _ in received if e != "token"] == ["find_list", "create_list", "add_users", "find_list",
                                                        "add_users"]
    assert [s for e, s in received if e == "find_list"] == [404, 200]
    assert all(status in (200, 404) for _, status in received)
    assert secrets["refresh_token"] not in shown and secrets["client_secret"] not in shown

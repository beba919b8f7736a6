"""The destination derived from a definition, driven in process with werkzeug's test Client."""

from __future__ import annotations

import base64
import json
import threading
from typing import Any
from urllib.parse import quote

import pytest
from werkzeug.test import Client, TestResponse

from portalspec.destination import Destination, Faults, build_destination, route_rule
from portalspec.diagnostics import InputError
from portalspec.integration import compile as compile_definition
from portalspec.template import Kind, Template
from portalspec.validate import load
from portalspec.values import values_from_data

from .conftest import MINIMAL, PROPERTY, REPO, edit

CONTEXT = {"integration": {"name": "Amplitude Cohort Sync", "version": "1.0.0"}}
INFOBIP_AUTH = {"Authorization": "App test-key-123"}
MINIMAL_VALUES = {"fields": {"bearer_token": "tok-1"}, "mappings": {"user_id": "user_id"},
                  "cohort": {"id": "c1", "name": "Beta"}}
BEARER = {"Authorization": "Bearer tok-1"}


def destination(definition: str, values: dict[str, Any] | None = None, **options: Any) -> Destination:
    return Destination(compile_definition(load(definition)), values_from_data(values or MINIMAL_VALUES), **options)


def example(name: str, **options: Any) -> Destination:
    base = REPO / "integrations" / name
    return build_destination(base / "integration.yaml", base / "values.yaml", **options)


def post(client: Client, path: str, body: Any, headers: dict[str, str], method: str = "POST") -> TestResponse:
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.open(path, method=method, data=data, headers=headers, content_type="application/json")


def create_infobip(client: Client) -> Any:
    response = post(client, "/people/2/lists", {"name": "[Amplitude] Beta users: 1234", "context": CONTEXT},
                    INFOBIP_AUTH)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json["listId"]


# --- routing ----------------------------------------------------------------------------

def test_routes_are_the_url_paths_with_variables_as_parameters():
    rule, params = route_rule(Template.compile(
        "https://$region.acme.example/v1/a b/<x>/$list_id/~u?list=$list_id&k=$api_key", Kind.URL, "url"))
    assert rule == "/v1/a%20b/%3Cx%3E/<seg:p0>/~u"  # host and query left out, literal text escaped
    assert params == (("p0", "list_id"),)


def test_an_unknown_path_is_404_and_a_wrong_method_405():
    client = Client(example("infobip"))
    missing = post(client, "/people/2/nowhere", {}, INFOBIP_AUTH)
    assert missing.status_code == 404
    assert "POST /people/2/lists  (create_list)" in missing.json["routes"]
    wrong = client.get("/people/2/lists/1/add")
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "POST"
    assert wrong.json["allowed"] == ["POST"]


def test_endpoints_on_one_path_and_method_are_told_apart_by_their_bodies():
    text = edit(edit(MINIMAL, "https://api.acme.example/lists/$list_id/add", "https://api.acme.example/lists/$list_id"),
                "https://api.acme.example/lists/$list_id/remove", "https://api.acme.example/lists/$list_id")
    add, remove = text.split("  remove_users:")
    text = (edit(add, '{"userIds": $items}', '{"action": "add", "userIds": $items}') + "  remove_users:"
            + edit(remove, '{"userIds": $items}', '{"action": "remove", "userIds": $items}'))
    client = Client(destination(text))
    list_id = post(client, "/lists", {"name": "[Amplitude] Beta"}, BEARER).json["listId"]
    assert post(client, f"/lists/{list_id}", {"action": "add", "userIds": ["a", "b"]}, BEARER).json["size"] == 2
    assert post(client, f"/lists/{list_id}", {"action": "remove", "userIds": ["a"]}, BEARER).json["removed"] == 1
    neither = post(client, f"/lists/{list_id}", {"action": "purge", "userIds": []}, BEARER)
    assert neither.status_code == 400 and neither.json["path"] == "$.action"


# --- authentication ---------------------------------------------------------------------

@pytest.mark.parametrize("headers, ok", [
    ({}, False),
    ({"Authorization": "Bearer nope"}, False),
    ({"Authorization": "Basic dG9rLTE6"}, False),
    ({"Authorization": "bearer tok-1"}, True),  # the scheme is case-insensitive
])
def test_bearer_auth(headers: dict[str, str], ok: bool):
    response = post(Client(destination(MINIMAL)), "/lists", {"name": "[Amplitude] Beta"}, headers)
    assert response.status_code == (200 if ok else 401)
    if not ok:
        assert "credentials" in response.json["error"] and "tok-1" not in response.get_data(as_text=True)


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_basic_auth_compares_both_halves():
    client = Client(example("relay-basic"))
    body = {"slug": "amplitude-x", "title": "[Amplitude] x: 1"}
    assert post(client, "/v1/lists", body, _basic("test-key-123", "wrong")).status_code == 401
    assert post(client, "/v1/lists", body, {"Authorization": "Basic !!!"}).status_code == 401
    assert post(client, "/v1/lists", body, _basic("test-key-123", "test-secret-456")).status_code == 200


def test_header_auth_and_secret_headers():
    relay = Client(example("relay-header"))
    body = {"slug": "amplitude-x", "title": "[Amplitude] x: 1", "created_at": "2026-01-01T00:00:00Z"}
    assert post(relay, "/v1/lists", body, {"X-Relay-Key": "nope"}).status_code == 401
    assert post(relay, "/v1/lists", body, {"X-Relay-Key": "test-key-123"}).status_code == 200
    infobip = Client(example("infobip"))
    body = {"name": "[Amplitude] x: 1", "context": CONTEXT}
    wrong = post(infobip, "/people/2/lists", body, {"Authorization": "App nope"})
    assert wrong.status_code == 401 and "'App $api_key'" in wrong.json["error"]
    assert post(infobip, "/people/2/lists", body, {"Authorization": "Bearer test-key-123"}).status_code == 401
    assert post(infobip, "/people/2/lists", body, INFOBIP_AUTH).status_code == 200


def test_credentials_are_checked_before_the_body():
    response = post(Client(example("infobip")), "/people/2/lists", "not json", {})
    assert response.status_code == 401


# --- bodies -----------------------------------------------------------------------------

def test_a_body_that_does_not_fit_is_400_naming_where():
    client = Client(example("infobip"))
    list_id = create_infobip(client)
    response = post(client, f"/people/2/lists/{list_id}/add",
                    {"userIds": ["a", "b", "c", {"id": "d"}], "context": CONTEXT}, INFOBIP_AUTH)
    assert response.status_code == 400
    assert response.json["path"] == "$.userIds[3]"
    assert "$.userIds[3]" in response.json["error"] and "$user_id_field_amplitude" in response.json["expected"]
    assert client.get("/_portalspec/state").json["lists"][0]["members"] == []  # nothing applied


@pytest.mark.parametrize("body, says", [
    (b"{\"userIds\": [", "not JSON"),
    (b"\xff\xfe", "not UTF-8"),
    (b"", "not JSON"),
])
def test_a_body_that_is_not_json_is_400(body: bytes, says: str):
    client = Client(example("infobip"))
    list_id = create_infobip(client)
    response = post(client, f"/people/2/lists/{list_id}/add", body, INFOBIP_AUTH)
    assert response.status_code == 400 and says in response.json["error"]


def test_a_known_field_in_the_path_must_be_the_values_files():
    client = Client(example("flagsmith"))
    body = {"name": "[Amplitude] Power users (5678)", "cohort_id": "5678"}
    auth = {"Authorization": "Bearer test-token-123"}
    wrong = post(client, "/api/v1/environments/other-env/amplitude-cohorts/", body, auth)
    assert wrong.status_code == 404 and "$environment_key" in wrong.json["error"]
    assert post(client, "/api/v1/environments/ser.test-env-456/amplitude-cohorts/", body, auth).status_code == 200


def test_more_items_than_the_batch_size_is_400():
    client = Client(destination(edit(MINIMAL, "item_template: '\"$user_id\"'\n  remove_users",
                                     "item_template: '\"$user_id\"'\n    batch_size: 2\n  remove_users")))
    list_id = post(client, "/lists", {"name": "[Amplitude] Beta"}, BEARER).json["listId"]
    assert post(client, f"/lists/{list_id}/add", {"userIds": ["a", "b"]}, BEARER).status_code == 200
    response = post(client, f"/lists/{list_id}/add", {"userIds": ["a", "b", "c"]}, BEARER)
    assert response.status_code == 400 and "batch_size is 2" in response.json["error"]


# --- lists ------------------------------------------------------------------------------

def test_unknown_list_is_404_with_a_json_message():
    client = Client(example("infobip"))
    create_infobip(client)
    response = post(client, "/people/2/lists/999/add", {"userIds": ["a"], "context": CONTEXT}, INFOBIP_AUTH)
    assert response.status_code == 404
    assert response.json["error"].startswith("no list '999'")


def test_add_and_remove_change_the_membership_keeping_every_mapped_value():
    client = Client(example("nested-audiences"))
    auth = {"Authorization": "Bearer test-token-789"}
    created = post(client, "/v2/audiences", {"name": "[Amplitude] Cart: 9012", "platform": "ios",
                                             "source": {"type": "amplitude", "cohort_id": "9012"}}, auth)
    list_id = created.json["response"]["data"]["id"]
    assert list_id == "aud_1"  # a string, prefixed like example_response's "aud_123"
    members = [{"external_id": "u1", "email": "u1@x"}, {"external_id": "u2", "email": "u2@x"}]
    added = post(client, "/v2/audiences/members/add", {"audience_id": list_id, "members": members}, auth)
    assert added.json["size"] == 2
    gone = post(client, "/v2/audiences/members/remove", {"audience_id": list_id, "members": members[:1]}, auth)
    assert gone.json == {"list_id": "aud_1", "removed": 1, "not_members": 0, "size": 1}
    state = client.get("/_portalspec/state").json
    assert state["lists"][0]["members"] == [{"key": "u2", "values": {"user_id_field_amplitude": "u2",
                                                                     "email_field": "u2@x"}}]
    wrong_list = post(client, "/v2/audiences/members/add", {"audience_id": "aud_9", "members": []}, auth)
    assert wrong_list.status_code == 404


def test_create_answers_like_example_response_with_an_integer_id():
    client = Client(example("flagsmith"))
    response = post(client, "/api/v1/environments/ser.test-env-456/amplitude-cohorts/",
                    {"name": "[Amplitude] Power users (5678)", "cohort_id": "5678"},
                    {"Authorization": "Bearer test-token-123"})
    assert response.json == {"id": 1, "name": "[Amplitude] Power users (5678)"}
    second = post(client, "/api/v1/environments/ser.test-env-456/amplitude-cohorts/",
                  {"name": "[Amplitude] Power users (5678)", "cohort_id": "5678"},
                  {"Authorization": "Bearer test-token-123"})
    assert second.json["id"] == 2


def test_create_answers_the_id_in_a_header():
    text = edit(MINIMAL, "    list_id:\n      path: listId\n    example_response: {\"listId\": 2568}",
                "    list_id:\n      from: response_header\n      path: X-List-Id\n"
                "    example_response: {\"X-List-Id\": \"L-1\"}")
    client = Client(destination(text))
    response = post(client, "/lists", {"name": "[Amplitude] Beta"}, BEARER)
    assert response.headers["X-List-Id"] == "L-1"
    assert post(client, "/lists/L-1/add", {"userIds": ["a"]}, BEARER).status_code == 200


def test_create_takes_the_id_from_the_request_and_a_hostile_id_routes_exactly():
    text = edit(MINIMAL, '{"name": "[Amplitude] $amp_cohort_name"}',
                '{"name": "[Amplitude] $amp_cohort_name", "id": "$amp_cohort_id"}')
    text = edit(text, "    list_id:\n      path: listId\n    example_response: {\"listId\": 2568}",
                "    list_id:\n      from: request_body\n      path: id")
    client = Client(destination(text))
    hostile = 'a/b "c" é %2F ..'
    assert post(client, "/lists", {"name": "[Amplitude] Beta", "id": hostile}, BEARER).status_code == 200
    path = f"/lists/{quote(hostile, safe='')}/add"
    assert post(client, path, {"userIds": ["x"]}, BEARER).status_code == 200
    assert client.get("/_portalspec/state").json["lists"][0]["id"] == hostile


def test_update_users_sets_and_clears_the_cohort_trait():
    client = Client(example("segment-identify"))
    auth = _basic("test-write-key-123", "")

    def identify(uid: str, flag: bool) -> dict[str, Any]:
        return {"type": "identify", "userId": uid, "traits": {"[Amplitude] Trial converters: 3456": flag},
                "context": CONTEXT}

    both = post(client, "/v1/batch", {"batch": [identify("u1", True), identify("u2", True)]}, auth)
    assert both.json == {"updated": 2}
    post(client, "/v1/batch", {"batch": [identify("u1", False)]}, auth)
    users = {u["key"]: u["traits"] for u in client.get("/_portalspec/state").json["users"]}
    assert users == {"u1": {"3456": False}, "u2": {"3456": True}}


def test_without_a_cohort_id_the_trait_is_named_for_the_definition():
    text = edit(PROPERTY, '"traits": {"cohort $amp_cohort_id": $amp_in_cohort}', '"member": $amp_in_cohort')
    values = {"fields": {"api_key": "k"}, "mappings": {"user_id": "user_id"}}
    client = Client(destination(text, values))
    post(client, "/v1/batch", {"batch": [{"userId": "u1", "member": True}]}, _basic("k", ""))
    assert client.get("/_portalspec/state").json["users"][0]["traits"] == {"traits": True}


# --- faults -----------------------------------------------------------------------------

def test_injected_failures_answer_the_status_with_retry_after_and_change_nothing():
    client = Client(example("infobip", faults=Faults(fail_rate=1.0, fail_status=429, retry_after=7)))
    response = post(client, "/people/2/lists", {"name": "[Amplitude] x: 1", "context": CONTEXT}, INFOBIP_AUTH)
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"
    assert client.get("/_portalspec/state").json["lists"] == []
    assert [r["injected"] for r in client.get("/_portalspec/requests").json] == [True]


def test_no_retry_after_unless_configured():
    client = Client(example("infobip", faults=Faults(fail_rate=1.0)))
    response = post(client, "/people/2/lists", {}, INFOBIP_AUTH)
    assert response.status_code == 500 and "Retry-After" not in response.headers


def test_a_seed_makes_the_failures_reproducible():
    def statuses(seed: int) -> list[int]:
        client = Client(example("infobip", faults=Faults(fail_rate=0.5, seed=seed)))
        body = {"name": "[Amplitude] x: 1", "context": CONTEXT}
        return [post(client, "/people/2/lists", body, INFOBIP_AUTH).status_code for _ in range(30)]

    first = statuses(11)
    assert first == statuses(11)
    assert {200, 500} <= set(first)
    assert first != statuses(12)


def test_latency_is_applied_to_endpoint_requests_only():
    slept: list[float] = []
    client = Client(example("infobip", faults=Faults(latency_ms=250), sleep=slept.append))
    response = post(client, "/people/2/lists", {"name": "[Amplitude] x: 1", "context": CONTEXT}, INFOBIP_AUTH)
    assert response.headers["X-Portalspec-Latency-Ms"] == "250"
    assert slept == [0.25]
    client.get("/_portalspec/state")
    assert slept == [0.25]


@pytest.mark.parametrize("faults", [dict(fail_rate=1.5), dict(fail_status=200), dict(retry_after=-1),
                                    dict(latency_ms=-5)])
def test_impossible_faults_are_refused(faults: dict[str, Any]):
    with pytest.raises(InputError):
        Faults(**faults)


# --- the control endpoints and the log ----------------------------------------------------

def test_the_request_log_masks_secrets():
    client = Client(example("relay-basic"))
    post(client, "/v1/lists", {"slug": "amplitude-x", "title": "[Amplitude] x: 1"},
         _basic("test-key-123", "test-secret-456"))
    log = client.get("/_portalspec/requests").json
    assert log[0]["headers"]["Authorization"] == "********"
    assert (log[0]["method"], log[0]["path"], log[0]["status"], log[0]["endpoint"]) == \
        ("POST", "/v1/lists", 200, "create_list")
    text = json.dumps(log)
    assert "test-key-123" not in text and "test-secret-456" not in text
    assert base64.b64encode(b"test-key-123:test-secret-456").decode() not in text


def test_control_endpoints_answer_get_only():
    client = Client(example("infobip"))
    assert client.post("/_portalspec/state").status_code == 405
    assert client.get("/_portalspec/nothing").status_code == 404
    assert client.get("/_portalspec/requests").json == []  # control requests are not logged


def test_one_log_line_per_request():
    lines: list[str] = []
    client = Client(example("infobip", log=lines.append))
    create_infobip(client)
    post(client, "/people/2/lists/9/add", {"userIds": [], "context": CONTEXT}, INFOBIP_AUTH)
    client.get("/_portalspec/state")
    assert len(lines) == 3
    assert lines[0].startswith("POST /people/2/lists 200 create_list")
    assert lines[1].startswith("POST /people/2/lists/9/add 404 add_users") and "no list '9'" in lines[1]
    assert lines[2].startswith("GET /_portalspec/state 200")


def test_concurrent_creates_get_distinct_ids():
    app = destination(MINIMAL)

    def create(ids: list[Any]) -> None:
        client = Client(app)
        for _ in range(5):
            ids.append(post(client, "/lists", {"name": "[Amplitude] Beta"}, BEARER).json["listId"])

    results: list[list[Any]] = [[] for _ in range(8)]
    threads = [threading.Thread(target=create, args=(r,)) for r in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [i for r in results for i in r]
    assert sorted(ids) == list(range(1, 41))
    assert len(app.state()["lists"]) == 40


def test_a_secret_in_a_body_is_checked_like_a_credential_and_masked():
    client = Client(destination(edit(MINIMAL, '{"name": "[Amplitude] $amp_cohort_name"}',
                                     '{"name": "[Amplitude] $amp_cohort_name", "token": "tok:$bearer_token"}')))
    wrong = post(client, "/lists", {"name": "[Amplitude] Beta", "token": "tok:guess"}, BEARER)
    assert wrong.status_code == 401 and wrong.json["path"] == "$.token"
    assert "tok-1" not in wrong.get_data(as_text=True) and "guess" not in wrong.get_data(as_text=True)
    assert post(client, "/lists", {"name": "[Amplitude] Beta", "token": "tok:tok-1"}, BEARER).status_code == 200
    assert client.get("/_portalspec/state").json["lists"][0]["request"]["token"] == "tok:********"
    assert "tok-1" not in json.dumps(client.get("/_portalspec/requests").json)

"""The destination derived from a definition, driven in process with werkzeug's test Client."""

from __future__ import annotations

import base64
import gc
import io
import json
import threading
import tracemalloc
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

from .conftest import FINDS, MINIMAL, PROPERTY, REPO, edit

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


def id_from_the_request() -> str:
    """MINIMAL with a list id the request names: the cohort id, read back from its body."""
    text = edit(MINIMAL, '{"name": "[Amplitude] $amp_cohort_name"}',
                '{"name": "[Amplitude] $amp_cohort_name", "id": "$amp_cohort_id"}')
    return edit(text, "    list_id:\n      path: listId\n    example_response: {\"listId\": 2568}",
                "    list_id:\n      from: request_body\n      path: id")


def test_create_takes_the_id_from_the_request_and_a_hostile_id_routes_exactly():
    text = id_from_the_request()
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


@pytest.mark.parametrize("operations, trait", [(("add", "remove"), True), (("add",), True), (("remove",), False)])
def test_an_item_that_says_nothing_takes_its_trait_from_the_endpoint_kind(monkeypatch, operations, trait):
    """A one-way 'update' kind (one that only carries leaving users) clears the trait even when
    its items carry just the id: serve answers by the kinds table, not by a guess."""
    import dataclasses

    from portalspec import kinds

    monkeypatch.setitem(kinds.KINDS, "update_users",  # type: ignore[index]
                        dataclasses.replace(kinds.KINDS["update_users"], operations=operations))
    text = edit(PROPERTY, '"traits": {"cohort $amp_cohort_id": $amp_in_cohort}', '"traits": {}')
    values = {"fields": {"api_key": "k"}, "mappings": {"user_id": "user_id"}}
    client = Client(destination(text, values))
    post(client, "/v1/batch", {"batch": [{"userId": "u1", "traits": {}}]}, _basic("k", ""))
    assert client.get("/_portalspec/state").json["users"][0]["traits"] == {"traits": trait}


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


# --- hostile bodies, limits, memory (issue 9) ---------------------------------------------

@pytest.mark.parametrize("fragment, says", [
    ("1" * 5000, "digits"),  # past Python's int digit limit: was a 500
    ('"\\ud800"', "lone surrogate"),  # no UTF-8 output can carry it: was a 500 (the store failed)
    ("NaN", "NaN"),
    ("-Infinity", "Infinity"),
    ("1e999", "beyond"),
    ("[" * 10_000 + "]" * 10_000, "nested too deeply"),
], ids=["5000-digits", "lone-surrogate", "NaN", "-Infinity", "1e999", "deep"])
def test_every_malformed_body_is_a_400_with_the_reason_and_changes_nothing(fragment: str, says: str):
    client = Client(example("infobip"))
    list_id = create_infobip(client)
    before = client.get("/_portalspec/state").json
    body = '{"userIds": [' + fragment + '], "context": ' + json.dumps(CONTEXT) + "}"
    response = post(client, f"/people/2/lists/{list_id}/add", body, INFOBIP_AUTH)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert says in response.json["error"]
    assert client.get("/_portalspec/state").json == before
    assert client.get("/_portalspec/requests").json[-1]["status"] == 400


def test_a_lone_surrogate_in_a_create_is_400_and_creates_nothing():
    client = Client(example("infobip"))
    response = post(client, "/people/2/lists", '{"name": "[Amplitude] \\ud800: 1234", "context": '
                    + json.dumps(CONTEXT) + "}", INFOBIP_AUTH)
    assert response.status_code == 400 and "surrogate" in response.json["error"]
    assert client.get("/_portalspec/state").json["lists"] == []


def test_credentials_still_come_before_a_malformed_body():
    client = Client(example("infobip"))
    response = post(client, "/people/2/lists", "1" * 5000, {"Authorization": "App wrong"})
    assert response.status_code == 401


@pytest.mark.parametrize("size, declared", [(2000, True), (2000, False), (1025, True)])
def test_a_body_over_the_cap_is_413_with_a_json_error(size: int, declared: bool):
    client = Client(example("infobip", max_body_bytes=1024))
    list_id = create_infobip(client)
    body = (b'{"userIds": ["' + b"u" * size)[:size]
    environ = {} if declared else {"wsgi.input_terminated": True, "CONTENT_LENGTH": ""}  # chunked: no length
    response = client.open(f"/people/2/lists/{list_id}/add", method="POST", data=body, headers=INFOBIP_AUTH,
                           content_type="application/json", environ_overrides=environ)
    assert response.status_code == 413, response.get_data(as_text=True)
    assert "1,024" in response.json["error"]
    assert client.get("/_portalspec/state").json["lists"][0]["members"] == []
    assert client.get("/_portalspec/requests").json[-1]["status"] == 413


def test_a_body_shorter_than_its_content_length_is_400():
    client = Client(example("infobip"))
    response = client.open("/people/2/lists", method="POST", data=b"{}", headers=INFOBIP_AUTH,
                           content_type="application/json", environ_overrides={"CONTENT_LENGTH": "100"})
    assert response.status_code == 400 and "ended after 2 of its 100 bytes" in response.json["error"]


def test_a_body_that_keeps_trickling_past_the_body_timeout_is_408():
    ticks = iter(range(1000))
    client = Client(destination(MINIMAL, body_timeout=3, clock=lambda: float(next(ticks))))
    big = json.dumps({"userIds": ["u" * 300_000]})  # several chunks, a tick of the clock each
    response = post(client, "/lists/1/add", big, BEARER)
    assert response.status_code == 408 and "3 s" in response.json["error"]


class _Generated(io.RawIOBase):
    """``prefix + filler * count + suffix``, made as it is read: the test harness keeps no
    copy, so what stays in memory afterwards is what the destination kept."""

    def __init__(self, prefix: bytes, filler: bytes, count: int, suffix: bytes):
        self.parts = (prefix, filler, count, suffix)
        self.size = len(prefix) + count + len(suffix)
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = {0: offset, 1: self.pos + offset, 2: self.size + offset}[whence]
        return self.pos

    def readinto(self, buffer: Any) -> int:
        prefix, filler, count, suffix = self.parts
        n = min(len(buffer), self.size - self.pos)
        out = bytearray()
        while len(out) < n:
            at = self.pos + len(out)
            if at < len(prefix):
                out += prefix[at:at + n - len(out)]
            elif at < len(prefix) + count:
                out += filler * min(n - len(out), len(prefix) + count - at)
            else:
                out += suffix[at - len(prefix) - count:][:n - len(out)]
        buffer[:n] = out
        self.pos += n
        return n


@pytest.mark.parametrize("shape", ["a member", "not JSON", "mismatch"])
def test_memory_is_released_after_large_bodies(shape: str):
    """Four 10 MB bodies leave (almost) nothing behind. The garbage collector is off, so a
    reference cycle holding a body (a request kept in its own environ, with its cached data,
    held four 60 MB bodies as 1.2 GB) shows."""
    client = Client(example("infobip"))
    list_id = create_infobip(client)
    prefix = {"a member": b'{"userIds": ["', "not JSON": b'{"userIds": ["', "mismatch": b'{"other": ["'}[shape]
    suffix = ('"], "context": ' + json.dumps(CONTEXT) + "}").encode()
    if shape == "not JSON":
        suffix = suffix[:-1]
    size = 10_000_000
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        for _ in range(4):
            response = client.open(f"/people/2/lists/{list_id}/add", method="POST",
                                   input_stream=_Generated(prefix, b"u", size, suffix),
                                   headers=INFOBIP_AUTH, content_type="application/json")
            assert response.status_code == (200 if shape == "a member" else 400)
            del response
        kept = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
        if enabled:
            gc.enable()
    assert kept < 2_000_000, f"{kept:,} bytes kept after four {size:,}-byte bodies"


def test_the_request_log_keeps_the_last_n_requests_in_order():
    client = Client(example("infobip", request_log=5))
    for n in range(8):
        post(client, f"/people/2/lists/{n}/add", {"userIds": [], "context": CONTEXT}, INFOBIP_AUTH)
    log = client.get("/_portalspec/requests").json
    assert [r["path"] for r in log] == [f"/people/2/lists/{n}/add" for n in range(3, 8)]
    assert [r["seq"] for r in log] == sorted(r["seq"] for r in log)


def test_a_duplicate_create_with_the_id_from_the_request_is_409():
    text = id_from_the_request()
    client = Client(destination(text))
    assert post(client, "/lists", {"name": "[Amplitude] Beta", "id": "c1"}, BEARER).status_code == 200
    post(client, "/lists/c1/add", {"userIds": ["x"]}, BEARER)
    again = post(client, "/lists", {"name": "[Amplitude] Renamed", "id": "c1"}, BEARER)
    assert again.status_code == 409
    assert again.json == {"error": "a list 'c1' exists already", "list_id": "c1"}
    [kept] = client.get("/_portalspec/state").json["lists"]  # the list is kept as it was
    assert kept["request"]["name"] == "[Amplitude] Beta" and kept["size"] == 1
    assert post(client, "/lists", {"name": "[Amplitude] Beta", "id": "c2"}, BEARER).status_code == 200


def test_creating_with_a_server_chosen_id_never_conflicts():
    client = Client(destination(MINIMAL))
    ids = [post(client, "/lists", {"name": "[Amplitude] Beta"}, BEARER) for _ in range(3)]
    assert [(r.status_code, r.json["listId"]) for r in ids] == [(200, 1), (200, 2), (200, 3)]


_TWO_IDS = edit(MINIMAL, "mapping_fields:\n", "mapping_fields:\n  - variable: email\n"
                "    mapping_display_name: Email Mapping\n    display_name: Email\n")
_TWO_VALUES = {**MINIMAL_VALUES, "mappings": {"email": "email", "user_id": "user_id"}}
_BOTH = "'{\"email\": \"$email\", \"id\": \"$user_id\"}'"


@pytest.mark.parametrize("add_item, remove_item", [(_BOTH, "'\"$user_id\"'"), ("'\"$user_id\"'", _BOTH)])
def test_remove_items_carrying_another_id_than_the_add_items_find_the_member(add_item: str, remove_item: str):
    add, remove = _TWO_IDS.split("  remove_users:")
    text = edit(add, "item_template: '\"$user_id\"'", f"item_template: {add_item}") + "  remove_users:" + \
        edit(remove, "item_template: '\"$user_id\"'", f"item_template: {remove_item}")
    client = Client(destination(text, _TWO_VALUES))
    list_id = post(client, "/lists", {"name": "[Amplitude] Beta"}, BEARER).json["listId"]

    def items(template: str, users: list[tuple[str, str]]) -> list[Any]:
        return [{"email": e, "id": u} for e, u in users] if "email" in template else [u for _, u in users]

    users = [("a@x", "u1"), ("b@x", "u2"), ("c@x", "u3")]
    assert post(client, f"/lists/{list_id}/add", {"userIds": items(add_item, users)}, BEARER).json["size"] == 3
    gone = post(client, f"/lists/{list_id}/remove",
                {"userIds": items(remove_item, [users[0], users[2], ("d@x", "u4")])}, BEARER)
    assert gone.json == {"list_id": list_id, "removed": 2, "not_members": 1, "size": 1}
    [left] = client.get("/_portalspec/state").json["lists"][0]["members"]
    assert "u2" in json.dumps(left)


def test_a_remove_item_that_disagrees_with_the_member_on_a_shared_id_is_not_them():
    text = edit(_TWO_IDS, "item_template: '\"$user_id\"'", f"item_template: {_BOTH}", count=2)
    client = Client(destination(text, _TWO_VALUES))
    list_id = post(client, "/lists", {"name": "[Amplitude] Beta"}, BEARER).json["listId"]
    post(client, f"/lists/{list_id}/add", {"userIds": [{"email": "a@x", "id": "u1"}]}, BEARER)
    other = post(client, f"/lists/{list_id}/remove", {"userIds": [{"email": "z@x", "id": "u1x"}]}, BEARER)
    assert other.json["removed"] == 0 and other.json["size"] == 1


_LONG_TOKEN = "sk-live-0123456789abcdefghij"


def _leaks(text: str, secret: str = _LONG_TOKEN) -> list[str]:
    """Pieces of ``secret`` (8 characters or more) found in ``text``."""
    return [secret[i:j] for i in range(len(secret)) for j in range(i + 8, len(secret) + 1) if secret[i:j] in text]


@pytest.mark.parametrize("offset", [30, 55, 58, 470, 495, 499])
def test_a_secret_is_masked_before_any_cut_in_answers_logs_and_the_request_log(offset: int):
    lines: list[str] = []
    values = {**MINIMAL_VALUES, "fields": {"bearer_token": _LONG_TOKEN}}
    client = Client(destination(MINIMAL, values, log=lines.append))
    auth = {"Authorization": f"Bearer {_LONG_TOKEN}"}
    # An unexpected key whose value holds the secret where a message or the log cuts it.
    body = json.dumps({"name": "[Amplitude] Beta", "x": "a" * offset + _LONG_TOKEN + "b" * 600})
    response = post(client, "/lists", body, auth)
    assert response.status_code == 400
    shown = [response.get_data(as_text=True), json.dumps(client.get("/_portalspec/requests").json), *lines]
    assert [_leaks(text) for text in shown] == [[]] * len(shown)


def test_a_non_ascii_credential_sent_as_utf_8_is_accepted():
    """A regression: serve read header values as Latin-1 (WSGI's spelling), so a token with
    'é' that portalspec's own transport sent as UTF-8 got a 401."""
    values = {**MINIMAL_VALUES, "fields": {"bearer_token": "tök-é"}}
    client = Client(destination(MINIMAL, values))
    wire = "Bearer tök-é".encode("utf-8").decode("latin-1")  # the bytes on the wire, as WSGI hands them on
    response = post(client, "/lists", {"name": "[Amplitude] Beta"}, {"Authorization": wire, "X-Region": "us"})
    assert response.status_code == 200, response.get_data(as_text=True)


def test_one_string_items_are_taken_whole_and_any_other_item_is_matched_one_by_one():
    """The fast path for the common item ("$user_id") stores what matching each item stored."""
    dest = example("infobip")
    client = Client(dest)
    list_id = create_infobip(client)
    ids = ["zoe@x.io", "0f8e-uuid", "ana@y.org", "zoe@x.io"]
    response = post(client, f"/people/2/lists/{list_id}/add", {"userIds": ids, "context": CONTEXT}, INFOBIP_AUTH)
    assert response.status_code == 200 and response.json["size"] == 3, response.get_data(as_text=True)
    members = dest.state()["lists"][0]["members"]
    assert members == [{"key": k, "values": {"user_id_field_amplitude": k}} for k in ("zoe@x.io", "0f8e-uuid", "ana@y.org")]
    response = post(client, f"/people/2/lists/{list_id}/add", {"userIds": ["ok", 7], "context": CONTEXT}, INFOBIP_AUTH)
    assert response.status_code == 400 and "$.userIds[1]" in response.get_data(as_text=True)


# --- find_list: the lists it holds, each under the cohort it was created for ---------------

def create_for(client: Client, name: str) -> TestResponse:
    return post(client, "/lists", {"name": f"[Amplitude] {name}"}, BEARER)


def test_find_list_answers_the_lists_it_holds_each_under_its_own_name():
    client = Client(destination(FINDS))
    assert client.get("/lists?name=Beta", headers=BEARER).json == {"items": []}
    first, second = create_for(client, "Beta").json["listId"], create_for(client, "Gamma").json["listId"]
    assert client.get("/lists?name=Beta", headers=BEARER).json == {
        "items": [{"name": "[Amplitude] Beta", "listId": first}]}  # the query narrows to the cohort asked
    assert client.get("/lists?name=Gamma", headers=BEARER).json["items"][0]["listId"] == second
    assert client.get("/lists?name=Beta", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_a_create_for_a_cohort_whose_list_exists_is_answered_with_exists_on():
    client = Client(destination(FINDS))
    assert create_for(client, "Beta").status_code == 200
    again = create_for(client, "Beta")
    assert again.status_code == 409 and "exists already" in again.json["error"]
    assert create_for(client, "Gamma").status_code == 200  # another cohort's list is new
    without = destination(edit(FINDS, "    exists_on: [409]\n", ""))  # an API that takes a second list
    client = Client(without)
    assert [create_for(client, "Beta").status_code for _ in range(2)] == [200, 200]


def test_a_lookup_by_name_in_the_path_is_404_when_there_is_none():
    text = edit(FINDS, """    url: https://api.acme.example/lists?name=$amp_cohort_name
    list_id: {path: "$.items[?(@.name == '[Amplitude] $amp_cohort_name')].listId"}""",
                """    url: https://api.acme.example/lists/by-name/$amp_cohort_name
    list_id: {path: list.listId}""")
    client = Client(destination(text))
    assert client.get("/lists/by-name/Beta", headers=BEARER).status_code == 404
    list_id = create_for(client, "Beta").json["listId"]
    assert client.get("/lists/by-name/Beta", headers=BEARER).json == {"list": {"listId": list_id}}
    assert client.get("/lists/by-name/Gamma", headers=BEARER).status_code == 404


def test_a_query_that_does_not_fit_the_url_template_is_400():
    answer = Client(destination(FINDS)).get("/lists?other=Beta", headers=BEARER)
    assert answer.status_code == 400 and "query does not match" in answer.json["error"]

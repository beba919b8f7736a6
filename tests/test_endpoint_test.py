"""``portalspec test`` (the portal's Testing tab) against ``serve`` and against scripted servers."""

from __future__ import annotations

import csv
import json
import socket
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest
import yaml
from click.testing import CliRunner, Result

from portalspec.cli import main
from portalspec.endpoint_test import run_endpoint_test
from portalspec.inputs import load_values, read_users
from portalspec.integration import compile as compile_definition
from portalspec.testing import running_destination
from portalspec.transforms import apply
from portalspec.transport import Transport
from portalspec.validate import load
from portalspec.values import User, values_from_data

from .conftest import EXAMPLES, FINDS, MINIMAL, edit

INFOBIP = EXAMPLES[[p.parent.name for p in EXAMPLES].index("infobip")]
INFOBIP_401 = "The Infobip API key is invalid or has been revoked."


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def files(example: Path) -> tuple[Path, Path, Path]:
    return example, example.parent / "values.yaml", example.parent / "users.csv"


def expected_state(definition: Path, users_csv: Path) -> dict[str, Any]:
    """What the destination must hold after the test CSV: entering users, then leaving ones."""
    fields = load(definition).mapping_fields
    with open(users_csv, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))

    def key(row: dict[str, str]) -> str:
        """serve's key: the first identifier the item carries, as sent (transformed)."""
        return next(apply(f.transform, row[f.variable]) for f in fields if row.get(f.variable))

    adds = [key(r) for r in rows if r["operation"] == "add"]
    removes = [key(r) for r in rows if r["operation"] == "remove"]
    return {"members": set(adds) - set(removes),
            "traits": {**{u: True for u in adds}, **{u: False for u in removes}}}


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.parent.name for p in EXAMPLES])
def test_every_example_works_end_to_end_against_serve(example: Path):
    definition, values, users = files(example)
    with running_destination(definition, values) as destination:
        result = run("test", definition, "--values", values, "--users", users, "--base-url", destination.url,
                     "--format", "json")
        state = destination.state()
    report = json.loads(result.stdout)
    assert result.exit_code == 0, result.output
    assert report["passed"] and all(step["sent"] and step["ok"] for step in report["steps"])
    want = expected_state(definition, users)
    key = "traits" if load(definition).type == "property" else "members"
    if key == "members":
        assert len(state["lists"]) == 1
        assert state["lists"][0]["id"] == report["list_id"]
        assert {m["key"] for m in state["lists"][0]["members"]} == want["members"]
    else:
        cohort = load_values(values).cohort.id  # type: ignore[union-attr]
        assert {u["key"]: u["traits"] for u in state["users"]} == {u: {cohort: v} for u, v in want["traits"].items()}


def test_text_report_shows_each_step_and_the_list_id():
    definition, values, users = files(INFOBIP)
    with running_destination(definition, values) as destination:
        result = run("test", definition, "--values", values, "--users", users, "--base-url", destination.url)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == f"infobip: endpoint test against {destination.url}"
    assert any(line.strip() == "$list_id = 1" for line in lines)
    assert any("add_users" in line and "(3 users)" in line for line in lines)
    assert any("remove_users" in line and "(2 users)" in line for line in lines)
    assert lines[-1] == "PASSED: 3 requests succeeded"


def test_a_wrong_token_reports_the_definitions_401_message(tmp_path: Path):
    definition, values, users = files(INFOBIP)
    wrong = tmp_path / "values.yaml"
    data = yaml.safe_load(values.read_text(encoding="utf-8"))
    data["fields"]["api_key"] = "revoked-key-999"
    wrong.write_text(yaml.safe_dump(data), encoding="utf-8")
    with running_destination(definition, values) as destination:
        text = run("test", definition, "--values", wrong, "--users", users, "--base-url", destination.url)
        as_json = run("test", definition, "--values", wrong, "--users", users, "--base-url", destination.url,
                      "--format", "json")
        assert destination.state()["lists"] == []
    assert text.exit_code == 1 and as_json.exit_code == 1
    assert "401 Unauthorized" in text.stdout and INFOBIP_401 in text.stdout
    assert "revoked-key-999" not in text.output
    create, add, remove = json.loads(as_json.stdout)["steps"]
    assert (create["status"], create["reason"], create["message"]) == (401, "Unauthorized", INFOBIP_401)
    assert not add["sent"] and not remove["sent"] and "create_list failed" in add["message"]


def test_injected_server_errors_fail_with_a_clear_report():
    definition, values, users = files(INFOBIP)
    with running_destination(definition, values, fail_rate=1.0, fail_status=500) as destination:
        result = run("test", definition, "--values", values, "--users", users, "--base-url", destination.url)
        received = destination.requests()
    assert result.exit_code == 1
    assert "500 Server error (HTTP 500)" in result.stdout and "injected failure" in result.stdout
    assert result.stdout.splitlines()[-1] == "FAILED: 1 of 1 request failed, 2 not sent"
    assert len(received) == 1  # no retries: the test shows what happened


def test_a_rate_limit_shows_the_message_and_retry_after():
    definition, values, users = files(INFOBIP)
    with running_destination(definition, values, fail_rate=1.0, fail_status=429, retry_after=3) as destination:
        result = run("test", definition, "--values", values, "--users", users, "--base-url", destination.url)
    assert result.exit_code == 1
    assert "429 Rate limited" in result.stdout and "(Retry-After: 3 s)" in result.stdout
    assert "Infobip rate limit reached; the sync will be retried." in result.stdout


def test_a_refused_connection_is_a_failing_report_not_a_traceback():
    with socket.socket() as sock:  # a port nothing listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        definition, values, users = files(INFOBIP)
        result = run("test", definition, "--values", values, "--users", users, "--base-url", url,
                     "--format", "json")
    assert result.exit_code == 1
    create = json.loads(result.stdout)["steps"][0]
    assert create["reason"] == "connection failed" and create["status"] is None
    assert url in create["message"]


def test_when_the_list_id_is_not_in_the_response_the_body_is_shown(tmp_path: Path):
    served = tmp_path / "served.yaml"
    served.write_text(MINIMAL, encoding="utf-8")
    tested = tmp_path / "tested.yaml"
    tested.write_text(edit(MINIMAL, "path: listId\n    example_response: {\"listId\": 2568}",
                           "path: data.id\n    example_response: {\"data\": {\"id\": 2568}}"), encoding="utf-8")
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"fields": {"bearer_token": "tok-1"}, "mappings": {"user_id": "user_id"},
                                      "cohort": {"id": "c1", "name": "Beta"}}), encoding="utf-8")
    users = tmp_path / "users.csv"
    users.write_text("operation,user_id\nadd,a\n", encoding="utf-8")
    with running_destination(served, values) as destination:
        result = run("test", tested, "--values", values, "--users", users, "--base-url", destination.url,
                     "--format", "json")
    create, add, _ = json.loads(result.stdout)["steps"]
    assert result.exit_code == 1
    assert create["status"] == 200 and create["reason"] == "no list id" and not create["ok"]
    assert "data.id" in create["message"] and json.loads(create["response_body"]) == {"listId": 1}
    assert "held no list id" in add["message"]


HOSTILE = ['quo"te', "it's", "back\\slash", "sl/ash/../..", "%2F%25", "zoë-ünï-日本", "emoji-🎉", "tab\there",
           "line\nbreak", "\u2028sep", "<script>", "x" * 5000, " padded "]


def test_hostile_ids_survive_the_round_trip_exactly(tmp_path: Path):
    definition, example_values, _ = files(INFOBIP)
    values = tmp_path / "values.yaml"
    data = yaml.safe_load(example_values.read_text(encoding="utf-8"))
    data["cohort"]["name"] = 'Q3: "risky" / churn'  # ": " in the name makes the list name ambiguous
    values.write_text(yaml.safe_dump(data), encoding="utf-8")
    users = tmp_path / "users.csv"
    with open(users, "w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["operation", "user_id_field_amplitude", "amp_cohort_name", "amp_cohort_id"])
        for user in HOSTILE:
            out.writerow(["add", user, 'Q3: "risky" / churn', "1234"])
        out.writerow(["remove", HOSTILE[0], 'Q3: "risky" / churn', "1234"])
    with running_destination(definition, values) as destination:
        result = run("test", definition, "--values", values, "--users", users, "--base-url", destination.url)
        state = destination.state()
    assert result.exit_code == 0, result.output
    assert [m["key"] for m in state["lists"][0]["members"]] == HOSTILE[1:]
    assert state["lists"][0]["request"]["name"] == '[Amplitude] Q3: "risky" / churn: 1234'


def test_a_hostile_list_id_in_the_url_path_routes_exactly(tmp_path: Path):
    """The id chosen in the request (list_id from: request_body) lands in add/remove URLs."""
    text = edit(MINIMAL, '{"name": "[Amplitude] $amp_cohort_name"}',
                '{"name": "[Amplitude] $amp_cohort_name", "id": "$amp_cohort_id"}')
    text = edit(text, "    list_id:\n      path: listId\n    example_response: {\"listId\": 2568}",
                "    list_id:\n      from: request_body\n      path: id")
    definition = tmp_path / "integration.yaml"
    definition.write_text(text, encoding="utf-8")
    hostile_id = 'a/b %2F "c" é/..'
    values = values_from_data({"fields": {"bearer_token": "tok-1"}, "mappings": {"user_id": "user_id"},
                               "cohort": {"id": hostile_id, "name": "Beta"}})
    integration = compile_definition(load(definition))
    users = [("add", "u1"), ("add", "u2"), ("remove", "u1")]
    with running_destination(integration, values) as destination, \
            Transport(base_url=destination.url) as transport:
        report = run_endpoint_test(integration, values, [User(op, {"user_id": u}) for op, u in users],
                                   transport=transport)
        state = destination.state()
        paths = [r["path"] for r in destination.requests()]
    assert report.passed, report.to_text()
    assert report.list_id == hostile_id
    assert [(entry["id"], [m["key"] for m in entry["members"]]) for entry in state["lists"]] == [(hostile_id, ["u2"])]
    assert paths[1] == "/lists/a%2Fb%20%252F%20%22c%22%20%C3%A9%2F../add"


# --- the runner on its own, against scripted responses ------------------------------------

def scripted(handler: Callable[[httpx.Request], httpx.Response]) -> Transport:
    return Transport(client=httpx.Client(transport=httpx.MockTransport(handler)), base_url="https://staging.example")


def infobip_inputs() -> tuple[Any, Any, Any]:
    definition, values, users = files(INFOBIP)
    integration = compile_definition(load(definition))
    loaded = load_values(values)
    return integration, loaded, read_users(users, integration.definition, loaded)


def test_a_sub_error_code_row_gives_its_message_and_other_batches_still_go():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/lists"):
            return httpx.Response(200, json={"listId": 2568})
        if request.url.path.endswith("/add"):
            return httpx.Response(400, json={"error_code": 1000, "text": "list gone"})
        return httpx.Response(200, json={})

    integration, values, users = infobip_inputs()
    report = run_endpoint_test(integration, values, users, transport=scripted(handler))
    create, add, remove = report.steps
    assert create.ok and create.list_id == 2568
    assert add.url == "https://staging.example/people/2/lists/2568/add"
    assert (add.ok, add.status, add.reason) == (False, 400, "List not found")
    assert add.message == "The Infobip list was deleted; disable and re-enable the sync to recreate it."
    assert remove.ok and remove.users == 2
    assert not report.passed and report.summary() == "FAILED: 1 of 3 requests failed"


def test_secrets_echoed_by_a_destination_are_masked_in_the_report():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"bad": request.headers["Authorization"]})

    integration, values, users = infobip_inputs()
    report = run_endpoint_test(integration, values, users, transport=scripted(handler))
    text = json.dumps(report.to_dict()) + report.to_text()
    assert "test-key-123" not in text and "App ********" in report.steps[0].excerpt


def test_a_non_json_create_response_is_no_list_id():
    integration, values, users = infobip_inputs()
    report = run_endpoint_test(integration, values, users,
                               transport=scripted(lambda r: httpx.Response(200, text="<html>ok</html>")))
    create = report.steps[0]
    assert create.reason == "no list id" and "no JSON body" in (create.message or "")
    assert create.response_body == "<html>ok</html>"


def test_bad_inputs_are_one_line_errors(tmp_path: Path):
    definition, values, _ = files(INFOBIP)
    users = tmp_path / "users.csv"
    users.write_text("operation,nobody\nadd,a\n", encoding="utf-8")
    result = run("test", definition, "--values", values, "--users", users, "--base-url", "http://127.0.0.1:9")
    assert result.exit_code == 1 and "unknown column 'nobody'" in result.stderr


def test_no_users_to_update_is_not_a_pass(tmp_path: Path):
    segment = EXAMPLES[[p.parent.name for p in EXAMPLES].index("segment-identify")]
    definition, values, _ = files(segment)
    users = tmp_path / "users.csv"
    users.write_text("operation,user_id_field_amplitude\n", encoding="utf-8")
    with running_destination(definition, values) as destination:
        result = run("test", definition, "--values", values, "--users", users, "--base-url", destination.url)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == "FAILED: nothing was sent (the users file has no users)"


_HOSTILE = [b"[" * 60_000, b'{"listId": NaN}', b'{"listId": ""}', b'{"listId": 1' + b"0" * 5000 + b"}",
            b'{"listId": "\\ud800"}', b"\xff\xfe", b'{"e": ' * 40_000]


@pytest.mark.parametrize("body", _HOSTILE, ids=range(len(_HOSTILE)))
@pytest.mark.parametrize("status", [200, 400, 500])
def test_a_hostile_answer_is_a_failing_step_not_a_traceback(body: bytes, status: int):
    """The endpoint test reads create_list's answer and every error body through the bounded
    parser: deep nesting, NaN, empty ids, huge numbers and lone surrogates are reported."""
    integration = compile_definition(load(MINIMAL))
    values = values_from_data({"fields": {"bearer_token": "t"}, "mappings": {"user_id": "user_id"},
                               "cohort": {"id": "1", "name": "c"}})
    transport = Transport(client=httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(status,
                                                                                                   content=body))))
    report = run_endpoint_test(integration, values, [User("add", {"user_id": "u"})], transport=transport)
    assert not report.passed and report.steps[0].endpoint == "create_list" and not report.steps[0].ok
    json.dumps(report.to_dict(), allow_nan=False)
    assert len(report.to_text()) < 10_000  # excerpts, not the body


# --- find_list: looked up first, as a sync does -------------------------------------------

def lookup_test(finds: list[Any], creates: list[int | None] | None = None) -> tuple[Any, list[tuple[str, str]]]:
    """run_endpoint_test of FINDS against scripted answers: per GET a status or the lists
    found [(name, id)], per create a status or None (a new list, 7)."""
    sent: list[tuple[str, str]] = []
    creates = list(creates or [])

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append((request.method, request.url.path))
        if request.method == "GET":
            answer = finds.pop(0)
            if isinstance(answer, int):
                return httpx.Response(answer, json={"error": "scripted"})
            return httpx.Response(200, json={"items": [{"name": f"[Amplitude] {n}", "listId": i} for n, i in answer]})
        if request.url.path == "/lists":
            status = creates.pop(0) if creates else None
            return httpx.Response(status, json={"error": "exists"}) if status else httpx.Response(200, json={"listId": 7})
        return httpx.Response(200, json={})

    integration = compile_definition(load(FINDS))
    values = values_from_data({"fields": {"bearer_token": "tok"}, "mappings": {"user_id": "user_id"},
                               "cohort": {"id": "9", "name": "Beta"}})
    report = run_endpoint_test(integration, values, [User("add", {"user_id": "a"})], transport=scripted(handler))
    return report, sent


def test_a_list_found_is_used_and_create_list_is_skipped():
    report, sent = lookup_test([[("Beta", 5)]])
    assert report.passed and report.list_id == 5, report.to_text()
    assert [(s.endpoint, s.sent, s.ok) for s in report.steps] == [
        ("find_list", True, True), ("create_list", False, True), ("add_users", True, True)]
    assert sent == [("GET", "/lists"), ("POST", "/lists/5/add")]
    text = report.to_text()
    assert "[skip] create_list" in text and "the list exists: it is used as it is" in text
    assert json.loads(json.dumps(report.to_dict()))["steps"][0]["list_id"] == 5


def test_no_list_found_creates_it():
    report, sent = lookup_test([404])
    assert report.passed and report.list_id == 7, report.to_text()
    assert "no such list yet: create_list creates it" in report.to_text()
    assert sent == [("GET", "/lists"), ("POST", "/lists"), ("POST", "/lists/7/add")]


def test_an_exists_on_answer_sends_find_list_again():
    report, sent = lookup_test([[], [("Beta", 5)]], creates=[409])
    assert report.passed and report.list_id == 5, report.to_text()
    assert [s.endpoint for s in report.steps] == ["find_list", "create_list", "find_list", "add_users"]
    assert "the list exists already (exists_on)" in report.steps[1].reason


def test_an_exists_on_answer_find_list_cannot_confirm_fails_and_sends_no_batch():
    report, sent = lookup_test([[], []], creates=[409])
    assert not report.passed and report.steps[2].reason == "not found"
    assert not report.steps[3].sent and "no list was found or created" in report.steps[3].message
    assert sent.count(("POST", "/lists")) == 1


def test_a_lookup_that_cannot_say_creates_nothing():
    report, sent = lookup_test([500])
    assert not report.passed
    assert [(s.endpoint, s.sent) for s in report.steps] == [("find_list", True), ("create_list", False),
                                                            ("add_users", False), ("remove_users", False)]
    assert "not created again" in report.steps[1].message
    assert sent == [("GET", "/lists")]

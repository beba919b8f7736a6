"""The bound request builder (``Integration.bind``): the one way requests are made, so that
render and sync send the very same bytes for the same users."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

import portalspec
from portalspec import MacroContext, Members, User
from portalspec.render import BoundIntegration
from portalspec.retry import RetryPolicy
from portalspec.sync import State, SyncOptions, sync
from portalspec.sync.sources import read_membership
from portalspec.transport import Response, Transport
from tests.conftest import EXAMPLES, FINDS, MINIMAL

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
FAST = SyncOptions(retry=RetryPolicy(base=0.0, jitter=0.0))


def context() -> MacroContext:
    return MacroContext(now=NOW, seed=7)


class Capture:
    """A destination that answers create_list as its example response says, and records all."""

    def __init__(self, integration: portalspec.Integration, create_url: str = ""):
        self.integration = integration
        self.create_url = create_url
        self.sent: list[tuple[str, str, tuple[tuple[str, str], ...], bytes]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        headers = tuple((k, v) for k, v in request.headers.multi_items()
                        if k.lower() not in ("host", "content-length", "accept", "accept-encoding", "connection",
                                             "user-agent"))
        if str(request.url) == self.integration.definition.auth.token_url:  # OAuth2: the token, not a request of the sync
            return httpx.Response(200, json={"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 1800})
        self.sent.append((request.method, str(request.url), headers, request.content))
        create = self.integration.endpoint("create_list")
        if create is not None and str(request.url) == self.create_url and request.method == create.method:
            example = create.spec.example_response
            if create.spec.list_id is not None and create.spec.list_id.source == "response_header":
                return httpx.Response(200, headers=example)
            return httpx.Response(200, json=example if example is not None else {})
        return httpx.Response(200, json={"ok": True})

    def transport(self) -> Transport:
        return Transport(client=httpx.Client(transport=httpx.MockTransport(self)))


ACCESS_TOKEN = "at-0c9f8b2e1a73"  # what Capture's token endpoint issues


def rendered(requests: list[portalspec.Request]) -> list[tuple[str, str, tuple[tuple[str, str], ...], bytes]]:
    """Each request as sent: a runtime credential's placeholder (OAuth2's access token, which
    no render can know) as the token the transport puts in its place."""
    def sent_as(r: portalspec.Request, value: str) -> str:
        for sentinel, variable in r.masked:
            if variable.startswith("@"):
                value = value.replace(sentinel, ACCESS_TOKEN)
        return value
    return [(r.method, r.url, tuple((k.lower(), sent_as(r, v)) for k, v in r.headers), r.body or b"") for r in requests]


def sent(capture: Capture) -> list[tuple[str, str, tuple[tuple[str, str], ...], bytes]]:
    return [(m, u, tuple((k.lower(), v) for k, v in h), b) for m, u, h, b in capture.sent]


def same_users_both_ways(integration: portalspec.Integration, values: portalspec.Values, users: list[Any],
                         response: Any) -> tuple[list[Any], list[Any]]:
    """What render shows and what sync sends, for the same users, list id, --now and --seed."""
    shown = list(integration.render(values, users, response=response, context=context()))
    capture = Capture(integration, next((r.url for r in shown if r.endpoint == "create_list"), ""))
    with State(":memory:") as state:
        report = sync(integration, values, users, state=state, transport=capture.transport(),
                      options=FAST, context=context())
    assert report.ok, report.errors
    return rendered(shown), sent(capture)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_render_and_sync_send_the_same_bytes_for_every_example(path: Path):
    integration = portalspec.compile(portalspec.load(path))
    values = portalspec.load_values(path.parent / "values.yaml")
    source = portalspec.read_users(path.parent / "users.csv", integration.definition, values)
    entering = [u for u in source if u.operation == "add"]  # a sync's snapshot is everyone in the cohort
    assert entering
    values = portalspec.Values(values.fields, values.mappings, values.cohort or source.cohort, None)
    create = integration.endpoint("create_list")
    response = create.spec.example_response if create is not None else None
    shown, delivered = same_users_both_ways(integration, values, entering, response)
    assert len(shown) >= 2 if create is not None else len(shown) >= 1
    # Sent concurrently, so in any order; built in one order, so each is the same request.
    assert sorted(delivered) == sorted(shown)


JSONL_DEFINITION = MINIMAL.replace("""item_template: '"$user_id"'""", "item_template: '$user_id'")


def test_typed_json_lines_values_keep_their_type_in_render_and_in_sync(tmp_path: Path):
    """A regression: sync turned each user into text and back, so {"user_id": 42} went out
    as "42" from sync but as 42 from render."""
    definition = tmp_path / "integration.yaml"
    definition.write_text(JSONL_DEFINITION)
    integration = portalspec.compile(portalspec.load(definition))
    values = portalspec.Values({"bearer_token": "t"}, {"user_id": "user_id"}, portalspec.Cohort("1", "Beta"))
    users = tmp_path / "users.jsonl"
    users.write_text('{"user_id": 42}\n{"user_id": 7}\n')
    from_render = list(portalspec.read_users(users, integration.definition, values))
    from_sync = list(read_membership(users, integration.definition, values))
    assert [u.values["user_id"] for u in from_sync] == [42, 7]
    shown, delivered = same_users_both_ways(integration, values, from_render, {"listId": 2568})
    assert sorted(delivered) == sorted(shown)
    add = next(body for _, url, _, body in delivered if url.endswith("/add"))
    assert json.loads(add) == {"userIds": [42, 7]}
    _, _, _, add_sent_by_sync = next(r for r in sent_by_sync(integration, values, from_sync) if r[1].endswith("/add"))
    assert json.loads(add_sent_by_sync) == {"userIds": [42, 7]}


def sent_by_sync(integration: portalspec.Integration, values: portalspec.Values, members: list[Any]) -> list[Any]:
    capture = Capture(integration, "https://api.acme.example/lists")
    with State(":memory:") as state:
        sync(integration, values, members, state=state, transport=capture.transport(), options=FAST)
    return sent(capture)


@pytest.fixture
def bound() -> BoundIntegration:
    integration = portalspec.compile(portalspec.load(MINIMAL))
    values = portalspec.Values({"bearer_token": "tok-1"}, {"user_id": "user_id"}, portalspec.Cohort("1", "Beta"))
    return integration.bind(values, context=context())


def test_batch_makes_exactly_one_request_for_the_members_it_is_given(bound):
    members = Members("add", {"user_id": [f"u{i}" for i in range(10_000)]})
    request = bound.batch("add", members, list_id=9)
    assert request.endpoint == "add_users" and request.items == 10_000
    assert request.url == "https://api.acme.example/lists/9/add"
    assert len(json.loads(request.body)["userIds"]) == 10_000


def test_batch_refuses_more_users_than_the_batch_size_instead_of_splitting(bound):
    with pytest.raises(portalspec.InputError, match="batch_size is 10000"):
        bound.batch("add", Members("add", {"user_id": ["u"] * 10_001}), list_id=9)


def test_batch_needs_a_list_id_where_the_endpoint_sends_to_a_list(bound):
    with pytest.raises(portalspec.InputError, match="a list id is needed"):
        bound.batch("remove", Members("remove", {"user_id": ["u"]}))


def test_batch_refuses_members_of_another_operation(bound):
    with pytest.raises(portalspec.InputError, match="given as a batch of 'add'"):
        bound.batch("add", Members("remove", {"user_id": ["u"]}), list_id=1)


def test_bind_masks_secrets_unless_told_to_reveal_them(bound):
    masked = bound.create_list()
    assert "tok-1" not in masked.header("Authorization") and masked.masked
    revealed = bound.integration.bind(bound.values, reveal_secrets=True).create_list()
    assert revealed.header("Authorization") == "Bearer tok-1" and revealed.masked == ()
    assert bound.masker("key tok-1") == "key ********"


def test_list_id_from_reads_an_answer_with_headers_and_json(bound):
    class Answer:
        headers = ()

        def document(self, what: str = "") -> Any:
            return {"listId": 31}

    assert bound.list_id_from(Answer()) == 31


def test_requests_is_todays_render(bound):
    users = [User("add", {"user_id": "a"}), User("remove", {"user_id": "b"})]
    via_bind = [r.to_dict() for r in bound.integration.bind(bound.values, context=context(),
                                                           reveal_secrets=True).requests(users)]
    via_render = [r.to_dict() for r in bound.integration.render(bound.values, users, context=context())]
    assert via_bind == via_render
    assert [r["endpoint"] for r in via_bind] == ["create_list", "add_users", "remove_users"]


# --- find_list: the list an answer names -------------------------------------------------

class Found:
    """A find_list answer: a status and a JSON body."""

    def __init__(self, status: int, body: Any = None, text: bytes | None = None):
        self.status = status
        self.headers = ()
        self._response = Response(status, (), text if text is not None else json.dumps(body).encode(), 0.0)

    def document(self, what: str = "the response") -> Any:
        return self._response.document(what)


@pytest.fixture
def finds() -> BoundIntegration:
    integration = portalspec.compile(portalspec.load(FINDS))
    values = portalspec.Values({"bearer_token": "tok-1"}, {"user_id": "user_id"},
                               portalspec.Cohort("1", "It's [new] \\ \"q\""))
    return integration.bind(values, context=context(), reveal_secrets=True)


def test_find_list_is_a_get_with_the_cohort_in_its_query(finds):
    request = finds.find_list()
    assert (request.method, request.body, request.endpoint) == ("GET", None, "find_list")
    assert request.url == "https://api.acme.example/lists?name=It%27s%20%5Bnew%5D%20%5C%20%22q%22"
    assert request.header("Authorization") == "Bearer tok-1" and request.header("Content-Type") is None


@pytest.mark.parametrize("status, body, found", [
    (200, {"items": [{"name": "[Amplitude] other", "listId": 1},
                     {"name": "[Amplitude] It's [new] \\ \"q\"", "listId": 2}]}, 2),
    (200, {"items": [{"name": "[Amplitude] other", "listId": 1}]}, None),
    (200, {"items": []}, None),
    (404, {"error": "no such list"}, None),
])
def test_list_found_names_the_cohorts_list_or_none(finds, status, body, found):
    assert finds.list_found(Found(status, body)) == found


@pytest.mark.parametrize("answer, words", [
    (Found(200, {"items": [{"name": "[Amplitude] It's [new] \\ \"q\"", "listId": n} for n in (1, 2)]}),
     "finds 2 lists"),
    (Found(500, {}), "HTTP 500"),
    (Found(401, {}), "HTTP 401"),
    (Found(200, text=b"<html>"), "cannot read find_list's answer"),
    (Found(200, {"items": [{"name": "[Amplitude] It's [new] \\ \"q\"", "listId": {"id": 1}}]}), "dict"),
])
def test_an_answer_that_cannot_say_is_an_input_error(finds, answer, words):
    with pytest.raises(portalspec.InputError, match=re.escape(words)):
        finds.list_found(answer)


def test_render_looks_before_it_creates(finds):
    requests = list(finds.requests([User("add", {"user_id": "a"})]))
    assert [r.endpoint for r in requests] == ["find_list", "create_list", "add_users"]
    assert [r.endpoint for r in finds.requests([], endpoint="find_list")] == ["find_list"]
    assert [r.endpoint for r in finds.requests([], endpoint="create_list")] == ["create_list"]

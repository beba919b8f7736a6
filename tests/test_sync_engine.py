"""The sync engine against an in-process destination (httpx.MockTransport): first sync,
changes, failures and retries — and the promise that no user is ever lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import portalspec
from portalspec.retry import RetryPolicy
from portalspec.sync import State, SyncOptions, member_key, sync
from portalspec.sync.diff import difference
from portalspec.testing import running_destination
from portalspec.transport import Transport
from tests.conftest import FINDS, state_rows, tweaked

ROOT = Path(__file__).resolve().parents[1]
INFOBIP = ROOT / "integrations" / "infobip"
SEGMENT = ROOT / "integrations" / "segment-identify"
FAST = SyncOptions(retry=RetryPolicy(base=0.0, jitter=0.0))


class Destination:
    """A list-based destination shaped like integrations/infobip, with scripted failures."""

    def __init__(self) -> None:
        self.lists: dict[str, list[str]] = {}
        self.requests: list[httpx.Request] = []
        self.script: list[Callable[[httpx.Request], httpx.Response | None]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.script:
            answer = self.script.pop(0)(request)
            if answer is not None:
                return answer
        path = request.url.path
        if path.endswith("/lists"):
            list_id = str(len(self.lists) + 100)
            self.lists[list_id] = []
            return httpx.Response(200, json={"listId": int(list_id)})
        list_id = path.split("/")[-2]
        ids = json.loads(request.content)["userIds"]
        members = self.lists[list_id]
        if path.endswith("/add"):
            members.extend(i for i in ids if i not in members)
        else:
            self.lists[list_id] = [m for m in members if m not in ids]
        return httpx.Response(200, json={"ok": True})

    def transport(self) -> Transport:
        return Transport(client=httpx.Client(transport=httpx.MockTransport(self)))


@pytest.fixture
def infobip() -> tuple[portalspec.Integration, portalspec.Values]:
    return (portalspec.compile(portalspec.load(INFOBIP / "integration.yaml")),
            portalspec.load_values(INFOBIP / "values.yaml"))


def ids(n: int, prefix: str = "u") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def test_first_sync_creates_the_list_then_adds_everyone(infobip):
    integration, values = infobip
    dest, state = Destination(), State(":memory:")
    report = sync(integration, values, ids(25), state=state, transport=dest.transport(), options=FAST)
    assert report.outcome == "succeeded" and report.created_list and report.list_id == 100
    assert dest.lists == {"100": ids(25)}
    assert [r.url.path for r in dest.requests] == ["/people/2/lists", "/people/2/lists/100/add"]


def test_later_syncs_send_only_the_difference_and_nothing_when_unchanged(infobip):
    integration, values = infobip
    dest, state = Destination(), State(":memory:")
    sync(integration, values, ids(25), state=state, transport=dest.transport(), options=FAST)
    changed = ids(25)[5:] + ["new-1", "new-2"]
    report = sync(integration, values, changed, state=state, transport=dest.transport(), options=FAST)
    assert (report.entering, report.leaving, report.created_list) == (2, 5, False)
    assert sorted(dest.lists["100"]) == sorted(changed)
    before = len(dest.requests)
    report = sync(integration, values, changed, state=state, transport=dest.transport(), options=FAST)
    assert report.outcome == "unchanged" and len(dest.requests) == before


def test_batches_respect_batch_size_and_entering_goes_before_leaving(tmp_path):
    definition = tweaked(tmp_path, "infobip", "item_template: '\"$user_id_field_amplitude\"'", "item_template: '\"$user_id_field_amplitude\"'\n    batch_size: 10")
    integration = portalspec.compile(portalspec.load(definition))
    values = portalspec.load_values(INFOBIP / "values.yaml")
    dest, state = Destination(), State(":memory:")
    sync(integration, values, ids(25), state=state, transport=dest.transport(), options=FAST)
    sync(integration, values, ids(25)[12:] + ids(21, "n"), state=state, transport=dest.transport(),
         options=SyncOptions(concurrency=1, retry=FAST.retry))
    second = dest.requests[4:]  # create + 3 adds (10/10/5) came first
    sizes = [(r.url.path.rsplit("/", 1)[1], len(json.loads(r.content)["userIds"])) for r in second]
    assert sizes == [("add", 10), ("add", 10), ("add", 1), ("remove", 10), ("remove", 2)]


def test_server_errors_are_retried_until_delivered(infobip):
    integration, values = infobip
    dest, state = Destination(), State(":memory:")
    dest.script = [lambda r: None, lambda r: httpx.Response(500), lambda r: httpx.Response(502)]
    report = sync(integration, values, ids(3), state=state, transport=dest.transport(), options=FAST)
    assert report.outcome == "succeeded" and report.retries == 2
    assert dest.lists["100"] == ids(3)


def test_429_retry_after_is_honoured():
    policy = RetryPolicy(base=0.0, jitter=0.0)
    assert policy.delay(1, retry_after=7.0) == 7.0
    assert policy.delay(3) == 0.0
    assert RetryPolicy(base=1.0, jitter=0.0).delay(4) == 8.0
    assert RetryPolicy(base=1.0, cap=120.0, jitter=0.0).delay(12) == 120.0


def test_429_with_retry_after_then_success(infobip):
    integration, values = infobip
    waited: list[float] = []
    dest, state = Destination(), State(":memory:")
    dest.script = [lambda r: None, lambda r: httpx.Response(429, headers={"Retry-After": "3"})]
    report = sync(integration, values, ids(2), state=state, transport=dest.transport(),
                  options=SyncOptions(retry=RetryPolicy(base=50.0)), wait=lambda d: waited.append(d) or False)
    assert report.outcome == "succeeded" and report.retries == 1
    assert waited == [3.0]  # Retry-After won over the 50 s computed backoff


def test_backoff_grows_exponentially_between_retries(infobip):
    integration, values = infobip
    waited: list[float] = []
    dest, state = Destination(), State(":memory:")
    dest.script = [lambda r: None] + [lambda r: httpx.Response(500)] * 4
    report = sync(integration, values, ids(2), state=state, transport=dest.transport(),
                  options=SyncOptions(retry=RetryPolicy(base=1.0, jitter=0.0)), wait=lambda d: waited.append(d) or False)
    assert report.outcome == "succeeded" and waited == [1.0, 2.0, 4.0, 8.0]


def test_retries_stop_at_max_retries_and_the_batch_stays_owed(infobip):
    integration, values = infobip
    dest, state = Destination(), State(":memory:")
    dest.script = [lambda r: None] + [lambda r: httpx.Response(500)] * 9
    report = sync(integration, values, ids(2), state=state, transport=dest.transport(),
                  options=SyncOptions(retry=RetryPolicy(max_retries=8, base=0.0)), wait=lambda d: False)
    assert report.outcome == "failed" and report.retries == 8 and report.undelivered == 2
    assert "after 8 retries" in report.errors[0]


def test_a_classified_400_is_not_retried_and_names_the_definitions_message(infobip):
    integration, values = infobip
    dest, state = Destination(), State(":memory:")
    dest.script = [lambda r: None, lambda r: httpx.Response(400, json={"error_code": 1000})]
    report = sync(integration, values, ids(4), state=state, transport=dest.transport(), options=FAST)
    assert report.outcome == "failed" and report.retries == 0 and report.undelivered == 4
    assert "disable and re-enable the sync" in report.errors[0]  # the errors: table's message
    # Nothing was lost: the next run (destination healthy again) delivers all four.
    report = sync(integration, values, ids(4), state=state, transport=dest.transport(), options=FAST)
    assert report.outcome == "succeeded" and report.entering == 4 and dest.lists["100"] == ids(4)


def test_connection_refused_leaves_everything_owed(infobip):
    integration, values = infobip
    state = State(":memory:")
    refused = Transport(base_url="http://127.0.0.1:9", timeout=2)  # the discard port: nothing listens
    report = sync(integration, values, ids(3), state=state, transport=refused,
                  options=SyncOptions(retry=RetryPolicy(max_retries=1, base=0.0)))
    assert report.outcome == "failed" and report.list_id is None
    assert "create_list" in report.errors[0]
    dest = Destination()
    report = sync(integration, values, ids(3), state=state, transport=dest.transport(), options=FAST)
    assert report.outcome == "succeeded" and dest.lists["100"] == ids(3)


def test_partial_failure_advances_only_the_delivered_batches(tmp_path):
    definition = tweaked(tmp_path, "infobip", "item_template: '\"$user_id_field_amplitude\"'", "item_template: '\"$user_id_field_amplitude\"'\n    batch_size: 5")
    integration = portalspec.compile(portalspec.load(definition))
    values = portalspec.load_values(INFOBIP / "values.yaml")
    dest, state = Destination(), State(tmp_path / "state.db")
    # create ok, batch 1 ok, batch 2 fails for good (403), batch 3 ok.
    dest.script = [lambda r: None, lambda r: None, lambda r: httpx.Response(403)]
    one = SyncOptions(concurrency=1, retry=FAST.retry)
    report = sync(integration, values, ids(15), state=state, transport=dest.transport(), options=one)
    assert (report.delivered, report.undelivered, report.outcome) == (10, 5, "failed")
    report = sync(integration, values, ids(15), state=state, transport=dest.transport(), options=one)
    assert report.entering == 5 and report.outcome == "succeeded"
    assert sorted(dest.lists["100"]) == sorted(ids(15))


def test_property_based_sends_true_then_false(tmp_path):
    integration = portalspec.compile(portalspec.load(SEGMENT / "integration.yaml"))
    values = portalspec.load_values(SEGMENT / "values.yaml")
    traits: dict[str, bool] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        for item in json.loads(request.content)["batch"]:
            traits[item["userId"]] = next(iter(item["traits"].values()))
        return httpx.Response(200)

    transport = Transport(client=httpx.Client(transport=httpx.MockTransport(handler)))
    state = State(":memory:")
    sync(integration, values, ids(3), state=state, transport=transport, options=FAST)
    sync(integration, values, ["u1", "u2", "u9"], state=state, transport=transport, options=FAST)
    assert traits == {"u0": False, "u1": True, "u2": True, "u9": True}


def test_message_id_is_stable_across_retries_and_reruns(tmp_path):
    definition = tweaked(tmp_path, "infobip", "Authorization: App $api_key", "Authorization: App $api_key\n  X-Message-Id: $amp_message_id")
    integration = portalspec.compile(portalspec.load(definition))
    values = portalspec.load_values(INFOBIP / "values.yaml")
    dest = Destination()
    dest.script = [lambda r: None, lambda r: httpx.Response(503)]
    sync(integration, values, ids(3), state=State(":memory:"), transport=dest.transport(), options=FAST)
    add_ids = [r.headers["X-Message-Id"] for r in dest.requests if r.url.path.endswith("/add")]
    assert len(add_ids) == 2 and add_ids[0] == add_ids[1]
    other = Destination()
    sync(integration, values, ids(3), state=State(":memory:"), transport=other.transport(), options=FAST)
    assert [r.headers["X-Message-Id"] for r in other.requests if r.url.path.endswith("/add")] == add_ids[:1]


def test_dry_run_plans_without_sending_or_writing(infobip, tmp_path):
    integration, values = infobip
    dest, state = Destination(), State(tmp_path / "s.db")
    report = sync(integration, values, ids(25), state=state, transport=dest.transport(),
                  options=SyncOptions(dry_run=True))
    plan = dict(report.plan)
    assert report.outcome == "dry-run" and not dest.requests
    assert plan["create_list"].requests == 1 and plan["add_users"].users == 25 and plan["add_users"].bytes > 0
    assert state.find_sync("infobip", {}, "1234") is None
    # (settings {} never match a real sync's: count what is in the file itself)
    assert state_rows(tmp_path / "s.db") == {"syncs": 0, "members": 0, "runs": 0}


def test_the_state_rows_helper_sees_a_real_sync(infobip, tmp_path):
    # The dry-run test above relies on _state_rows; it must see what a sync writes.
    integration, values = infobip
    dest = Destination()
    sync(integration, values, ids(3), state=State(tmp_path / "s.db"), transport=dest.transport(), options=FAST)
    assert state_rows(tmp_path / "s.db") == {"syncs": 1, "members": 3, "runs": 1}


def test_secrets_never_reach_errors_or_state(infobip, tmp_path):
    integration, values = infobip
    secret = values.fields["api_key"]
    dest = Destination()
    dest.script = [lambda r: httpx.Response(401, text=f"bad key {r.headers['Authorization']}")]
    state = State(tmp_path / "s.db")
    report = sync(integration, values, ids(2), state=state, transport=dest.transport(), options=FAST)
    assert report.outcome == "failed" and "Infobip API key is invalid" in report.errors[0]
    assert secret not in json.dumps(report.to_dict())
    state.close()
    assert secret.encode() not in (tmp_path / "s.db").read_bytes()


def test_member_keys_and_difference():
    assert member_key(["a"]) == "a" and member_key(["a", "b"]) == '["a", "b"]'
    diff = difference(["b", "a", "b", "c"], {"a", "z", "y"})
    assert diff.entering == ["b", "c"] and diff.leaving == ["y", "z"]
    assert difference(iter(["a"]), ["a"]).unchanged


def test_a_header_http_forbids_fails_at_once_without_retries(tmp_path):
    definition = tweaked(tmp_path, "infobip", "Authorization: App $api_key", "Authorization: App $api_key\n  X-Tag: ' padded'")
    integration = portalspec.compile(portalspec.load(definition))
    values = portalspec.load_values(INFOBIP / "values.yaml")
    with running_destination(INFOBIP / "integration.yaml", INFOBIP / "values.yaml") as dest, \
            Transport(base_url=dest.url) as transport:
        report = sync(integration, values, ids(2), state=State(":memory:"), transport=transport, options=FAST)
    assert report.outcome == "failed" and report.retries == 0
    assert "cannot be sent" in report.errors[0] and "Illegal header value" in report.errors[0]


def test_non_ascii_header_values_are_sent_as_utf8(tmp_path):
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.extend(value for name, value in request.headers.raw if name.lower() == b"x-region")
        return httpx.Response(200, json={"listId": 1})

    definition = tweaked(tmp_path, "infobip", "Authorization: App $api_key", "Authorization: App $api_key\n  X-Region: zoë")
    integration = portalspec.compile(portalspec.load(definition))
    values = portalspec.load_values(INFOBIP / "values.yaml")
    transport = Transport(client=httpx.Client(transport=httpx.MockTransport(handler)))
    report = sync(integration, values, ids(1), state=State(":memory:"), transport=transport, options=FAST)
    assert report.outcome == "succeeded"
    assert seen == ["zoë".encode("utf-8")] * 2  # create_list and the add batch


def test_two_runs_cannot_share_a_state_file(infobip, tmp_path):
    integration, values = infobip
    busy = State(tmp_path / "state.db")
    busy.lock()
    with State(tmp_path / "state.db") as other:
        with pytest.raises(portalspec.InputError, match="another sync is running"):
            sync(integration, values, ids(1), state=other, transport=Destination().transport(), options=FAST)
    busy.close()  # releases the lock
    with State(tmp_path / "state.db") as again:
        report = sync(integration, values, ids(1), state=again, transport=Destination().transport(), options=FAST)
    assert report.outcome == "succeeded"


@pytest.mark.parametrize("make", [
    lambda tmp: tmp,  # a directory
    lambda tmp: (tmp / "not.db").write_bytes(b"this is not a database" * 100) and tmp / "not.db",
    lambda tmp: (tmp / "file").write_text("x") and tmp / "file" / "state.db",  # a folder that is a file
])
def test_an_unusable_state_file_is_a_clear_error(tmp_path, make):
    with pytest.raises(portalspec.InputError, match="cannot open the sync state"):
        State(make(tmp_path))


def test_a_changed_user_is_an_add_of_the_new_values_and_never_leaves():
    from portalspec.sync.diff import Snapshot, changes, fingerprint

    held = {k: fingerprint(row) for k, row in (("u1", ("u1", "old@x")), ("u2", ("u2", "b@x")), ("u3", ("u3", "c@x")))}
    now = Snapshot({"u1": ("u1", "new@x"), "u2": ("u2", "b@x"), "u4": ("u4", "d@x")})
    diff = changes(now, held)
    assert diff.entering == ["u1", "u4"]
    assert diff.leaving == ["u3"]


def test_legacy_members_keyed_by_values_are_adopted_not_resent_nor_removed():
    """A state file from before identities keyed members by their values (member_key)."""
    from portalspec.sync.diff import Snapshot, adoptions, changes
    from portalspec.sync.state import LEGACY_PREFIX

    held = {LEGACY_PREFIX + k: "null" for k in ('["u1", "old@x"]', '["u2", "b@x"]', '["u3", "c@x"]')}
    now = Snapshot({"u1": ("u1", "new@x"), "u2": ("u2", "b@x"), "u4": ("u4", "d@x")})
    for old, new, vals in list(adoptions(now, held, 2)):
        del held[old]
        held[new] = vals
    diff = changes(now, held)
    assert diff.entering == ["u1", "u4"]  # u1 with its new values; u2 stayed as it was: not sent
    assert diff.leaving == [LEGACY_PREFIX + '["u3", "c@x"]']


# --- find_list: a list that may exist is never created again ----------------------------

class Lookup:
    """A destination for FINDS: find_list answers with the scripted lists (or a status), create_list
    with a new id or the scripted status; add/remove succeed."""

    def __init__(self, finds: list, creates: list | None = None):
        self.finds = finds  # per GET: a status (int) or the lists found: [(name, id), ...]
        self.creates = creates or []  # per POST /lists: a status, or None for a new list
        self.sent: list[tuple[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.method, request.url.path))
        if request.method == "GET":
            answer = self.finds.pop(0)
            if isinstance(answer, int):
                return httpx.Response(answer, json={"error": "scripted"})
            return httpx.Response(200, json={"items": [{"name": f"[Amplitude] {n}", "listId": i} for n, i in answer]})
        if request.url.path == "/lists":
            status = self.creates.pop(0) if self.creates else None
            return httpx.Response(status, json={"error": "exists"}) if status else httpx.Response(200, json={"listId": 7})
        return httpx.Response(200, json={"ok": True})

    def transport(self) -> Transport:
        return Transport(client=httpx.Client(transport=httpx.MockTransport(self)))


def lookup_sync(destination: Lookup, state: State, members=("a", "b")) -> portalspec.SyncReport:
    integration = portalspec.compile(portalspec.load(FINDS))
    values = portalspec.Values({"bearer_token": "tok"}, {"user_id": "user_id"}, portalspec.Cohort("9", "Beta"))
    with destination.transport() as transport:
        return sync(integration, values, list(members), state=state, transport=transport,
                    options=SyncOptions(retry=RetryPolicy(base=0.0, jitter=0.0, max_retries=1)))


def test_a_list_found_is_used_and_none_is_created():
    destination = Lookup([[("Other", 3), ("Beta", 5)]])
    with State(":memory:") as state:
        report = lookup_sync(destination, state)
    assert report.ok and report.list_id == 5 and not report.created_list
    assert destination.sent == [("GET", "/lists"), ("POST", "/lists/5/add")]


@pytest.mark.parametrize("not_found", [404, [], [("Other", 3)]])
def test_no_list_found_creates_one(not_found):
    destination = Lookup([not_found])
    with State(":memory:") as state:
        report = lookup_sync(destination, state)
        assert report.ok and report.list_id == 7 and report.created_list
        assert report.requests_failed == 0  # a 404 is an answer here, not a failure
        assert lookup_sync(destination, state, ("a", "b", "c")).ok  # stored: neither looked nor created again
    assert destination.sent == [("GET", "/lists"), ("POST", "/lists"), ("POST", "/lists/7/add"),
                                ("POST", "/lists/7/add")]


@pytest.mark.parametrize("answer, words", [(500, "HTTP 500"), (401, "HTTP 401"),
                                           ([("Beta", 1), ("Beta", 2)], "finds 2 lists")])
def test_an_answer_that_cannot_say_stops_the_run_before_create_list(answer, words):
    destination = Lookup([answer, answer, [("Beta", 5)]])  # (a 500 is retried once)
    with State(":memory:") as state:
        report = lookup_sync(destination, state)
        assert report.outcome == "failed" and report.undelivered == 2 and report.list_id is None
        assert any(words in e and "create_list is not sent" in e for e in report.errors), report.errors
        assert ("POST", "/lists") not in destination.sent
        destination.finds = [[("Beta", 5)]]
        assert lookup_sync(destination, state).list_id == 5  # the next run looks again
    assert ("POST", "/lists") not in destination.sent


def test_an_exists_on_answer_asks_find_list_again():
    """The list appeared between the look and the create (another run, a slow index)."""
    destination = Lookup([404, [("Beta", 5)]], creates=[409])
    with State(":memory:") as state:
        report = lookup_sync(destination, state)
    assert report.ok and report.list_id == 5 and not report.created_list
    assert destination.sent == [("GET", "/lists"), ("POST", "/lists"), ("GET", "/lists"), ("POST", "/lists/5/add")]


def test_an_exists_on_answer_that_find_list_cannot_confirm_creates_nothing_more():
    destination = Lookup([404, 404], creates=[409])
    with State(":memory:") as state:
        report = lookup_sync(destination, state)
    assert report.outcome == "failed" and report.list_id is None
    assert any("find_list does not find it" in e for e in report.errors)
    assert destination.sent.count(("POST", "/lists")) == 1


def test_the_dry_run_plan_shows_the_lookup_before_the_create():
    integration = portalspec.compile(portalspec.load(FINDS))
    values = portalspec.Values({"bearer_token": "tok"}, {"user_id": "user_id"}, portalspec.Cohort("9", "Beta"))
    with State(":memory:") as state:
        report = sync(integration, values, ["a"], state=state, transport=None, options=SyncOptions(dry_run=True))
    assert [name for name, _ in report.plan] == ["find_list", "create_list", "add_users"]
    assert dict(report.plan)["find_list"].requests == 1


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from('ab"\\\u00e9\u2028\x00\x1f\x7f😀 '), max_size=5), min_size=1,
                max_size=8))
def test_fingerprints_of_one_string_each_are_what_the_json_encoder_writes(texts):
    """Many texts at once (a join and a split when nothing needs escaping) give each text's
    JSON exactly: quotes, backslashes, controls, separators and emoji included."""
    from portalspec.sync.diff import fingerprint, fingerprints
    rows = [(t,) for t in texts]
    assert fingerprints(rows) == [fingerprint(r) for r in rows] == [json.dumps(t, ensure_ascii=False) for t in texts]

"""Sync under a hostile world: bounded time, answers that are data, a removal guard, honest
reports, a full disk — and never a lost user."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
from pathlib import Path
from typing import Callable

import httpx
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import portalspec
import portalspec.sync
from portalspec.cli import main
from portalspec.retry import RetryPolicy
from portalspec.sync import State, SyncOptions, sync
from portalspec.transport import Transport, TransportError
from tests.conftest import FakeTime

ROOT = Path(__file__).resolve().parents[1]
INFOBIP = ROOT / "integrations" / "infobip"
FAST = SyncOptions(retry=RetryPolicy(base=0.0, jitter=0.0))


def infobip() -> tuple[portalspec.Integration, portalspec.Values]:
    return (portalspec.compile(portalspec.load(INFOBIP / "integration.yaml")),
            portalspec.load_values(INFOBIP / "values.yaml"))


def ids(n: int) -> list[str]:
    return [f"{i:08x}-user@example.com" for i in range(n)]


class Scripted:
    """A destination answering create_list with ``create`` and every batch with ``batch``."""

    def __init__(self, create: Callable[[httpx.Request], httpx.Response] | None = None,
                 batch: Callable[[httpx.Request], httpx.Response] | None = None):
        self.create = create or (lambda r: httpx.Response(200, json={"listId": 7}))
        self.batch = batch or (lambda r: httpx.Response(200, json={"ok": True}))
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.create(request) if request.url.path.endswith("/lists") else self.batch(request)

    def transport(self, **options: float) -> Transport:
        return Transport(client=httpx.Client(transport=httpx.MockTransport(self)), **options)  # type: ignore[arg-type]


# --- the removal guard -------------------------------------------------------------------

def test_a_run_removing_more_than_half_of_a_large_membership_is_refused_and_sends_nothing():
    integration, values = infobip()
    state, dest = State(":memory:"), Scripted()
    sync(integration, values, ids(1000), state=state, transport=dest.transport(), options=FAST)
    sent = len(dest.requests)
    report = sync(integration, values, ids(400), state=state, transport=dest.transport(), options=FAST)
    assert report.outcome == "refused" and report.stopped_by == "removal guard" and not report.ok
    assert len(dest.requests) == sent  # nothing at all was sent
    assert "remove 600 of the 1,000 users last delivered (60%" in report.errors[0]
    assert "--allow-large-removal" in report.errors[0]
    allowed = sync(integration, values, ids(400), state=state, transport=dest.transport(),
                   options=SyncOptions(retry=FAST.retry, allow_large_removal=True))
    assert allowed.outcome == "succeeded" and allowed.leaving == 600


def test_the_guard_spares_small_cohorts_and_removals_within_the_share():
    integration, values = infobip()
    state, dest = State(":memory:"), Scripted()
    sync(integration, values, ids(999), state=state, transport=dest.transport(), options=FAST)
    assert sync(integration, values, ids(10), state=state, transport=dest.transport(), options=FAST).ok
    state = State(":memory:")
    sync(integration, values, ids(1000), state=state, transport=dest.transport(), options=FAST)
    assert sync(integration, values, ids(500), state=state, transport=dest.transport(), options=FAST).ok  # 50 %


def test_the_guard_threshold_and_share_are_options(tmp_path: Path):
    integration, values = infobip()
    state, dest = State(":memory:"), Scripted()
    sync(integration, values, ids(10), state=state, transport=dest.transport(), options=FAST)
    strict = SyncOptions(retry=FAST.retry, removal_guard_min=10, max_removal_share=0.1)
    assert sync(integration, values, ids(8), state=state, transport=dest.transport(), options=strict).outcome \
        == "refused"


def test_a_dry_run_says_a_run_would_be_refused():
    integration, values = infobip()
    state, dest = State(":memory:"), Scripted()
    sync(integration, values, ids(1000), state=state, transport=dest.transport(), options=FAST)
    plan = sync(integration, values, [], state=state, transport=None, options=SyncOptions(dry_run=True))
    assert plan.stopped_by == "removal guard" and "would be refused" in plan.errors[0]


# --- bounded time ------------------------------------------------------------------------

def test_a_run_deadline_ends_the_run_and_leaves_everyone_owed():
    integration, values = infobip()
    fake = FakeTime()
    dest = Scripted(batch=lambda r: httpx.Response(503))
    options = SyncOptions(retry=RetryPolicy(base=1.0, jitter=0.0), deadline=10.0)
    report = sync(integration, values, ids(30), state=State(":memory:"), transport=dest.transport(),
                  options=options, wait=fake.wait, clock=fake.clock)
    assert report.stopped_by == "deadline" and report.outcome == "failed"
    assert report.undelivered == 30 and report.delivered == 0
    assert sum(fake.waits) <= 10.0  # no backoff outlived the deadline
    assert any("deadline (10 s) ended it" in e for e in report.errors)


def test_a_retry_after_beyond_the_cap_is_not_waited_out():
    """A regression: Retry-After: 100000 parked a retry for 1,200 s."""
    integration, values = infobip()
    fake = FakeTime()
    dest = Scripted(batch=lambda r: httpx.Response(429, headers={"Retry-After": "100000"}))
    report = sync(integration, values, ids(3), state=State(":memory:"), transport=dest.transport(),
                  options=FAST, wait=fake.wait, clock=fake.clock)
    assert fake.waits == [] and report.undelivered == 3
    assert "it asked to wait 100000 s" in report.errors[0] and "300 s" in report.errors[0]


def test_a_retry_after_within_the_cap_is_waited_out():
    integration, values = infobip()
    fake = FakeTime()
    answers = iter([httpx.Response(429, headers={"Retry-After": "120"})])
    dest = Scripted(batch=lambda r: next(answers, httpx.Response(200, json={})))
    report = sync(integration, values, ids(3), state=State(":memory:"), transport=dest.transport(),
                  options=FAST, wait=fake.wait, clock=fake.clock)
    assert fake.waits == [120.0] and report.ok


class Trickle:
    """A local server that answers headers, then one body byte every ``gap`` seconds; bounded:
    it stops after ``limit`` seconds or when the client goes away."""

    def __init__(self, gap: float = 0.05, limit: float = 20.0, answer_headers: bool = True):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.gap, self.limit, self.answer_headers = gap, limit, answer_headers
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        conn, _ = self.sock.accept()
        conn.settimeout(self.limit)
        try:
            conn.recv(65536)
            end = time.monotonic() + self.limit
            if self.answer_headers:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            while time.monotonic() < end:
                if self.answer_headers:
                    conn.sendall(b"x")
                threading.Event().wait(self.gap)
        except OSError:
            pass  # the client hung up: done
        finally:
            conn.close()
            self.sock.close()


def test_a_trickling_answer_is_cut_at_the_timeout():
    """A regression: a response trickling a byte at a time kept a --timeout 3 sync going past 90 s."""
    server = Trickle()
    request = portalspec.Request("POST", server.url + "/x", (), b"{}")
    started = time.monotonic()
    with Transport(timeout=0.5) as transport, pytest.raises(TransportError, match="did not arrive whole within 0.5 s"):
        transport.send(request)
    assert time.monotonic() - started < 5  # the trickle would last 20 s


def test_a_peer_that_never_answers_is_cut_at_the_timeout():
    server = Trickle(answer_headers=False)
    request = portalspec.Request("POST", server.url + "/x", (), b"{}")
    with Transport(timeout=0.3) as transport, pytest.raises(TransportError, match="timed out after 0.3 s"):
        transport.send(request)


def test_an_answer_larger_than_the_cap_is_not_read_whole():
    dest = Scripted(batch=lambda r: httpx.Response(200, content=b"x" * 2000))
    request = portalspec.Request("POST", "https://h.example/b", (), b"{}")
    with pytest.raises(TransportError, match="larger than 1,000 bytes") as caught:
        dest.transport(max_response_bytes=1000).send(request)
    assert not caught.value.retryable


# --- answers are data --------------------------------------------------------------------

@pytest.mark.parametrize("answer, why", [
    (b"[" * 100_000, "nested too deeply"),
    (b'{"listId": NaN}', "NaN is not JSON"),
    (b'{"listId": Infinity}', "Infinity is not JSON"),
    (b'{"listId": ""}', "the list id is empty"),
    (b'{"listId": "' + b"x" * 1_000_000 + b'"}', "1,000,000 characters long"),
    (b'{"listId": 1' + b"0" * 5000 + b"}", "5,001 digits"),
    (b'{"listId": "\\ud800"}', "lone surrogate"),
    (b'{"listId": 1.5}', "not a finite integer"),
])
def test_a_hostile_create_list_answer_is_refused_and_no_list_id_is_stored(answer: bytes, why: str):
    """Regressions: deep nesting raised RecursionError; an empty, NaN, Infinity or 1 MB id was
    stored unchecked (an empty id wedged every later sync, NaN made --format json invalid)."""
    integration, values = infobip()
    state = State(":memory:")
    dest = Scripted(create=lambda r: httpx.Response(200, content=answer))
    report = sync(integration, values, ids(900), state=state, transport=dest.transport(), options=FAST)
    assert report.outcome == "failed" and report.list_id is None
    assert why in report.errors[0]
    # Honest: the 900 users are owed (a regression: it said entering 0, undelivered 0).
    assert (report.entering, report.undelivered, report.delivered) == (900, 900, 0)
    json.loads(json.dumps(report.to_dict(), allow_nan=False))  # the report is valid JSON
    good = sync(integration, values, ids(900), state=state, transport=Scripted().transport(), options=FAST)
    assert good.created_list and good.ok  # nothing wedged: the next run creates the list


def test_an_integral_float_list_id_is_its_integer():
    integration, values = infobip()
    dest = Scripted(create=lambda r: httpx.Response(200, content=b'{"listId": 12.0}'))
    report = sync(integration, values, ids(2), state=State(":memory:"), transport=dest.transport(), options=FAST)
    assert report.list_id == 12 and "/12/" in str(dest.requests[-1].url)


def test_a_deeply_nested_error_body_is_a_failed_batch_not_a_crash():
    integration, values = infobip()
    dest = Scripted(batch=lambda r: httpx.Response(400, content=b"{\"e\":" * 50_000))
    report = sync(integration, values, ids(2), state=State(":memory:"), transport=dest.transport(), options=FAST)
    assert report.outcome == "failed" and report.undelivered == 2


hostile_bodies = st.one_of(
    st.binary(max_size=300),
    st.integers(1, 30_000).map(lambda n: b"[" * n),
    st.sampled_from([b"NaN", b"[Infinity]", b'{"a": -Infinity}', b'"\\udfff"', b"1" * 6000, b"1e999"]),
    st.recursive(st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(),
                 lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(), kids, max_size=3),
                 max_leaves=20).map(lambda v: json.dumps(v).encode()),
)


def sync_once(dest: Scripted) -> tuple[State, portalspec.sync.SyncReport]:
    """Three users synced to ``dest`` with no retries, into a fresh state."""
    integration, values = infobip()
    state = State(":memory:")
    report = sync(integration, values, ids(3), state=state, transport=dest.transport(),
                  options=SyncOptions(retry=RetryPolicy(max_retries=0)))
    json.dumps(report.to_dict(), allow_nan=False)  # whatever came back, the report is JSON
    return state, report


@settings(max_examples=150, deadline=None)
@given(body=hostile_bodies, status=st.sampled_from([200, 201, 400, 401, 429, 500]))
def test_any_create_list_answer_is_data_never_a_traceback(body: bytes, status: int):
    state, report = sync_once(Scripted(create=lambda r: httpx.Response(status, content=body)))
    if report.list_id is None:  # a refusal changes nothing: no list id, no member
        assert report.undelivered == 3
        assert state.members(1) == {}
        assert state._db.execute("SELECT list_id FROM syncs").fetchone() == (None,)


@settings(max_examples=150, deadline=None)
@given(body=hostile_bodies, status=st.sampled_from([200, 400, 404, 429, 500, 503]))
def test_any_batch_answer_is_data_never_a_traceback(body: bytes, status: int):
    state, report = sync_once(Scripted(batch=lambda r: httpx.Response(status, content=body)))
    assert report.delivered + report.undelivered == 3
    members = len(state.members(1))
    assert members == report.delivered  # a refused batch changes no state


# --- honest reports ----------------------------------------------------------------------

def test_requests_counts_attempts_with_successes_and_failures_beside_it():
    integration, values = infobip()
    answers = iter([httpx.Response(500), httpx.Response(502)])
    dest = Scripted(batch=lambda r: next(answers, httpx.Response(200, json={})))
    report = sync(integration, values, ids(3), state=State(":memory:"), transport=dest.transport(), options=FAST)
    assert (report.requests, report.requests_ok, report.requests_failed, report.retries) == (4, 2, 2, 2)
    assert report.to_dict()["requests_failed"] == 2


def test_a_dry_run_touches_no_file(tmp_path: Path):
    definition, values = INFOBIP / "integration.yaml", INFOBIP / "values.yaml"
    cohort = tmp_path / "cohort.txt"
    cohort.write_text("a\nb\n")
    missing = tmp_path / "state" / "state.db"
    result = CliRunner().invoke(main, ["sync", str(definition), "--values", str(values), "--cohort-file", str(cohort),
                                       "--state", str(missing), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert not missing.parent.exists()  # a regression: the dry run created the state file
    existing = tmp_path / "s.db"
    with State(existing):
        pass
    before = sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in tmp_path.iterdir())
    result = CliRunner().invoke(main, ["sync", str(definition), "--values", str(values), "--cohort-file", str(cohort),
                                       "--state", str(existing), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in tmp_path.iterdir()) == before


# --- a full disk -------------------------------------------------------------------------

def test_a_full_disk_while_recording_ends_the_run_with_a_message_and_loses_nobody(tmp_path: Path):
    """A regression: disk full while writing state gave a sqlite3 traceback."""
    integration, values = infobip()
    path = tmp_path / "s.db"
    dest = Scripted()
    cohort = ids(5000)
    with State(path) as state:
        pages = state._db.execute("PRAGMA page_count").fetchone()[0]
        state._db.execute(f"PRAGMA max_page_count = {pages + 2}")  # room for the list id, not the members
        report = sync(integration, values, cohort, state=state, transport=dest.transport(),
                      options=SyncOptions(retry=FAST.retry, concurrency=1))
    assert report.outcome == "failed" and any("cannot write the sync state" in e for e in report.errors)
    assert report.undelivered > 0
    with State(path) as state:  # room again: the next run sends whoever was not recorded
        again = sync(integration, values, cohort, state=state, transport=dest.transport(), options=FAST)
        assert again.ok
        record_keys = set(state.members(1))
    assert record_keys == set(cohort)


def test_a_state_write_error_is_a_state_error(tmp_path: Path):
    path = tmp_path / "s.db"
    with State(path) as state:
        state._db.execute("PRAGMA query_only = ON")
        with pytest.raises(portalspec.InputError, match="cannot write the sync state"):
            state.sync_for("x", {}, "1")
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM syncs").fetchone() == (0,)

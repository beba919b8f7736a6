"""Sync state: members stored by identity with their values, and state files written before
identities (layout 1) migrated — never misread, never a second list, nobody lost."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import httpx
import pytest

import portalspec
from portalspec import User
from portalspec.retry import RetryPolicy
from portalspec.sync import State, SyncOptions, sync
from portalspec.sync.state import LEGACY_PREFIX, StateError
from portalspec.transport import Transport

ROOT = Path(__file__).resolve().parents[1]
INFOBIP = ROOT / "integrations" / "infobip"
FAST = SyncOptions(retry=RetryPolicy(base=0.0, jitter=0.0))
VAR = "user_id_field_amplitude"


def infobip() -> tuple[portalspec.Integration, portalspec.Values]:
    return (portalspec.compile(portalspec.load(INFOBIP / "integration.yaml")),
            portalspec.load_values(INFOBIP / "values.yaml"))


class Recorder:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.endswith("/lists"):
            return httpx.Response(200, json={"listId": 555})
        return httpx.Response(200, json={"ok": True})

    def transport(self) -> Transport:
        return Transport(client=httpx.Client(transport=httpx.MockTransport(self)))

    def bodies(self, suffix: str) -> list[list[str]]:
        return [json.loads(r.content)["userIds"] for r in self.requests if r.url.path.endswith(suffix)]


def layout_1(path: Path, keys: list[str], list_id: int) -> None:
    """A state file as portalspec wrote it before identities: members keyed by mapped value."""
    old_layout(path, list_id, "1", [(k,) for k in keys])


def layout_2(path: Path, members: dict[str, str], list_id: int) -> None:
    """A state file as portalspec wrote it before the log: a row per member, with its values."""
    old_layout(path, list_id, "2", list(members.items()))


def layout_3(path: Path, batches: list[tuple[str, list[str], list[str] | None]], list_id: int) -> None:
    """A state file as portalspec wrote it before the form column: every row a JSON array of
    identities and (added) a JSON array of their values JSON."""
    old_layout(path, list_id, "3", [])
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE membership (id INTEGER PRIMARY KEY, sync_id INTEGER NOT NULL REFERENCES syncs (id),
                                 op TEXT NOT NULL, n INTEGER NOT NULL, keys TEXT NOT NULL, vals TEXT);
        CREATE INDEX membership_sync ON membership (sync_id, id);
        INSERT INTO meta VALUES ('layout', '3');
    """)
    db.executemany("INSERT INTO membership (sync_id, op, n, keys, vals) VALUES (1, ?, ?, ?, ?)",
                   [(op, len(keys), json.dumps(keys), None if vals is None else json.dumps(vals))
                    for op, keys, vals in batches])
    db.commit()
    db.close()


def old_layout(path: Path, list_id: int, layout: str, rows: list[tuple[str, ...]]) -> None:
    integration, values = infobip()
    with State(path) as state:  # the syncs row, with the settings hash a run will look for
        engine_settings = {"fields": dict(integration.bind(values, reveal_secrets=True).fields),
                           "mappings": dict(values.mappings), "base_url": None}
        record = state.sync_for("infobip", engine_settings, values.cohort.id)
        state.set_list_id(record.id, list_id)
    db = sqlite3.connect(path)
    db.executescript("""
        DROP TABLE membership;
        DELETE FROM meta WHERE key = 'layout';
    """)
    if layout == "3":
        pass  # the caller adds its membership log
    elif layout == "1":
        db.execute("""CREATE TABLE members (sync_id INTEGER NOT NULL REFERENCES syncs (id), key TEXT NOT NULL,
                                            PRIMARY KEY (sync_id, key)) WITHOUT ROWID""")
    else:
        db.execute("""CREATE TABLE members (sync_id INTEGER NOT NULL REFERENCES syncs (id), key TEXT NOT NULL,
                                            vals TEXT NOT NULL, PRIMARY KEY (sync_id, key)) WITHOUT ROWID""")
        db.execute("INSERT INTO meta VALUES ('layout', '2')")
    if rows:
        marks = ", ".join("?" * (len(rows[0]) + 1))
        db.executemany(f"INSERT INTO members VALUES ({marks})", ((record.id, *row) for row in rows))
    db.commit()
    db.close()


def test_members_are_stored_by_identity_with_the_values_they_were_sent_with(tmp_path: Path):
    integration, values = infobip()
    dest = Recorder()
    users = [User("add", {VAR: "a@x"}, key="u1"), User("add", {VAR: "b@x"}, key="u2")]
    with State(tmp_path / "s.db") as state:
        sync(integration, values, users, state=state, transport=dest.transport(), options=FAST)
        record = state.find_sync("infobip", {"fields": dict(integration.bind(values, reveal_secrets=True).fields),
                                             "mappings": dict(values.mappings), "base_url": None}, "1234")
        assert record is not None
        assert state.members(record.id) == {"u1": '"a@x"', "u2": '"b@x"'}


def test_a_changed_value_is_sent_again_as_entering_and_nobody_is_removed(tmp_path: Path):
    integration, values = infobip()
    dest = Recorder()
    with State(tmp_path / "s.db") as state:
        sync(integration, values, [User("add", {VAR: "a@x"}, key="u1")], state=state, transport=dest.transport(),
             options=FAST)
        report = sync(integration, values, [User("add", {VAR: "a2@x"}, key="u1")], state=state,
                      transport=dest.transport(), options=FAST)
    assert (report.entering, report.leaving) == (1, 0)
    assert dest.bodies("/add") == [["a@x"], ["a2@x"]] and dest.bodies("/remove") == []


def test_a_leaving_user_is_removed_with_the_values_the_destination_knows(tmp_path: Path):
    integration, values = infobip()
    dest = Recorder()
    with State(tmp_path / "s.db") as state:
        sync(integration, values, [User("add", {VAR: "a@x"}, key="u1"), User("add", {VAR: "b@x"}, key="u2")],
             state=state, transport=dest.transport(), options=FAST)
        sync(integration, values, [User("add", {VAR: "a@x"}, key="u1")], state=state, transport=dest.transport(),
             options=FAST)
    assert dest.bodies("/remove") == [["b@x"]]


def test_a_layout_1_state_file_is_migrated_and_its_members_adopted_without_sending(tmp_path: Path):
    path = tmp_path / "old.db"
    layout_1(path, ["a@x", "b@x", "gone@x"], list_id=2568)
    integration, values = infobip()
    dest = Recorder()
    cohort = [User("add", {VAR: "a@x"}, key="u1"), User("add", {VAR: "b@x"}, key="u2")]
    with State(path) as state:
        report = sync(integration, values, cohort, state=state, transport=dest.transport(), options=FAST)
        assert not report.created_list and report.list_id == 2568  # never a second list
        assert (report.entering, report.leaving) == (0, 1)
        assert dest.bodies("/add") == [] and dest.bodies("/remove") == [["gone@x"]]
        assert all("/2568/" in str(r.url) for r in dest.requests)
        record = state.find_sync("infobip", {"fields": dict(integration.bind(values, reveal_secrets=True).fields),
                                             "mappings": dict(values.mappings), "base_url": None}, "1234")
        assert record is not None
        assert state.members(record.id) == {"u1": '"a@x"', "u2": '"b@x"'}
        again = sync(integration, values, cohort, state=state, transport=dest.transport(), options=FAST)
    assert again.outcome == "unchanged"


def test_a_dry_run_on_a_layout_1_file_plans_without_adopting(tmp_path: Path):
    path = tmp_path / "old.db"
    layout_1(path, ["a@x"], list_id=7)
    integration, values = infobip()
    with State(path) as state:
        report = sync(integration, values, [User("add", {VAR: "a@x"}, key="u1")], state=state, transport=None,
                      options=SyncOptions(dry_run=True))
        assert (report.entering, report.leaving) == (0, 0)
    with State(path, readonly=True) as state:
        record = state.find_sync("infobip", {"fields": dict(integration.bind(values, reveal_secrets=True).fields),
                                             "mappings": dict(values.mappings), "base_url": None}, "1234")
        assert record is not None
        assert state.members(record.id) == {LEGACY_PREFIX + "a@x": "null"}  # adopted only by a run that sends


def test_migration_keeps_several_mapping_values_and_matches_a_changed_user_by_the_first(tmp_path: Path):
    from portalspec.sync.diff import adoptions

    held = {LEGACY_PREFIX + '["u1", "old@x"]': "null"}
    (old, new, vals), = adoptions({"u1": ("u1", "new@x")}, held, 2)
    assert (old, new, json.loads(vals)) == (LEGACY_PREFIX + '["u1", "old@x"]', "u1", ["u1", "old@x"])


def test_a_layout_2_state_file_is_migrated_keeping_every_member_and_its_list(tmp_path: Path):
    path = tmp_path / "v2.db"
    layout_2(path, {"u1": '"a@x"', "u2": '"b@x"', "u3": '"gone@x"'}, list_id=2568)
    integration, values = infobip()
    dest = Recorder()
    cohort = [User("add", {VAR: "a@x"}, key="u1"), User("add", {VAR: "b2@x"}, key="u2")]
    with State(path, readonly=True) as state:  # a dry run reads it as it is, writing nothing
        assert state.members(1) == {"u1": '"a@x"', "u2": '"b@x"', "u3": '"gone@x"'}
    with State(path) as state:
        assert state._db.execute("SELECT value FROM meta WHERE key = 'layout'").fetchone() == ("4",)
        assert state.members(1) == {"u1": '"a@x"', "u2": '"b@x"', "u3": '"gone@x"'}
        report = sync(integration, values, cohort, state=state, transport=dest.transport(), options=FAST)
        assert not report.created_list and report.list_id == 2568  # never a second list
        assert dest.bodies("/add") == [["b2@x"]] and dest.bodies("/remove") == [["gone@x"]]
        assert state.members(1) == {"u1": '"a@x"', "u2": '"b2@x"'}


def test_a_layout_3_state_file_gains_its_form_column_and_reads_as_it_did(tmp_path: Path):
    path = tmp_path / "v3.db"
    layout_3(path, [("add", ["u1", "u2", "u3"], ['"a@x"', '"b@x"', '"gone@x"']), ("remove", ["u2"], None),
                    ("add", ["u2"], ['"b@x"'])], list_id=2568)
    integration, values = infobip()
    dest = Recorder()
    cohort = [User("add", {VAR: "a@x"}, key="u1"), User("add", {VAR: "b2@x"}, key="u2")]
    with State(path) as state:
        assert state._db.execute("SELECT value FROM meta WHERE key = 'layout'").fetchone() == ("4",)
        assert state._db.execute("SELECT DISTINCT form FROM membership").fetchall() == [("json",)]
        assert state.members(1) == {"u1": '"a@x"', "u2": '"b@x"', "u3": '"gone@x"'}
        report = sync(integration, values, cohort, state=state, transport=dest.transport(), options=FAST)
        assert not report.created_list and report.list_id == 2568  # never a second list
        assert dest.bodies("/add") == [["b2@x"]] and dest.bodies("/remove") == [["gone@x"]]
        assert state.members(1) == {"u1": '"a@x"', "u2": '"b2@x"'}
        again = sync(integration, values, cohort, state=state, transport=dest.transport(), options=FAST)
    assert again.outcome == "unchanged"


def test_plain_ids_are_stored_once_as_lines_and_read_back_as_their_values(tmp_path: Path):
    """A plain id list's user is its own value: the row holds the ids, newline-joined, and no values."""
    integration, values = infobip()
    dest = Recorder()
    ids = ["é@x", 'quote"d@x', "back\\slash@x", "tab\tid", "42"]
    with State(tmp_path / "s.db") as state:
        sync(integration, values, ids, state=state, transport=dest.transport(), options=FAST)
        assert state._db.execute("SELECT op, n, keys, vals, form FROM membership").fetchall() == [
            ("add", 5, "\n".join(ids), None, "lines")]
        assert state.members(1) == {i: json.dumps(i, ensure_ascii=False) for i in ids}
        again = sync(integration, values, ids[1:], state=state, transport=dest.transport(), options=FAST)
    assert (again.entering, again.leaving) == (0, 1) and dest.bodies("/remove") == [["é@x"]]
    assert dest.bodies("/add") == [ids]


def test_an_export_mapped_by_its_own_identity_stores_no_values_but_other_values_are_kept(tmp_path: Path):
    integration, values = infobip()
    own = [User("add", {VAR: "u1"}, key="u1"), User("add", {VAR: "u2"}, key="u2")]
    other = [*own, User("add", {VAR: "c@x"}, key="u3")]
    with State(tmp_path / "s.db") as state:
        sync(integration, values, own, state=state, transport=Recorder().transport(), options=FAST)
        sync(integration, values, other, state=state, transport=Recorder().transport(), options=FAST)
        assert state._db.execute("SELECT keys, vals FROM membership ORDER BY id").fetchall() == [
            ("u1\nu2", None), ("u3", '["\\"c@x\\""]')]
        assert state.members(1) == {"u1": '"u1"', "u2": '"u2"', "u3": '"c@x"'}


def test_a_row_in_a_form_this_version_does_not_know_is_refused_not_misread(tmp_path: Path):
    with State(tmp_path / "s.db") as state:
        record = state.sync_for("x", {}, "1")
        state.record_delivered(record.id, added=[("a", '"a"')])
        state._db.execute("UPDATE membership SET form = 'columnar'")
        with pytest.raises(StateError, match="form this portalspec does not know .'columnar'.*newer portalspec"):
            state.members(record.id)


def test_a_read_only_state_reads_every_layout_without_touching_the_file(tmp_path: Path):
    for layout, build in (("1", lambda p: layout_1(p, ["a@x"], 7)), ("2", lambda p: layout_2(p, {"u1": '"a@x"'}, 7)),
                          ("3", lambda p: layout_3(p, [("add", ["u1"], ['"a@x"'])], 7))):
        path = tmp_path / f"v{layout}.db"
        build(path)
        before = sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in tmp_path.iterdir())
        with State(path, readonly=True) as state:
            held = state.members(1)
        assert held == ({LEGACY_PREFIX + "a@x": "null"} if layout == "1" else {"u1": '"a@x"'})
        assert sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in tmp_path.iterdir()) == before


def test_the_membership_log_replays_in_order_and_is_compacted_when_it_outgrows_the_membership(tmp_path: Path):
    with State(tmp_path / "s.db") as state:
        record = state.sync_for("x", {}, "1")
        state.record_delivered(record.id, added=[("b", '"1"'), ("a", '"2"')])
        state.record_delivered(record.id, removed=["b"])
        state.record_delivered(record.id, added=[("b", '"3"'), ("a", '"4"')])
        state.record_delivered(record.id, removed=["a", "never"])
        rows = lambda: state._db.execute("SELECT COUNT(*) FROM membership").fetchone()[0]  # noqa: E731
        assert rows() == 4
        # 7 entries logged for 1 live member: the load rewrites the log as the membership
        assert state.members(record.id) == {"b": '"3"'}
        assert rows() == 1
        assert state.members(record.id) == {"b": '"3"'}
    with State(tmp_path / "s.db", readonly=True) as state:
        assert state.members(record.id) == {"b": '"3"'}


def test_a_compacted_log_stores_identities_that_are_their_own_values_once(tmp_path: Path):
    with State(tmp_path / "s.db") as state:
        record = state.sync_for("x", {}, "1")
        for _ in range(3):  # the same users delivered three times: 6 entries for 2 members
            state.record_delivered(record.id, added=[("a", '"a"'), ("é", '"é"')])
        assert state.members(record.id) == {"a": '"a"', "é": '"é"'}
        assert state._db.execute("SELECT keys, vals, form FROM membership").fetchall() == [("a\né", None, "lines")]


def test_any_identity_is_stored_exactly(tmp_path: Path):
    """A regression: an identity with a lone surrogate (a CSV can hold one) was a UnicodeEncodeError.
    Each batch takes the form that spells it: a newline or a surrogate (no UTF-8) needs JSON."""
    batches = [["\ud800x", "é", "a\nb", "\x00legacy"], ["\udfffy", "plain"], ["\x00legacy\x00k", "", "é"]]
    with State(tmp_path / "s.db") as state:
        record = state.sync_for("x", {}, "1")
        for batch in batches:
            state.record_delivered(record.id, added=[(k, json.dumps(k)) for k in batch])
        assert [f for f, in state._db.execute("SELECT form FROM membership ORDER BY id")] == ["json", "json", "lines"]
        assert state.members(record.id) == {k: json.dumps(k) for batch in batches for k in batch}

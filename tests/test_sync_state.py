"""Sync state: members stored by identity with their values, and state files written before
identities (layout 1) migrated — never misread, never a second list, nobody lost."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import httpx

import portalspec
from portalspec import User
from portalspec.retry import RetryPolicy
from portalspec.sync import State, SyncOptions, sync
from portalspec.sync.state import LEGACY_PREFIX
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
    integration, values = infobip()
    with State(path) as state:  # the syncs row, with the settings hash a run will look for
        engine_settings = {"fields": dict(integration.bind(values, reveal_secrets=True).fields),
                           "mappings": dict(values.mappings), "base_url": None}
        record = state.sync_for("infobip", engine_settings, values.cohort.id)
        state.set_list_id(record.id, list_id)
    db = sqlite3.connect(path)
    db.executescript("""
        DROP TABLE members;
        DELETE FROM meta WHERE key = 'layout';
        CREATE TABLE members (sync_id INTEGER NOT NULL REFERENCES syncs (id), key TEXT NOT NULL,
                              PRIMARY KEY (sync_id, key)) WITHOUT ROWID;
    """)
    db.executemany("INSERT INTO members VALUES (?, ?)", ((record.id, k) for k in keys))
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
        keys = [k for (k,) in state._db.execute("SELECT key FROM members")]
    assert keys == [LEGACY_PREFIX + "a@x"]  # adopted only by a run that sends


def test_migration_keeps_several_mapping_values_and_matches_a_changed_user_by_the_first(tmp_path: Path):
    from portalspec.sync.diff import adoptions

    held = {LEGACY_PREFIX + '["u1", "old@x"]': "null"}
    (old, new, vals), = adoptions({"u1": ("u1", "new@x")}, held, 2)
    assert (old, new, json.loads(vals)) == (LEGACY_PREFIX + '["u1", "old@x"]', "u1", ["u1", "old@x"])

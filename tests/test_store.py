"""The serve store: lists, members, traits and the request log, in memory or in a file."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from portalspec.diagnostics import InputError
from portalspec.store import Store, member_key


def test_lists_keep_the_id_type_and_refuse_a_duplicate():
    store = Store()
    assert store.create_list(7, {"name": "a"})
    assert store.create_list("lst_1", {})
    assert not store.create_list(7, {"name": "again"})
    assert store.list_id("7") == 7 and store.list_id("lst_1") == "lst_1"
    assert store.list_id("nope") is None
    assert [entry["id"] for entry in store.snapshot()["lists"]] == [7, "lst_1"]
    assert store.snapshot()["lists"][0]["request"] == {"name": "a"}


def test_membership_adds_refreshes_and_removes():
    store = Store()
    store.create_list(1, {})
    assert store.add_members("1", [("a", {"uid": "a", "email": "a@x"}), ("b", {"uid": "b"})]) == 2
    assert store.add_members("1", [("a", {"uid": "a", "email": "new@x"})]) == 2
    assert store.remove_members("1", ["b", "never-there"]) == (1, 1)
    members = store.snapshot()["lists"][0]["members"]
    assert members == [{"key": "a", "values": {"uid": "a", "email": "new@x"}}]


def test_only_list_is_the_one_list_or_none():
    store = Store()
    assert store.only_list() is None
    store.create_list("x", {})
    assert store.only_list() == "x"
    store.create_list("y", {})
    assert store.only_list() is None


def test_traits_are_set_and_cleared_per_user_and_trait():
    store = Store()
    store.set_traits([("u1", "3456", True, {"uid": "u1"}), ("u2", "3456", True, {"uid": "u2"})])
    store.set_traits([("u1", "3456", False, {"uid": "u1"}), ("u1", "77", True, {"uid": "u1"})])
    users = {u["key"]: u["traits"] for u in store.snapshot()["users"]}
    assert users == {"u1": {"3456": False, "77": True}, "u2": {"3456": True}}


def test_requests_are_logged_in_order():
    store = Store()
    store.record_request({"method": "POST", "status": 200})
    store.record_request({"method": "DELETE", "status": 404})
    log = store.requests()
    assert [(r["seq"], r["method"], r["status"]) for r in log] == [(1, "POST", 200), (2, "DELETE", 404)]
    assert all("time" in r for r in log)


def test_a_file_keeps_the_state_across_runs(tmp_path: Path):
    path = str(tmp_path / "state.db")
    first = Store(path, integration="acme")
    first.create_list(1, {})
    first.add_members("1", [("a", {})])
    first.close()
    second = Store(path, integration="acme")
    assert second.snapshot()["lists"][0]["members"] == [{"key": "a", "values": {}}]
    second.add_members("1", [("b", {})])  # arrival order continues after the earlier run's
    assert [m["key"] for m in second.snapshot()["lists"][0]["members"]] == ["a", "b"]
    second.close()


def test_a_file_of_another_integration_is_refused(tmp_path: Path):
    path = str(tmp_path / "state.db")
    Store(path, integration="acme").close()
    with pytest.raises(InputError, match="holds the state of integration 'acme'"):
        Store(path, integration="other")


def test_an_unusable_file_is_a_clear_error(tmp_path: Path):
    bad = tmp_path / "not-a-db"
    bad.write_text("this is not sqlite" * 100)
    with pytest.raises(InputError, match="cannot use as a state file"):
        Store(str(bad))


def test_concurrent_batches_are_all_kept():
    store = Store()
    store.create_list(1, {})

    def add(worker: int) -> None:
        for batch in range(10):
            store.add_members("1", [(f"{worker}-{batch}-{i}", {}) for i in range(20)])

    threads = [threading.Thread(target=add, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.snapshot()["lists"][0]["size"] == 8 * 10 * 20


def test_member_keys_are_text():
    assert member_key("a") == "a" and member_key(12) == "12" and member_key(True) == "true"
    assert member_key({"b": 1, "a": 2}) == '{"a": 2, "b": 1}'


def test_the_request_log_is_a_ring_of_the_last_n(tmp_path: Path):
    store = Store(request_log=3)
    for n in range(7):
        store.record_request({"n": n})
    assert [(r["seq"], r["n"]) for r in store.requests()] == [(5, 4), (6, 5), (7, 6)]
    # a file keeps counting across runs, and a smaller ring trims what an earlier run left
    path = str(tmp_path / "state.sqlite")
    first = Store(path, request_log=10)
    for n in range(6):
        first.record_request({"n": n})
    first.close()
    second = Store(path, request_log=2)
    second.record_request({"n": 6})
    assert [(r["seq"], r["n"]) for r in second.requests()] == [(6, 5), (7, 6)]
    second.close()
    with pytest.raises(InputError, match="at least 1"):
        Store(request_log=0)


def test_removing_falls_back_to_the_identity_the_remove_items_carry():
    store = Store()
    store.create_list(1, {})
    store.add_members("1", [("a@x", {"email": "a@x", "uid": "u1"}), ("b@x", {"email": "b@x", "uid": "u2"}),
                            ("u3", {"uid": "u3"})])
    # by another variable than the key; one that agrees on nothing shared; then the other way round
    assert store.remove_members("1", [("u1", {"uid": "u1"}), ("u2", {"uid": "u9", "email": "b@x"}),
                                      ("c@x", {"email": "c@x", "uid": "u3"}), ("zz", {"uid": "zz"})]) == (2, 1)
    assert [m["key"] for m in store.snapshot()["lists"][0]["members"]] == ["b@x"]
    # an item that agrees with nobody on a shared variable, and numbers compared as text
    store.add_members("1", [("n", {"uid": 7})])
    assert store.remove_members("1", [("7", {"uid": "7"})]) == (1, 1)


def test_the_kept_size_matches_a_count_through_repeats_refreshes_and_removals_by_identity():
    store = Store()
    store.create_list(1, {})

    def counted() -> int:
        return store._db.execute("SELECT COUNT(*) FROM members WHERE list_key = '1'").fetchone()[0]

    assert store.add_members("1", [("a", {"uid": "a"}), ("b", {"uid": "b"}), ("a", {"uid": "a2"})]) == 2 == counted()
    assert store.add_members("1", [("b", {"uid": "b", "email": "b@x"}), ("c", {"uid": "c"})]) == 3 == counted()
    assert [m["values"] for m in store.snapshot()["lists"][0]["members"]] == [{"uid": "a2"}, {"uid": "b", "email": "b@x"},
                                                                             {"uid": "c"}]
    assert store.remove_members("1", [("zzz", {"email": "b@x"}), "a", "a"]) == (2, 1) and counted() == 1


def test_values_are_stored_as_json_dumps_writes_them():
    import json

    store = Store()
    store.create_list(1, {})
    values = [{"uid": "é\u2028\"x"}, {"uid": "plain"}]
    store.add_members("1", [(str(i), v) for i, v in enumerate(values)])
    stored = [text for (text,) in store._db.execute('SELECT "values" FROM members ORDER BY seq')]
    assert stored == [json.dumps(v, ensure_ascii=False) for v in values]
    store.add_members("1", [("n", {"uid": 7}), ("m", {"uid": "m", "x": None})])
    stored = [text for (text,) in store._db.execute('SELECT "values" FROM members ORDER BY seq')][2:]
    assert stored == ['{"uid": 7}', '{"uid": "m", "x": null}']


def test_a_failed_change_forgets_the_kept_size(tmp_path: Path):
    store = Store(str(tmp_path / "s.db"))
    store.create_list(1, {})
    store.add_members("1", [("a", {"uid": "a"})])
    store._db.execute("PRAGMA query_only = ON")
    with pytest.raises(Exception):
        store.add_members("1", [("b", {"uid": "b"})])
    store._db.execute("PRAGMA query_only = OFF")
    assert store.add_members("1", [("c", {"uid": "c"})]) == 2


def test_lists_remember_the_cohort_they_were_created_for():
    store = Store()
    store.create_list(1, {"name": "a"}, {"amp_cohort_name": "Beta"})
    store.create_list("x", {})
    assert store.lists() == [(1, {"amp_cohort_name": "Beta"}), ("x", {})]


def test_a_state_file_from_before_find_list_gains_the_column(tmp_path: Path):
    import sqlite3

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript("""CREATE TABLE lists (seq INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE,
                        id_json TEXT NOT NULL, created TEXT NOT NULL, request TEXT NOT NULL);
                        INSERT INTO lists (key, id_json, created, request) VALUES ('5', '5', 't', '{}');""")
    db.commit()
    db.close()
    store = Store(str(path))
    assert store.create_list(6, {}, {"amp_cohort_name": "Beta"})
    assert store.lists() == [(5, {}), (6, {"amp_cohort_name": "Beta"})]
    store.close()


@pytest.mark.parametrize("json_functions", [True, False])
def test_a_column_of_new_members_is_stored_by_name_and_read_back_as_their_values(json_functions: bool):
    """add_column's members (one value each, their key) take one json_each insert, their values
    stored as the variable's name; without SQLite's JSON functions, as JSON. Either reads the same."""
    store = Store()
    if not json_functions:
        store._insert_column = None
    store.create_list(1, {})
    assert store.add_column("1", "uid", ["a", 'é"q', "\u2028", "b"]) == 4
    stored = [text for (text,) in store._db.execute('SELECT "values" FROM members ORDER BY seq')]
    assert stored == (["uid"] * 4 if json_functions else ['{"uid": "a"}', '{"uid": "é\\"q"}', '{"uid": "\u2028"}',
                                                          '{"uid": "b"}'])
    assert store.add_members("1", [("c", {"uid": "c", "email": "c@x"})]) == 5
    assert store.add_column("1", "uid", ["d", "a"]) == 6  # "a" again: refreshed in its place
    members = store.snapshot()["lists"][0]["members"]
    assert [(m["key"], m["values"]) for m in members] == [
        ("a", {"uid": "a"}), ('é"q', {"uid": 'é"q'}), ("\u2028", {"uid": "\u2028"}), ("b", {"uid": "b"}),
        ("c", {"uid": "c", "email": "c@x"}), ("d", {"uid": "d"})]
    # found by their values, as members stored as JSON are
    assert store.remove_members("1", [("zz", {"uid": "b"}), ("yy", {"uid": 'é"q'})]) == (2, 4)


def test_a_state_file_whose_members_predate_seq_as_rowid_takes_a_column(tmp_path: Path):
    import sqlite3

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript("""CREATE TABLE members (list_key TEXT NOT NULL, key TEXT NOT NULL, "values" TEXT NOT NULL,
                                              seq INTEGER NOT NULL, PRIMARY KEY (list_key, key));
                        INSERT INTO members VALUES ('1', 'old', '{"uid": "old"}', 1);""")
    db.commit()
    db.close()
    store = Store(str(path))
    store.create_list(1, {})
    assert store.add_column("1", "uid", ["x", "y"]) == 3
    assert [(m["key"], m["values"]) for m in store.snapshot()["lists"][0]["members"]] == [
        ("old", {"uid": "old"}), ("x", {"uid": "x"}), ("y", {"uid": "y"})]
    store.close()

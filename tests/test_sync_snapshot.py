"""The cohort a sync reads (Engine.snapshot): a users file's column blocks give exactly the
snapshot its users give one by one — identities, values, order, the first of a repeated
identity — and a block of users who are each their own one value keeps ids alone."""

from __future__ import annotations

from pathlib import Path

import pytest

import portalspec
from portalspec import Members, User, Values
from portalspec.diagnostics import InputError
from portalspec.sync import State
from portalspec.sync.engine import Engine
from portalspec.sync.sources import read_membership

from .conftest import MINIMAL

TWO = MINIMAL.replace("""mapping_fields:
  - variable: user_id
    mapping_display_name: User ID Mapping
    display_name: User ID""", """mapping_fields:
  - variable: user_id
    mapping_display_name: User ID Mapping
    display_name: User ID
  - variable: email
    mapping_display_name: Email Mapping
    display_name: Email""")


def engine(definition: str) -> Engine:
    integration = portalspec.compile(portalspec.load(definition))
    names = [m.variable for m in integration.definition.mapping_fields]
    values = Values(fields={"bearer_token": "t"}, mappings={n: n for n in names}, cohort=portalspec.Cohort("1", "c"))
    return Engine(integration, values, State(":memory:"), None)


def one_by_one(blocks: list[Members]) -> list[User]:
    return [user for block in blocks for user in block.users()]


def add(columns: dict[str, list[object]], keys: list[str] | None) -> Members:
    return Members("add", columns, keys, [f"line {i}" for i in range(len(next(iter(columns.values()))))])


ONE_VALUE_CASES = {
    "own values": [add({"user_id": ["a", "b"]}, ["a", "b"]), add({"user_id": ["c", "a"]}, ["c", "a"])],
    "own, then other values": [add({"user_id": ["a", "b"]}, ["a", "b"]),
                               add({"user_id": ["x@c", "a@a"]}, ["c", "a"]), add({"user_id": ["d"]}, ["d"])],
    "repeated within a block": [add({"user_id": ["1", "2", "1"]}, ["k1", "k2", "k1"])],
    "repeated across blocks": [add({"user_id": ["v1"]}, ["k1"]), add({"user_id": ["v2", "v3"]}, ["k2", "k1"])],
    "no keys": [add({"user_id": ["a", 42]}, None)],
    "some keys empty": [add({"user_id": ["a", "b", 7]}, ["ka", "", ""])],
}
TWO_VALUE_CASES = {
    "two values": [add({"user_id": ["u1", "u2"], "email": ["a@x", "b@x"]}, ["u1", "u2"]),
                   add({"user_id": ["u1"], "email": ["new@x"]}, ["u1"])],
    "two values, no keys": [add({"user_id": ["u1", "u2"], "email": ["a@x", None]}, None)],
}


@pytest.mark.parametrize("definition, blocks", [(MINIMAL, b) for b in ONE_VALUE_CASES.values()]
                         + [(TWO, b) for b in TWO_VALUE_CASES.values()],
                         ids=[*ONE_VALUE_CASES, *TWO_VALUE_CASES])
def test_blocks_give_the_snapshot_their_users_give_one_by_one(definition, blocks):
    by_blocks = engine(definition)._snapshot_of_blocks(blocks)
    by_users = engine(definition).snapshot(one_by_one(blocks))
    assert list(by_blocks.items()) == list(by_users.items())


def test_users_who_are_their_own_value_are_kept_as_ids_alone():
    assert engine(MINIMAL)._snapshot_of_blocks(ONE_VALUE_CASES["own values"]).plain
    assert not engine(MINIMAL)._snapshot_of_blocks(ONE_VALUE_CASES["own, then other values"]).plain


def test_a_remove_block_is_refused_naming_its_first_user():
    blocks = [add({"user_id": ["a"]}, ["a"]), Members("remove", {"user_id": ["b"]}, ["b"], ["line 9"])]
    with pytest.raises(InputError, match="user line 9 is 'remove', but a sync reads the whole cohort"):
        engine(MINIMAL)._snapshot_of_blocks(blocks)


def test_a_cohort_file_is_read_in_blocks(tmp_path: Path):
    """What sync --cohort-file reads: the export CSV, by blocks, as its users one by one."""
    export = tmp_path / "cohort.csv"
    rows = [f'"{i}","u{i % 7}"' for i in range(20)] + ['"99",""']  # repeats; one without a user_id
    export.write_text('"amplitude_id","user_id"\n' + "\n".join(rows) + "\n", encoding="utf-8")
    e = engine(MINIMAL)
    e.values = Values(fields=e.values.fields, mappings={"user_id": "user_id"}, cohort=e.values.cohort)
    membership = read_membership(export, e.integration.definition, e.values)
    by_blocks = e.snapshot(membership)
    again = read_membership(export, e.integration.definition, e.values)
    assert list(by_blocks.items()) == list(e.snapshot(list(again.users())).items())
    assert list(by_blocks) == [f"u{i}" for i in range(7)] and by_blocks.plain


def test_a_remove_row_in_a_cohort_file_is_refused_naming_the_file_and_line(tmp_path: Path):
    path = tmp_path / "c.csv"
    path.write_text("operation,user_id\nadd,a\nremove,b\n", encoding="utf-8")
    e = engine(MINIMAL)
    with pytest.raises(InputError, match=r"c\.csv: user line 3 is 'remove', but a sync reads the whole cohort"):
        e.snapshot(read_membership(path, e.integration.definition, e.values))

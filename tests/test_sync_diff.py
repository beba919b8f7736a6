"""The membership difference (sync/diff.py) against its definition: a user enters when what the
destination holds differs from the JSON of its values now (or is absent), and leaves when held
and gone. Held members may be stored as their own one value (None) or spelt out as JSON; the
answer never depends on which."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from portalspec.sync.diff import Snapshot, changes, fingerprint, row_of
from portalspec.sync.state import State

IDS = st.text(alphabet=st.sampled_from('ab"é\\\x00 '), min_size=1, max_size=3)


def expected(current: Snapshot, held: dict[str, str | None]) -> tuple[list[str], list[str]]:
    """The definition, spelt out: None stands for the identity's own JSON string."""
    spelt = {key: json.dumps(key, ensure_ascii=False) if vals is None else vals for key, vals in held.items()}
    entering = [key for key in current if spelt.get(key) != fingerprint(current[key])]
    return entering, sorted(key for key in held if key not in current)


@settings(max_examples=300, deadline=None)
@given(st.lists(IDS, max_size=8, unique=True), st.booleans(), st.data())
def test_changes_follow_the_definition_whatever_the_held_spelling(ids, plain, data):
    if plain:
        current = Snapshot(ids=ids)
    else:  # each user's value: its own id, another string, or a number
        values = [data.draw(st.sampled_from([key, key + "x", 7])) for key in ids]
        current = Snapshot({key: (value,) for key, value in zip(ids, values)})
    held: dict[str, str | None] = {}
    for key in data.draw(st.lists(IDS, max_size=8, unique=True)) + data.draw(st.lists(st.sampled_from(ids or ["-"]))):
        held[key] = data.draw(st.sampled_from([None, json.dumps(key, ensure_ascii=False), '"other"', "7"]))
    diff = changes(current, held)
    assert (diff.entering, diff.leaving) == expected(current, held)


def test_a_member_held_as_its_own_value_is_removed_with_it():
    assert row_of("a@x", None, 1) == ("a@x",)
    assert row_of("u1", '"a@x"', 1) == ("a@x",)


def test_the_membership_holds_own_values_as_none_however_they_were_written(tmp_path):
    with State(tmp_path / "s.db") as state:
        record = state.sync_for("x", {}, "1")
        state.record_changes(record.id, ["a", "b"], ['"a"', '"b"'])  # spelt out, as a layout 3 row was
        state.record_delivered(record.id, added=[("c", '"c"'), ("d", '"other"')])
        assert state.membership(record.id) == {"a": None, "b": None, "c": None, "d": '"other"'}
        assert state.members(record.id) == {"a": '"a"', "b": '"b"', "c": '"c"', "d": '"other"'}

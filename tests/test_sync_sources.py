"""A sync's membership: a cohort file of any shape, read as member keys and as users."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from portalspec import InputError
from portalspec.sync.sources import read_membership

from .render_helpers import KITCHEN, TRAITS, compile_text, kitchen_values, traits_values

KITCHEN_DEF = compile_text(KITCHEN).definition
TRAITS_DEF = compile_text(TRAITS).definition


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def test_a_plain_id_list_is_read_through_the_registry(tmp_path):
    path = write(tmp_path, "ids.txt", "u1\n\nu2\n")
    users = list(read_membership(path, KITCHEN_DEF, kitchen_values()))
    assert [(u.key, u.ref, dict(u.values)) for u in users] == [("u1", "line 1", {"user_id": "u1"}),
                                                               ("u2", "line 3", {"user_id": "u2"})]


@pytest.mark.parametrize("header", ["id", "\ufeffid", "email"])
def test_a_plain_id_lists_header_line_is_not_taken_for_a_user(tmp_path, header):
    """A one-column file whose first line names the column (the property mapped to the
    variable, or `id`) would otherwise send that name to the destination as a user. (A first
    line `user_id` or `amplitude_id` makes the file a cohort export, read by its header.)"""
    path = write(tmp_path, "ids.csv", f"{header}\nu1\nu2\n")
    values = replace(kitchen_values(), mappings={"user_id": "email"})
    users = list(read_membership(path, KITCHEN_DEF, values))
    assert [(u.key, u.ref) for u in users] == [("u1", "line 2"), ("u2", "line 3")]


def test_only_the_first_line_can_be_a_header(tmp_path):
    path = write(tmp_path, "ids.txt", "u1\nuser_id\n")
    assert [u.key for u in read_membership(path, KITCHEN_DEF, kitchen_values())] == ["u1", "user_id"]


def test_an_export_gives_users_with_their_identity_and_mapped_values(tmp_path):
    path = write(tmp_path, "c.csv", '"amplitude_id","user_id","email"\n"1","u1","a@x"\n"2","","b@x"\n"3","u3",""\n')
    values = replace(kitchen_values(), mappings={"user_id": "email"})
    membership = read_membership(path, KITCHEN_DEF, values)
    assert [(u.key, dict(u.values)) for u in membership] == [("u1", {"user_id": "a@x"}), ("2", {"user_id": "b@x"})]
    assert membership.skipped_count == 1 and membership.skipped == ["amplitude_id 3 (no email)"]


def test_several_mapping_variables_keep_their_types_under_the_users_identity(tmp_path):
    path = write(tmp_path, "c.jsonl", '{"user_id": "u1", "score": 3}\n')
    (user,) = read_membership(path, TRAITS_DEF, traits_values())
    assert user.key == "u1" and list(user.values.values())[-1] == 3


def test_remove_rows_are_refused_by_both_readings(tmp_path):
    path = write(tmp_path, "c.csv", "operation,user_id\nadd,a\nremove,b\n")
    for read in (lambda m: list(m), lambda m: list(m.users())):
        with pytest.raises(InputError, match=r"c.csv: user line 3 is 'remove', but a sync reads the whole cohort"):
            read(read_membership(path, KITCHEN_DEF, kitchen_values()))


def test_a_csv_of_no_shape_is_not_taken_for_a_plain_id_list(tmp_path):
    path = write(tmp_path, "c.csv", "id,name\nu1,a\n")
    with pytest.raises(InputError, match=r"c.csv:1: unrecognised users file.*\n(.*\n)*  plain id list: the first "
                                         r"line \('id,name'\) has commas"):
        read_membership(path, KITCHEN_DEF, kitchen_values())


def test_a_plain_id_list_needs_one_mapping_variable(tmp_path):
    path = write(tmp_path, "ids.txt", "u1\n")
    with pytest.raises(InputError, match=r"plain id list: needs a definition with exactly one mapping variable "
                                         r"\(.* has 2\)"):
        read_membership(path, TRAITS_DEF, traits_values())

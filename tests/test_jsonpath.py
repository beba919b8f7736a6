"""JSONPaths: the list id in an answer, every match of a find_list filter, and the answer
serve builds so that a path finds exactly what it should."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portalspec.jsonpath import JSONPathError, document_for, find_list_id, find_values, regex_operands, selects
from portalspec.template import Kind, Template

PATH = "$.items[?(@.name == '[Amplitude] $amp_cohort_name')].key"


def test_find_values_finds_every_match_and_nothing_is_an_empty_list():
    document = {"items": [{"name": "a", "key": 1}, {"name": "b", "key": 2}, {"name": "a", "key": 3}]}
    assert find_values("$.items[?(@.name == 'a')].key", document) == [1, 3]
    assert find_values("$.items[?(@.name == 'z')].key", document) == []


def test_find_list_id_still_wants_exactly_one():
    with pytest.raises(JSONPathError, match="finds 2 values"):
        find_list_id("$.items[*].key", {"items": [{"key": 1}, {"key": 2}]})


def test_a_document_answers_each_entry_under_its_own_name():
    entries = [("$.items[?(@.name == 'a')].key", "k1"), ("$.items[?(@.name == 'b')].key", 7)]
    document = document_for(entries[0][0], entries)
    assert document == {"items": [{"name": "a", "key": "k1"}, {"name": "b", "key": 7}]}
    assert [find_values(path, document) for path, _ in entries] == [["k1"], [7]]
    assert find_values("$.items[?(@.name == 'c')].key", document) == []


def test_an_empty_answer_keeps_the_structure_and_finds_nothing():
    document = document_for("segments[?(@.name == 'x' && @.type == 'manual')].id", [])
    assert document == {"segments": []}


def test_conjunctions_nested_targets_and_indexes_are_answered():
    path = "$.data[0].lists[?(@.meta.name == 'A' && @.type == 'manual')].id"
    document = document_for(path, [(path, 3)])
    assert find_values(path, document) == [3]
    assert document == {"data": [{"lists": [{"id": 3, "meta": {"name": "A"}, "type": "manual"}]}]}


def test_a_path_without_a_filter_answers_the_first_entry_and_does_not_select():
    assert document_for("list.listId", [("list.listId", 5), ("list.listId", 6)]) == {"list": {"listId": 5}}
    assert not selects("list.listId") and selects(PATH.replace("$amp_cohort_name", "x"))


@pytest.mark.parametrize("path", ["$..id", "$.items[?(@.n != 'a')].id", "$.items[*].id", "$.a[1:3].id"])
def test_paths_that_cannot_be_answered_say_so(path):
    with pytest.raises(JSONPathError, match="answered"):
        document_for(path, [(path, 1)])


def test_regex_operands_are_listed():
    assert regex_operands("$.a[?(@.n =~ 'x.*' && @.m == 'y')].id") == ["x.*"]
    assert regex_operands(PATH.replace("$amp_cohort_name", "x")) == []


NAMES = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=300, deadline=None)
@given(name=NAMES, other=NAMES)
def test_hostile_names_never_change_the_path_and_find_exactly_their_list(name, other):
    """Quotes, backslashes, brackets, `)]`, `$` and newlines in a cohort name stay text of
    the quoted string: the path parses, compares with exactly that text, and finds its own
    list (and only it) in an answer that holds another list too."""
    template = Template.compile(PATH, Kind.JSONPATH, "find_list.list_id.path")
    mine = template.render({"amp_cohort_name": name})
    theirs = template.render({"amp_cohort_name": other})
    document = document_for(mine, [(theirs, "theirs"), (mine, "mine")] if name != other else [(mine, "mine")])
    assert document["items"][-1]["name"] == f"[Amplitude] {name}"  # the value read back is the name
    assert find_values(mine, document) == ["mine"]
    assert template.parts[0] == "$.items[?(@.name == '[Amplitude] "  # the structure is the template's
    assert selects(mine)

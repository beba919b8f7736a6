"""Users files read column-wise (Members blocks): the same users, skips and errors as reading
row by row — errors still name the line of a bad row, however deep in the file it is."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import portalspec.inputs as inputs
import portalspec.values as values_module
from portalspec import InputError, Members, read_users
from portalspec.inputs import SHAPES

from .render_helpers import KITCHEN, TRAITS, compile_text, kitchen_values, traits_values

KITCHEN_DEF = compile_text(KITCHEN).definition
TRAITS_DEF = compile_text(TRAITS).definition
DEEP = 23_456  # past the first block of 10,000


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def users(path: Path, definition=KITCHEN_DEF, values=None) -> list[tuple[str, dict, str, str]]:
    source = read_users(path, definition, values or kitchen_values(), shapes=SHAPES)
    return [(u.operation, dict(u.values), u.ref, u.key) for u in source]


def test_a_bad_operation_deep_in_a_test_csv_names_its_line(tmp_path: Path):
    rows = [f"add,u{i}@example.com\n" for i in range(2, DEEP)] + ["upsert,x\n", "add,y\n"]
    path = write(tmp_path, "u.csv", "operation,user_id\n" + "".join(rows))
    with pytest.raises(InputError, match=rf"u.csv:{DEEP}: operation must be 'add' or 'remove', not 'upsert'"):
        list(read_users(path, KITCHEN_DEF, kitchen_values()))


@pytest.mark.parametrize("bad, message", [('"1"\n', "expected 2 columns, found 1"),
                                          ('"1","a","b"\n', "expected 2 columns, found 3"),
                                          ('"1","a\n', "malformed CSV: the record starting on this line runs on")])
def test_a_bad_row_deep_in_an_export_names_its_line(tmp_path: Path, bad: str, message: str):
    rows = [f'"{i}","{i:x}-4a7c-9e1b"\n' for i in range(2, DEEP)] + [bad, '"9","z"\n']
    path = write(tmp_path, "e.csv", '"amplitude_id","user_id"\n' + "".join(rows))
    with pytest.raises(InputError, match=rf"e.csv:{DEEP}: {message}"):
        list(read_users(path, KITCHEN_DEF, kitchen_values()))


def test_a_value_that_cannot_be_rendered_names_its_user_deep_in_json_lines(tmp_path: Path):
    integration = compile_text(TRAITS)
    lines = [json.dumps({"user_id": f"u{i}", "score": i}) + "\n" for i in range(1, DEEP)]
    for text in ('{"user_id": "bad", "score": NaN}\n', '{"user_id": 0, "score": NaN}\n'):  # 0: no name but its line
        path = write(tmp_path, "u.jsonl", "".join(lines) + text)
        who = "user_id bad" if "bad" in text else f"line {DEEP}"
        with pytest.raises(InputError, match=rf"user {who}: \$score in .*cannot be written as JSON"):
            list(integration.render(traits_values(), read_users(path, TRAITS_DEF, traits_values())))


def test_blocks_read_what_the_csv_module_reads_across_block_edges(tmp_path: Path, monkeypatch):
    """Blank lines, quotes inside fields, records over several lines and carriage returns, in
    blocks of 3: each user as csv.reader sees it, named by the line its record starts on."""
    monkeypatch.setattr(inputs, "BLOCK", 3)
    monkeypatch.setattr(values_module, "BLOCK", 3)
    ids = ["a", "x,y", 'q"t', "é", "multi\nline", "", "c", "cr\r\nlf", "d", "e", "f", "g"]
    text = "operation,user_id\n" + "".join(
        ("\n" if i == 4 else "") + ("remove" if i % 5 == 3 else "add") + "," +
        ('"' + u.replace('"', '""') + '"' if any(c in u for c in ',"\n\r') or i % 2 else u) + "\n"
        for i, u in enumerate(ids))
    path = write(tmp_path, "u.csv", text)
    expected, skipped = [], []
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader)
    start = reader.line_num + 1
    for row in reader:
        if row and row[1]:
            expected.append((row[0], {"user_id": row[1]}, f"line {start}", row[1]))
        elif row:
            skipped.append(f"line {start} (no user_id)")
        start = reader.line_num + 1
    source = read_users(path, KITCHEN_DEF, kitchen_values())
    assert [(u.operation, dict(u.values), u.ref, u.key) for u in source] == expected
    assert source.skipped == skipped


def test_the_blocks_are_members_of_one_operation_with_keys_and_lazy_refs(tmp_path: Path):
    path = write(tmp_path, "u.csv", "operation,user_id\nadd,a\nadd,b\nremove,c\nadd,d\n")
    blocks = list(read_users(path, KITCHEN_DEF, kitchen_values()).blocks(10))
    assert [(b.operation, list(b.columns["user_id"]), list(b.keys or ()), list(b.refs or ())) for b in blocks] == [
        ("add", ["a", "b"], ["a", "b"], ["line 2", "line 3"]), ("remove", ["c"], ["c"], ["line 4"]),
        ("add", ["d"], ["d"], ["line 5"])]
    assert all(isinstance(b, Members) for b in blocks)


def test_members_of_two_columns_still_take_two_arguments():
    members = Members("add", {"user_id": ["a", "b"]})
    assert members.size == 2 and members.keys is None and members.refs is None
    with pytest.raises(InputError, match="differ in length"):
        Members("add", {"user_id": ["a"]}, keys=["a", "b"])


def test_json_lines_that_the_fast_path_cannot_take_are_read_line_by_line(tmp_path: Path):
    text = ('{"user_id": "a"}\n' '  {"user_id": "b"}\n' '\n' '{"user_id": 7}\n' '{"user_id": "c", "operation": "REMOVE"}\n'
            '{"user_id": "d", "operation": ["x"]}\n')
    path = write(tmp_path, "u.jsonl", text)
    with pytest.raises(InputError, match=r"u.jsonl:6: operation must be 'add' or 'remove'"):
        users(path)
    path = write(tmp_path, "u.jsonl", text.rsplit("{", 1)[0])
    assert users(path) == [("add", {"user_id": "a"}, "user_id a", "a"), ("add", {"user_id": "b"}, "user_id b", "b"),
                           ("add", {"user_id": 7}, "user_id 7", "7"), ("remove", {"user_id": "c"}, "user_id c", "c")]


def test_an_export_without_its_last_newline_is_refused_even_when_its_last_row_is_short(tmp_path: Path):
    path = write(tmp_path, "e.csv", '"amplitude_id","user_id"\n"1","a"\n"2"')
    with pytest.raises(InputError, match=r"e.csv:3: the file ends in the middle of a line"):
        users(path)


_FIELD = st.text(alphabet='ab,"é\n\r ', max_size=4)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.lists(_FIELD, min_size=1, max_size=3), min_size=1, max_size=6),
       quoting=st.sampled_from([csv.QUOTE_ALL, csv.QUOTE_MINIMAL]), spoil=st.integers(0, 40))
@example(rows=[["a", "b", "c"], ["d"]], quoting=csv.QUOTE_ALL, spoil=99)  # the right count of fields, wrongly placed
@example(rows=[["a", "b,c"], ["d", ""]], quoting=csv.QUOTE_ALL, spoil=99)
def test_a_block_taken_column_wise_is_what_the_csv_module_reads(rows, quoting, spoil):
    """The column-wise fast path either declines a block or reads it as csv.reader does: fields
    holding commas, quotes, newlines or carriage returns, rows of other widths, mixed quoting, and a character
    dropped anywhere (``spoil``) included."""
    out = io.StringIO(newline="")
    csv.writer(out, quoting=quoting, lineterminator="\n").writerows(rows)
    text = out.getvalue()
    if spoil < len(text) - 1:
        text = text[:spoil] + text[spoil + 1:]
    texts = io.StringIO(text, newline="").readlines()
    columns = inputs._plain_columns(texts, 2)
    if columns is None:
        return
    read = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    assert [list(row) for row in zip(*columns)] == read


def test_an_operation_spelled_with_escapes_in_json_lines_is_still_read(tmp_path: Path):
    """The column-wise path skips looking for operations in a block whose text never names one;
    a key written with \\u escapes names it too."""
    text = '{"user_id": "a"}\n{"user_id": "b", "\\u006fperation": "remove"}\n'
    path = write(tmp_path, "u.jsonl", text)
    assert [(op, key) for op, _, _, key in users(path)] == [("add", "a"), ("remove", "b")]

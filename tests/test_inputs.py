"""Reading inputs from files: the values file, and users files of every shape (the registry of shapes)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from portalspec import Cohort, InputError, User, Values, load_values, read_users
from portalspec.amplitude import read_export
from portalspec.inputs import RENDER_SHAPES, SHAPES, NotThisShape, Recognised, Shape
from portalspec.values import UserSource

from .render_helpers import INTEGRATIONS, KITCHEN, TRAITS, body, compile_text, context, kitchen_values, traits_values

KITCHEN_DEF = compile_text(KITCHEN).definition
TRAITS_DEF = compile_text(TRAITS).definition


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# --- values file ---------------------------------------------------------------------------

def test_load_values_reads_fields_mappings_cohort_and_list_id(tmp_path):
    path = write(tmp_path, "v.yaml", 'fields: {bearer_token: "t", label: x, amount: 5, flag: true}\n'
                                     "mappings: {user_id: user_id}\n"
                                     'cohort: {id: 1234, name: "Beta users", url: "https://amp/c/1234"}\n'
                                     "list_id: 2568\n")
    values = load_values(path)
    assert values.fields == {"bearer_token": "t", "label": "x", "amount": 5, "flag": True}
    assert values.mappings == {"user_id": "user_id"}
    assert values.cohort == Cohort("1234", "Beta users", "https://amp/c/1234")  # the id as text
    assert values.list_id == 2568


def test_load_values_reports_every_problem_with_its_location(tmp_path):
    path = write(tmp_path, "v.yaml", "fields: {t: [1]}\nmapings: {}\ncohort: {id: 1}\nlist_id: true\n")
    with pytest.raises(InputError) as info:
        load_values(path)
    message = str(info.value)
    assert f"{path}:1:" in message and "field 't' must be a single value" in message
    assert f"{path}:2:" in message and "unknown key 'mapings'" in message and "did you mean 'mappings'?" in message
    assert f"{path}:3:" in message and "'cohort' must be a mapping with at least id and name" in message
    assert f"{path}:4:" in message and "'list_id' must be a string or a number" in message


def test_load_values_of_a_missing_or_broken_file_names_it(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_values(tmp_path / "nope.yaml")
    path = write(tmp_path, "bad.yaml", "fields: [\n")
    with pytest.raises(InputError, match=f"{path}:2:1: .*YAML syntax error"):
        load_values(path)


# --- users: the portal's test CSV ----------------------------------------------------------

def test_test_csv_reads_operations_values_and_the_cohort(tmp_path):
    path = write(tmp_path, "u.csv", "operation,user_id,amp_cohort_name,amp_cohort_id,amp_cohort_url\n"
                                    'add,u1,"Beta, users",9,https://c\nREMOVE,"u""2","Beta, users",9,https://c\n'
                                    " add ,é,\"Beta, users\",9,https://c\n")
    source = read_users(path, KITCHEN_DEF, kitchen_values())
    assert list(source) == [User("add", {"user_id": "u1"}, "line 2"), User("remove", {"user_id": 'u"2'}, "line 3"),
                            User("add", {"user_id": "é"}, "line 4")]
    assert source.cohort == Cohort("9", "Beta, users", "https://c")
    assert source.skipped_count == 0


def test_test_csv_cohort_columns_must_agree_on_every_row(tmp_path):
    path = write(tmp_path, "u.csv", "operation,user_id,amp_cohort_id,amp_cohort_name\nadd,a,1,X\nadd,b,2,X\n")
    with pytest.raises(InputError, match=f"{path}:3: amp_cohort_id is '2' but earlier rows say '1'"):
        read_users(path, KITCHEN_DEF, kitchen_values())


def test_test_csv_fills_the_cohort_when_the_values_file_has_none(tmp_path):
    path = write(tmp_path, "u.csv", "operation,user_id,amp_cohort_id,amp_cohort_name\nadd,a,77,From CSV\n")
    integration = compile_text(KITCHEN)
    values = Values({"bearer_token": "t", "label": "l"}, {"user_id": "user_id"})
    create = next(integration.render(values, read_users(path, integration.definition, values), context=context()))
    assert body(create)["name"] == "From CSV" and body(create)["id"] == "77"


def test_test_csv_cohort_that_contradicts_the_values_file_is_an_error(tmp_path):
    path = write(tmp_path, "u.csv", "operation,user_id,amp_cohort_id\nadd,a,77\n")
    integration = compile_text(KITCHEN)
    values = kitchen_values()  # cohort id 42
    with pytest.raises(InputError, match="the cohort id is '42' in the values file but '77' in the users file"):
        list(integration.render(values, read_users(path, integration.definition, values)))


def test_no_cohort_anywhere_is_an_error():
    integration = compile_text(KITCHEN)
    with pytest.raises(InputError, match="no cohort"):
        list(integration.render(Values({"bearer_token": "t", "label": "l"}, {"user_id": "user_id"}), []))


@pytest.mark.parametrize("content, message", [
    ("operation,user_id,colour\nadd,a,red\n", r":1: unknown column 'colour'"),
    ("operation,user_ids\nadd,a\n", r":1: unknown column 'user_ids' \(did you mean 'user_id'\?\)"),
    ("operation\nadd\n", r":1: missing column\(s\) for mapping variables: user_id"),
    ("operation,user_id\nadd,a\nupsert,b\n", r":3: operation must be 'add' or 'remove', not 'upsert'"),
    ("operation,user_id\nadd,a,extra\n", r":2: expected 2 columns, found 3"),
    ('operation,user_id\nadd,a\nadd,"unterminated\n', r":3: malformed CSV"),
])
def test_test_csv_errors_name_file_and_line(tmp_path, content, message):
    path = write(tmp_path, "u.csv", content)
    with pytest.raises(InputError, match=str(path) + message):
        list(read_users(path, KITCHEN_DEF, kitchen_values()))


def test_test_csv_user_without_a_value_is_skipped_and_reported(tmp_path):
    path = write(tmp_path, "u.csv", "operation,user_id\nadd,a\nadd,\nremove,b\nremove,\n")
    source = read_users(path, KITCHEN_DEF, kitchen_values())
    assert [u.values["user_id"] for u in source] == ["a", "b"]
    assert source.skipped_count == 2
    assert source.skipped == ["line 3 (no user_id)", "line 5 (no user_id)"]


def test_a_byte_order_mark_is_not_part_of_the_first_column(tmp_path):
    path = write(tmp_path, "u.csv", "\ufeffoperation,user_id\nadd,a\n".encode("utf-8"))
    assert [u.values for u in read_users(path, KITCHEN_DEF, kitchen_values())] == [{"user_id": "a"}]
    path = write(tmp_path, "e.csv", '\ufeff"amplitude_id","user_id"\n"1","a"\n'.encode("utf-8"))
    assert [u.ref for u in read_users(path, KITCHEN_DEF, kitchen_values())] == ["amplitude_id 1"]
    path = write(tmp_path, "u.jsonl", '\ufeff{"user_id": "a"}\n'.encode("utf-8"))
    assert [u.values for u in read_users(path, KITCHEN_DEF, kitchen_values())] == [{"user_id": "a"}]


def test_every_example_users_file_is_a_test_csv_matching_its_values():
    for folder in sorted(INTEGRATIONS.iterdir()):
        integration = compile_text((folder / "integration.yaml").read_text(encoding="utf-8"))
        values = load_values(folder / "values.yaml")
        source = read_users(folder / "users.csv", integration.definition, values)
        users = list(source)
        assert users and {u.operation for u in users} == {"add", "remove"}, folder.name
        assert source.cohort is not None and source.cohort.id == values.cohort.id, folder.name


# --- users: Amplitude cohort export CSV ----------------------------------------------------

EXPORT = ('"amplitude_id","user_id","email","country"\n'
          '"101","u1","a@x.example","FR"\n'
          '"102","","b@x.example","DE"\n'
          '"103","u,3","","US"\n'
          '"104","u""4","d@x.example",""\n')


def test_export_csv_maps_properties_and_everyone_enters(tmp_path):
    path = write(tmp_path, "export.csv", EXPORT)
    values = Values({"api_key": "k"}, {"user_id": "user_id", "score": "country"}, Cohort("7", "T"))
    source = read_users(path, TRAITS_DEF, values)
    users = list(source)
    assert [(u.operation, dict(u.values), u.ref) for u in users] == [
        ("add", {"user_id": "u1", "score": "FR"}, "amplitude_id 101"),
        ("add", {"user_id": "u,3", "score": "US"}, "amplitude_id 103")]
    assert source.skipped_count == 2
    assert source.skipped == ["amplitude_id 102 (no user_id)", "amplitude_id 104 (no country)"]


def test_export_csv_mapping_to_another_column(tmp_path):
    path = write(tmp_path, "export.csv", EXPORT)
    values = kitchen_values()
    values = Values(values.fields, {"user_id": "email"}, values.cohort)
    source = read_users(path, KITCHEN_DEF, values)
    assert [u.values["user_id"] for u in source] == ["a@x.example", "b@x.example", "d@x.example"]
    assert source.skipped == ["amplitude_id 103 (no email)"]


def test_export_csv_gzip(tmp_path):
    path = write(tmp_path, "export.csv.gz", gzip.compress(EXPORT.encode("utf-8")))
    assert [u.values["user_id"] for u in read_users(path, KITCHEN_DEF, kitchen_values())] == ["u1", "u,3", 'u"4']


def test_export_csv_without_the_mapped_column_is_an_error(tmp_path):
    path = write(tmp_path, "export.csv", EXPORT)
    values = Values({"api_key": "k"}, {"user_id": "user_id", "score": "plan"}, Cohort("7", "T"))
    with pytest.raises(InputError, match=r":1: mapping score -> 'plan', but the export has no 'plan' column"):
        read_users(path, TRAITS_DEF, values)


def test_export_csv_row_of_the_wrong_length_names_its_line(tmp_path):
    path = write(tmp_path, "export.csv", '"amplitude_id","user_id"\n"1","a"\n"2"\n')
    with pytest.raises(InputError, match=r"export.csv:3: expected 2 columns, found 1"):
        list(read_users(path, KITCHEN_DEF, kitchen_values()))


def test_skipped_counts_past_the_first_five_ids(tmp_path):
    rows = "".join(f'"{i}",""\n' for i in range(8))
    path = write(tmp_path, "export.csv", '"amplitude_id","user_id"\n' + rows + '"9","ok"\n')
    source = read_users(path, KITCHEN_DEF, kitchen_values())
    assert [u.values["user_id"] for u in source] == ["ok"]
    assert source.skipped_count == 8
    assert source.skipped == [f"amplitude_id {i} (no user_id)" for i in range(5)]


def test_users_are_read_lazily_and_once(tmp_path):
    path = write(tmp_path, "export.csv", EXPORT)
    source = read_users(path, KITCHEN_DEF, kitchen_values())
    assert source.skipped_count == 0  # nothing read yet
    list(source)
    assert source.skipped_count == 1
    with pytest.raises(InputError, match="already read once"):
        list(source)


# --- users: JSON lines -----------------------------------------------------------------------

def test_json_lines_operations_properties_and_skips(tmp_path):
    lines = [
        {"operation": "add", "user_id": "u1", "user_properties": {"score": 3}},
        {"user_id": "u2", "user_properties": {"score": "x"}},  # operation defaults to add
        {"operation": "REMOVE", "user_id": "u3", "user_properties": {"score": [1, 2]}},
        {"operation": "add", "user_id": "u4", "user_properties": {}},  # no score: skipped
        {"operation": "add", "amplitude_id": 9, "user_properties": {"score": 1}},  # no user_id: skipped
        {"operation": "add", "user_id": 55, "score": 0},  # top-level property; numbers kept
    ]
    path = write(tmp_path, "u.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\n")
    source = read_users(path, TRAITS_DEF, traits_values())
    users = list(source)
    assert [(u.operation, dict(u.values)) for u in users] == [
        ("add", {"user_id": "u1", "score": 3}), ("add", {"user_id": "u2", "score": "x"}),
        ("remove", {"user_id": "u3", "score": [1, 2]}), ("add", {"user_id": 55, "score": 0})]
    assert users[0].ref == "user_id u1"
    assert source.skipped_count == 2
    assert source.skipped == ["user_id u4 (no score)", "amplitude_id 9 (no user_id)"]


def test_json_lines_gzip(tmp_path):
    path = write(tmp_path, "u.jsonl.gz", gzip.compress(b'{"operation": "remove", "user_id": "z"}\n'))
    assert [(u.operation, u.values["user_id"]) for u in read_users(path, KITCHEN_DEF, kitchen_values())] == [
        ("remove", "z")]


@pytest.mark.parametrize("content, message", [
    ('{"user_id": "a"}\n{"user_id": \n', r"u.jsonl:2:\d+: invalid JSON"),
    ('{"user_id": "a"}\n["a"]\n', r"u.jsonl:2: each line must be a JSON object"),
    ('{"user_id": "a", "operation": "upsert"}\n', r"u.jsonl:1: operation must be 'add' or 'remove'"),
])
def test_json_lines_errors_name_the_line(tmp_path, content, message):
    path = write(tmp_path, "u.jsonl", content)
    with pytest.raises(InputError, match=message):
        list(read_users(path, KITCHEN_DEF, kitchen_values()))


# --- users: shapes ---------------------------------------------------------------------------

def test_unknown_users_format_and_missing_file(tmp_path):
    path = write(tmp_path, "u.txt", "id\nu1\n")
    with pytest.raises(InputError, match=r"u.txt:1: unrecognised users file"):
        read_users(path, KITCHEN_DEF, kitchen_values())
    with pytest.raises(InputError, match="no such users file"):
        read_users(tmp_path / "nope.csv", KITCHEN_DEF, kitchen_values())
    path = write(tmp_path, "latin1.csv", "operation,user_id\nadd,caf\xe9\n".encode("latin-1"))
    with pytest.raises(InputError, match="latin1.csv"):
        list(read_users(path, KITCHEN_DEF, kitchen_values()))


def _truncated_gzip(text: str) -> bytes:
    data = gzip.compress(text.encode("utf-8"), mtime=0)
    return data[: len(data) // 2]


@pytest.mark.parametrize("name, text", [
    ("export.csv.gz", '"amplitude_id","user_id"\n' + "".join(f'"{i}","u{i}"\n' for i in range(20_000))),
    ("test.csv.gz", "operation,user_id\n" + "".join(f"add,u{i}\n" for i in range(20_000))),
    ("users.jsonl.gz", "".join(f'{{"user_id": "u{i}"}}\n' for i in range(20_000))),
])
def test_a_truncated_gzip_file_is_an_input_error(tmp_path, name, text):
    path = write(tmp_path, name, _truncated_gzip(text))
    with pytest.raises(InputError, match=rf"{name}:\d+: cannot read users: Compressed file ended"):
        list(read_users(path, KITCHEN_DEF, kitchen_values()))


def test_invalid_utf8_deep_in_json_lines_names_the_line(tmp_path):
    lines = "".join(f'{{"user_id": "u{i}"}}\n' for i in range(5_000)).encode() + b'{"user_id": "caf\xe9"}\n'
    path = write(tmp_path, "u.jsonl", lines)
    with pytest.raises(InputError, match=r"u.jsonl:\d+: not valid UTF-8"):
        list(read_users(path, KITCHEN_DEF, kitchen_values()))


# --- the registry of shapes ------------------------------------------------------------------

SAMPLES = {  # one file of each shape, for KITCHEN_DEF (one mapping variable: user_id)
    "test CSV": "operation,user_id\nadd,u1\n",
    "cohort export CSV": '"amplitude_id","user_id"\n"1","u1"\n',
    "JSON lines": '{"user_id": "u1"}\n',
    "plain id list": "u1\n",
}


def first_line(text: str) -> str:
    return text.splitlines(keepends=True)[0]


def test_the_registry_has_one_entry_per_shape_in_order():
    assert [s.name for s in SHAPES] == list(SAMPLES)
    assert [s.name for s in RENDER_SHAPES] == ["test CSV", "cohort export CSV", "JSON lines"]


@pytest.mark.parametrize("shape", list(SAMPLES))
def test_each_shape_recognises_its_own_file_and_only_it(tmp_path, shape):
    first = first_line(SAMPLES[shape])
    verdicts = {s.name: s.sniff(first, KITCHEN_DEF) for s in SHAPES}
    assert [name for name, v in verdicts.items() if isinstance(v, Recognised)] == [shape]
    assert all(isinstance(v, NotThisShape) and v.reason for name, v in verdicts.items() if name != shape)
    path = write(tmp_path, "users", SAMPLES[shape])
    assert [u.values for u in read_users(path, KITCHEN_DEF, kitchen_values(), shapes=SHAPES)] == [{"user_id": "u1"}]


@pytest.mark.parametrize("first", ["", "\n", '"unterminated\n', "\x00\x01", "{", "operation", ",,,", "é\n"])
def test_a_sniff_answers_with_a_verdict_and_never_raises(first):
    for shape in SHAPES:
        for definition in (KITCHEN_DEF, TRAITS_DEF):
            assert isinstance(shape.sniff(first, definition), (Recognised, NotThisShape)), shape.name


def test_not_this_shape_carries_the_reason():
    plain = next(s for s in SHAPES if s.name == "plain id list")
    verdict = plain.sniff("u1\n", TRAITS_DEF)  # two mapping variables
    assert verdict == NotThisShape(f"needs a definition with exactly one mapping variable ({TRAITS_DEF.name} has 2); "
                                   "use a cohort export CSV")
    export = next(s for s in SHAPES if s.name == "cohort export CSV")
    assert export.sniff("operation,user_id\n", KITCHEN_DEF) == NotThisShape(
        "the first column is 'operation', as in a test CSV")


def test_a_file_of_no_shape_names_every_shape_and_why(tmp_path):
    path = write(tmp_path, "u.csv", "id,name\nu1,a\n")
    with pytest.raises(InputError) as info:
        read_users(path, KITCHEN_DEF, kitchen_values(), shapes=SHAPES)
    assert str(info.value).splitlines() == [
        f"{path}:1: unrecognised users file: expected a test CSV (operation,…), a cohort export CSV "
        "(amplitude_id,user_id,…), JSON lines or a plain id list (one id a line)",
        "  test CSV: the first column is 'id', not 'operation'",
        "  cohort export CSV: the header has neither amplitude_id nor user_id",
        "  JSON lines: the first line is not a JSON object ({…})",
        "  plain id list: the first line ('id,name') has commas, quotes or tabs: a CSV, not one id per line"]


def test_render_refuses_a_plain_id_list_and_says_a_sync_reads_it(tmp_path):
    path = write(tmp_path, "ids.txt", "u1\nu2\n")
    with pytest.raises(InputError) as info:
        read_users(path, KITCHEN_DEF, kitchen_values())
    assert str(info.value).splitlines()[-1] == (
        "  plain id list: it looks like one, but only a sync reads it (as the cohort's members)")


def test_a_shape_is_one_entry(tmp_path):
    def sniff(first: str, definition: Any) -> Recognised | NotThisShape:
        return Recognised() if first.startswith("#ids") else NotThisShape("no #ids line")

    def read(name: str, definition: Any, values: Values) -> UserSource:
        lines = Path(name).read_text(encoding="utf-8").split()[1:]
        return UserSource(name, [User("add", {"user_id": i}, f"id {i}", i) for i in lines])

    hashed = Shape("hashed ids", "a hashed id list (#ids …)", sniff, read)  # first: a plain list would take it
    path = write(tmp_path, "u.ids", "#ids\nx y\n")
    assert [u.key for u in read_users(path, KITCHEN_DEF, kitchen_values(), shapes=(hashed, *SHAPES))] == ["x", "y"]
    with pytest.raises(InputError, match="hashed ids: no #ids line"):
        read_users(write(tmp_path, "v.ids", "x\n"), TRAITS_DEF, traits_values(), shapes=(hashed,))


# --- identity: User.key ----------------------------------------------------------------------

def test_the_key_of_an_export_row_is_its_user_id_else_its_amplitude_id(tmp_path):
    path = write(tmp_path, "export.csv", EXPORT)
    values = kitchen_values()
    users = list(read_users(path, KITCHEN_DEF, Values(values.fields, {"user_id": "email"}, values.cohort)))
    assert [(u.values["user_id"], u.key) for u in users] == [
        ("a@x.example", "u1"), ("b@x.example", "102"), ("d@x.example", 'u"4')]  # never the mapped email


def test_the_key_of_a_json_line_is_its_user_id_as_text_and_values_keep_their_type(tmp_path):
    lines = [{"user_id": 42, "user_properties": {"score": True}},
             {"amplitude_id": 7, "score": 1.5},
             {"user_id": "u3", "amplitude_id": 8, "score": {"tier": [1, None]}}]
    path = write(tmp_path, "u.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")
    values = Values({"api_key": "k"}, {"user_id": "user_id", "score": "score"}, Cohort("7", "T"))
    users = list(read_users(path, TRAITS_DEF, values))
    assert [u.key for u in users] == ["42", "u3"]  # the second has no user_id value to map: skipped
    assert users[0].values == {"user_id": 42, "score": True}
    assert type(users[0].values["user_id"]) is int and type(users[0].values["score"]) is bool
    assert users[1].values["score"] == {"tier": [1, None]}
    values = Values({"api_key": "k"}, {"user_id": "score", "score": "score"}, Cohort("7", "T"))
    users = list(read_users(path, TRAITS_DEF, values))
    assert [(u.key, u.values["user_id"]) for u in users][1] == ("7", 1.5)  # no user_id: the amplitude_id


def test_the_key_of_a_plain_id_and_of_a_test_csv_row_is_its_id(tmp_path):
    path = write(tmp_path, "ids.txt", "u1\n\n  u 2  \n")
    users = list(read_users(path, KITCHEN_DEF, kitchen_values(), shapes=SHAPES))
    assert [(u.operation, u.values, u.ref, u.key) for u in users] == [
        ("add", {"user_id": "u1"}, "line 1", "u1"), ("add", {"user_id": "u 2"}, "line 3", "u 2")]
    path = write(tmp_path, "u.csv", "operation,user_id,score\nadd,a,1\nremove,b,2\n")
    users = list(read_users(path, TRAITS_DEF, traits_values()))
    assert [(u.key, dict(u.values)) for u in users] == [("a", {"user_id": "a", "score": "1"}),
                                                        ("b", {"user_id": "b", "score": "2"})]


# --- one export-CSV reader -------------------------------------------------------------------

def test_render_and_amplitude_read_an_export_alike(tmp_path):
    path = write(tmp_path, "export.csv", '"amplitude_id","user_id","email"\n\n"1","a,b","x@y"\n"2","","z@y"\n')
    values = kitchen_values()
    users = list(read_users(path, KITCHEN_DEF, Values(values.fields, {"user_id": "email"}, values.cohort)))
    rows = list(read_export(path))
    assert [(u.key, u.values["user_id"]) for u in users] == [
        (r.user_id or r.amplitude_id, r.properties["email"]) for r in rows] == [("a,b", "x@y"), ("2", "z@y")]
    assert [r.line for r in rows] == [3, 4]


@pytest.mark.parametrize("text", [
    '"amplitude_id","user_id"\n"1","u1"\n"2","u2\n',  # unterminated quote
    '"amplitude_id","user_id"\n"1","u"1"\n',  # text after a closing quote
    '"amplitude_id","user_id","user_id"\n"1","u1","u1"\n',  # a repeated column
])
def test_render_and_amplitude_report_a_malformed_export_alike(tmp_path, text):
    path = write(tmp_path, "export.csv", text)
    with pytest.raises(InputError) as rendered:
        list(read_users(path, KITCHEN_DEF, kitchen_values()))
    with pytest.raises(InputError) as exported:
        list(read_export(path))
    assert str(rendered.value) == str(exported.value)


def test_a_user_lacking_an_optional_identifier_is_read_and_one_lacking_all_is_skipped(tmp_path):
    """Optional identifiers (required: false): a user is still read without one; a user
    without any identifier, or without a required one, is skipped and counted."""
    import portalspec
    from tests.conftest import MINIMAL, edit

    text = edit(MINIMAL, "mapping_fields:\n  - variable: user_id\n",
                "mapping_fields:\n  - variable: email\n    mapping_display_name: Email\n    display_name: Email\n"
                "    required: false\n  - variable: user_id\n")
    text = edit(text, "    display_name: User ID\n", "    display_name: User ID\n    required: false\n")
    text = text.replace("""item_template: '"$user_id"'""", """item_template: '{"email": "$email", "id": "$user_id"}'""")
    definition = portalspec.load(text)
    values = portalspec.Values({"bearer_token": "t"}, {"email": "email", "user_id": "user_id"},
                               portalspec.Cohort("1", "c"))
    shapes = {
        "users.csv": "operation,email,user_id\nadd,a@x,\nadd,,u2\nadd,,\n",
        "export.csv": '"amplitude_id","user_id","email"\n"1","","a@x"\n"2","u2",""\n"3","",""\n',
        "users.jsonl": '{"email": "a@x"}\n{"user_id": "u2"}\n{"user_id": ""}\n',
    }
    for name, content in shapes.items():
        path = tmp_path / name
        path.write_text(content)
        source = portalspec.read_users(path, definition, values)
        rows = [dict(u.values) for u in source]
        assert [{k: v for k, v in r.items() if v not in (None, "")} for r in rows] == \
            [{"email": "a@x"}, {"user_id": "u2"}], name
        assert source.skipped_count == 1, name

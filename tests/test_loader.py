"""Loading: YAML text or file → data plus a source map; file-level problems as diagnostics."""

from __future__ import annotations

import os
import time

import pytest

from portalspec.loader import MAX_FILE_BYTES, parse_document, read_document

from .conftest import MINIMAL, at, codes, only, pos


def load(text: str):
    return parse_document(text, "f.yaml")


# --- positions --------------------------------------------------------------------------

def test_every_value_and_key_has_a_position():
    doc = load(MINIMAL)
    assert doc.ok and doc.diagnostics == ()
    src = doc.source
    assert src.position(("endpoints", "add_users", "url")) == at(MINIMAL, "https://api.acme.example/lists/$list_id/add")
    assert src.position(("endpoints", "add_users", "url"), key=True) == at(MINIMAL, "url:", nth=1)
    assert src.position(("custom_fields", 0, "options", 1, "value")) == at(MINIMAL, "eu}")
    assert src.position(("custom_fields", 0)) == at(MINIMAL, "variable: region")
    assert src.position(("name",), key=True) == (2, 1)
    assert src.position(()) == (1, 1)
    assert src.file == "f.yaml"


def test_offset_inside_a_literal_block_scalar_is_the_line_inside_the_block():
    text = "a:\n  b: |\n    first line\n    second $here\n"
    doc = load(text)
    value = doc.data["a"]["b"]
    assert doc.source.position(("a", "b"), value.index("$here")) == at(text, "$here")
    assert doc.source.position(("a", "b"), 0) == at(text, "first")


def test_offset_inside_a_plain_scalar():
    text = "url: https://x.example/$y\n"
    assert load(text).source.position(("url",), len("https://x.example/")) == at(text, "$y")


def test_offset_inside_quoted_scalars_accounts_for_escapes():
    text = "a: '\"''$x''\"'\nb: \"\\\"\\u00e9$y\\\"\"\n"
    doc = load(text)
    assert doc.data == {"a": "\"'$x'\"", "b": "\"é$y\""}
    assert doc.source.position(("a",), doc.data["a"].index("$x")) == at(text, "$x")
    assert doc.source.position(("b",), doc.data["b"].index("$y")) == at(text, "$y")


def test_offset_in_a_folded_or_multi_line_scalar_falls_back_to_its_start():
    text = "a: >\n  one\n  two $x\nb: \"one\n  two $y\"\n"
    doc = load(text)
    assert doc.source.position(("a",), 8) == at(text, ">")
    assert doc.source.position(("b",), 8) == at(text, '"one')


def test_a_missing_path_falls_back_to_its_nearest_ancestor():
    doc = load(MINIMAL)
    assert doc.source.position(("endpoints", "add_users", "nope", 3)) == at(MINIMAL, "method: POST", nth=1)
    assert doc.source.position(("endpoints", "nope"), key=True) == at(MINIMAL, "create_list:")


def test_a_diagnostic_is_located_with_its_source_line():
    from portalspec.diagnostics import Diagnostic

    doc = load(MINIMAL)
    d = doc.source.locate(Diagnostic("PS999", "m", path=("type",)))
    assert (d.file, d.line, d.column, d.source_line) == ("f.yaml", 4, 7, "type: list")


# --- values -----------------------------------------------------------------------------

def test_scalars_keep_json_types_and_other_tags_stay_text():
    text = "yes: on\nn: 0x1A\nf: 1.5\nz: null\nt: 2001-12-14\nb: !!binary aGk=\ns: '1'\nc: !custom x\n"
    assert load(text).data == {"yes": True, "n": 26, "f": 1.5, "z": None, "t": "2001-12-14",
                               "b": "aGk=", "s": "1", "c": "x"}


def test_an_integer_too_long_to_convert_stays_text():
    digits = "9" * 5000
    assert load(f"n: {digits}\n").data == {"n": digits}


def test_merge_keys_are_expanded_and_explicit_keys_win():
    doc = load("base: &b {x: 1, y: 2}\nthing:\n  <<: *b\n  y: 3\n")
    assert doc.data["thing"] == {"x": 1, "y": 3}
    assert doc.diagnostics == ()


def test_a_byte_order_mark_is_ignored():
    assert load("\ufeffa: 1\n").data == {"a": 1}


def test_crlf_line_endings_keep_positions():
    text = "a: 1\r\nb: |\r\n  x $y\r\n"
    doc = load(text)
    assert doc.data == {"a": 1, "b": "x $y\n"}
    assert doc.source.position(("b",), 2) == (3, 5)


# --- problems with the file -------------------------------------------------------------

def test_missing_file_is_ps001(tmp_path):
    path = tmp_path / "nope.yaml"
    doc = read_document(path)
    d = only(doc.diagnostics, "PS001")
    assert str(path) in d.message and d.file == str(path) and d.line is None
    assert doc.data is None and not doc.ok


def test_a_path_with_a_nul_byte_is_ps001_not_an_exception():
    assert codes(read_document("bad\0name.yaml").diagnostics) == ["PS001"]


def test_directory_is_ps002(tmp_path):
    d = only(read_document(tmp_path).diagnostics, "PS002")
    assert "directory" in d.message


def test_file_over_one_mebibyte_is_ps003(write):
    path = write(b"a: 1\n" + b"#" * MAX_FILE_BYTES)
    d = only(read_document(path).diagnostics, "PS003")
    assert "1 MiB" in d.message


def test_file_of_exactly_one_mebibyte_is_read(write):
    body = b"a: 1\n"
    path = write(body + b"#" * (MAX_FILE_BYTES - len(body)))
    assert os.path.getsize(path) == MAX_FILE_BYTES
    doc = read_document(path)
    assert doc.diagnostics == () and doc.data == {"a": 1}


def test_text_over_one_mebibyte_is_ps003():
    assert codes(load("a: 1\n" + "#" * MAX_FILE_BYTES).diagnostics) == ["PS003"]


def test_non_utf8_is_ps004_at_the_bad_byte(write):
    path = write(b"portalspec: 1\nname: caf\xe9\n")
    d = only(read_document(path).diagnostics, "PS004")
    assert pos(d) == (2, 10)
    assert "0xe9" in d.message
    assert d.source_line is not None and d.source_line.startswith("name: caf")


def test_ps004_column_counts_characters_not_bytes(write):
    path = write("portalspec: 1\nname: \"héé—".encode() + b"\xff\"\n")
    d = only(read_document(path).diagnostics, "PS004")
    assert pos(d) == (2, len('name: "héé—') + 1)
    assert d.format().splitlines()[2].index("^") == d.format().splitlines()[1].index("\ufffd")


def test_a_lone_surrogate_escape_is_ps004_and_replaced():
    text = 'a: "x\\ud800"\n"\\udfff": 1\n'
    doc = load(text)
    assert doc.data == {"a": "x\ufffd", "\ufffd": 1}
    assert sorted(pos(d) for d in doc.diagnostics if d.code == "PS004") == [(1, 4), (2, 1)]


@pytest.mark.parametrize("text", ["", "   \n\n", "# only a comment\n\n# another\n", "---\n"])
def test_empty_definition_is_ps005(text):
    doc = load(text)
    assert codes(doc.diagnostics) == ["PS005"] and doc.data is None


@pytest.mark.parametrize("text, line, column", [
    ("name: [unclosed\n", 2, 1),
    ("a: 1\n\tb: 2\n", 2, 1),
    ("a: 1\n---\nb: 2\n", 2, 1),
    ("a: *nope\n", 1, 4),
    ("a: b: c\n", 1, 5),
])
def test_yaml_syntax_error_is_ps006_with_position(text, line, column):
    d = only(load(text).diagnostics, "PS006")
    assert d.message.startswith("YAML syntax error: ")
    assert pos(d) == (line, column)


def test_a_control_character_is_ps006_at_its_position():
    d = only(load("a: 1\nb: x\x07\n").diagnostics, "PS006")
    assert pos(d) == (2, 5) and "#x0007" in d.message


@pytest.mark.parametrize("text, kind", [("- a\n- b\n", "a list"), ("just text\n", "a single value"),
                                        ("42\n", "a single value")])
def test_top_level_not_a_mapping_is_ps007(text, kind):
    d = only(load(text).diagnostics, "PS007")
    assert d.message.endswith(kind) and pos(d) == (1, 1)


def test_duplicate_key_is_ps008_at_the_second_occurrence():
    text = "name: a\ndisplay_name: A\nname: b\n"
    doc = load(text)
    d = only(doc.diagnostics, "PS008")
    assert pos(d) == (3, 1)
    assert "'name'" in d.message and "line 1" in d.message
    assert d.path == ("name",)
    assert doc.data["name"] == "a"  # the first one is kept; the error makes the file invalid anyway


def test_nested_duplicate_key_is_ps008():
    text = "endpoints:\n  add_users:\n    url: a\n    url: b\n"
    d = only(load(text).diagnostics, "PS008")
    assert pos(d) == (4, 5) and d.json_path == "$.endpoints.add_users.url"


def test_billion_laughs_is_ps009_and_fast():
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        prev, name = chr(96 + i), chr(97 + i)
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    start = time.perf_counter()
    doc = load("\n".join(levels) + "\n")
    assert time.perf_counter() - start < 5
    assert codes(doc.diagnostics) == ["PS009"]
    assert doc.data is None
    assert "alias" in doc.diagnostics[0].message


def test_a_few_aliases_are_fine():
    doc = load("h: &h {X-A: '1'}\none: *h\ntwo: *h\n")
    assert doc.diagnostics == () and doc.data["two"] == {"X-A": "1"}


def test_a_self_referencing_alias_is_ps009():
    assert codes(load("a: &a [*a]\n").diagnostics) == ["PS009"]


def test_deep_nesting_is_reported_not_raised():
    doc = load("a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert codes(doc.diagnostics) in (["PS009"], ["PS006"])


def test_complex_keys_and_bad_merges_are_ps010():
    assert codes(load("? [a, b]\n: c\n").diagnostics) == ["PS010"]
    d = only(load("thing:\n  <<: 5\n").diagnostics, "PS010")
    assert pos(d) == (2, 3)


# --- LibYAML and PyYAML agree -------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import dataclasses  # noqa: E402

from portalspec import loader as loader_module  # noqa: E402

from .conftest import EXAMPLES, MINIMAL  # noqa: E402

_TEXTS = [MINIMAL] + [p.read_text(encoding="utf-8") for p in EXAMPLES]
_BITS = st.sampled_from(["\t", "\x07", "\u0085", "\u2028", "\ufeff", '"\\ud800"', "'", '"', "|", ">", "&a", "*a",
                         "<<: *a", "- ", ": ", "#", "{", "}", "[", "]", "\n", "\r\n", "  ", "é", "\\", "%", "!!str "])


def _pure(text: str) -> loader_module.Document:
    fast = loader_module._fast_compose
    loader_module._fast_compose = lambda t: loader_module._FAILED  # type: ignore[assignment]
    try:
        return loader_module.parse_document(text, "f.yaml")
    finally:
        loader_module._fast_compose = fast  # type: ignore[assignment]


@settings(max_examples=250, deadline=None)
@given(base=st.sampled_from(_TEXTS), cut=st.integers(0, 10_000), bits=st.lists(_BITS, max_size=4))
def test_libyaml_and_pyyaml_load_every_text_the_same(base, cut, bits):
    """Definitions are composed by LibYAML for speed; what PyYAML's own composer loads, they
    load the same (data, positions and diagnostics). Where LibYAML follows the YAML spec more
    closely (a tab inside a plain scalar, which PyYAML refuses) it may load a text PyYAML
    would not; where it refuses one, PyYAML composes it again and says why."""
    at = cut % (len(base) + 1)
    text = base[:at] + "".join(bits) + base[at:]
    fast, pure = loader_module.parse_document(text, "f.yaml"), _pure(text)
    if any(d.code in ("PS006", "PS009") for d in pure.diagnostics):
        return
    assert fast.data == pure.data
    assert fast.diagnostics == pure.diagnostics
    assert _spans(fast) == _spans(pure) and fast.source.keys == pure.source.keys


def _spans(document: loader_module.Document) -> dict:
    """Where each value starts; where it ends only for a scalar (a mapping's end is where the
    next token starts, which the two composers put differently in odd texts, and no
    diagnostic points at it)."""
    def value_at(path: tuple) -> object:
        node: object = document.data
        for step in path:
            node = node[step]  # type: ignore[index]
        return node
    return {path: span if not isinstance(value_at(path), (dict, list)) else dataclasses.replace(span, end_line=0)
            for path, span in document.source.values.items()}

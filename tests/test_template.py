"""The `$` language: lexing, classifying each placeholder by position, and the position encoders."""

from __future__ import annotations

import json
from urllib.parse import unquote

import pytest

from portalspec.template import (Kind, Placeholder, Position, RawJSON, Slot, SubstitutionError, Template, as_text,
                                 encode_header, encode_host, encode_json_string, encode_json_value, encode_path_segment,
                                 encode_query, json_string, lex)


def positions(text: str, kind: Kind) -> list[tuple[str, Position]]:
    return [(p.name, p.position) for p in lex(text, kind).placeholders]


# --- lexing ------------------------------------------------------------------------------

def test_lex_splits_literals_and_placeholders_with_offsets():
    lexed = lex('{"a": $x, "b": "${y}z"}', Kind.JSON)
    assert lexed.errors == ()
    assert lexed.parts == ('{"a": ', Placeholder("x", 6, 8, Position.JSON_VALUE), ', "b": "',
                           Placeholder("y", 16, 20, Position.JSON_STRING), 'z"}')
    assert lexed.names() == {"x", "y"}


def test_double_dollar_is_a_literal_dollar_and_not_a_placeholder():
    lexed = lex('"price $$5 and $$x"', Kind.JSON)
    assert lexed.placeholders == ()
    assert "".join(lexed.parts) == '"price $5 and $x"'
    assert Template.compile('"$$$x"', Kind.JSON, "t").render({"x": "v"}) == '"$v"'


@pytest.mark.parametrize("text, offset", [("a $5", 2), ("${x", 0), ("${}", 0), ("$", 0), ("x$.y", 1)])
def test_a_stray_dollar_is_a_syntax_error_at_its_offset(text, offset):
    lexed = lex(text, Kind.HEADER)
    assert [e.offset for e in lexed.errors] == [offset]
    assert lexed.placeholders == ()


def test_braces_end_a_name_where_letters_would_run_on():
    assert positions("${a}b $a_b", Kind.HEADER) == [("a", Position.HEADER), ("a_b", Position.HEADER)]


def test_json_positions_follow_strings_and_escapes():
    text = r'{"k": $v, "s": "a \" $in \\", "after": $out, "$key": ["$e", $f]}'
    assert positions(text, Kind.JSON) == [
        ("v", Position.JSON_VALUE), ("in", Position.JSON_STRING), ("out", Position.JSON_VALUE),
        ("key", Position.JSON_STRING), ("e", Position.JSON_STRING), ("f", Position.JSON_VALUE)]


def test_url_positions():
    url = "https://$sub.example.com:$port/a/$p/b?x=$q&$k=1#$frag"
    assert positions(url, Kind.URL) == [
        ("sub", Position.URL_HOST), ("port", Position.URL_HOST), ("p", Position.URL_PATH),
        ("q", Position.URL_QUERY), ("k", Position.URL_QUERY), ("frag", Position.URL_FRAGMENT)]
    assert positions("$scheme://h/", Kind.URL) == [("scheme", Position.URL_SCHEME)]
    # a '?' in the path starts the query even right after the host
    assert positions("https://h?$q", Kind.URL) == [("q", Position.URL_QUERY)]
    assert positions("https://h#$f", Kind.URL) == [("f", Position.URL_FRAGMENT)]


def test_the_position_comes_from_the_literal_text_only():
    # A value containing '/', '?', '#' or '"' cannot move the next placeholder to another position.
    template = Template.compile("https://h/$a/$b?q=$c", Kind.URL, "url")
    assert [p.position for p in template.parts if isinstance(p, Slot)] == [
        Position.URL_PATH, Position.URL_PATH, Position.URL_QUERY]
    assert template.render({"a": "x?y=1#", "b": "/..", "c": "#&"}) == "https://h/x%3Fy%3D1%23/%2F..?q=%23%26"


# --- JSON encoders -------------------------------------------------------------------------

def test_json_string_escapes_quotes_backslashes_controls_and_line_separators():
    text = 'a"b\\c\n\r\t\x00\x1f\x7f\u2028\u2029é😀</script>'
    out = json_string(text)
    assert out == '"a\\"b\\\\c\\n\\r\\t\\u0000\\u001f\x7f\\u2028\\u2029é😀</script>"'
    assert json.loads(out) == text
    assert encode_json_string(text) == out[1:-1]


@pytest.mark.parametrize("value, expected", [
    ("123", '"123"'), ("true", '"true"'), ("", '""'), (123, "123"), (-1.5, "-1.5"), (True, "true"),
    (False, "false"), (None, "null"), ([1, "a", None], '[1, "a", null]'), ({"k": [True]}, '{"k": [true]}'),
    ("\u2028", '"\\u2028"'), (["\u2029"], '["\\u2029"]'),
])
def test_json_value_position_keeps_the_value_type(value, expected):
    assert encode_json_value(value) == expected
    assert json.loads(expected) == value


@pytest.mark.parametrize("value", [float("nan"), float("inf"), object(), {1j: 1}])
def test_json_value_that_is_not_json_is_a_substitution_error(value):
    with pytest.raises(SubstitutionError, match="cannot be written as JSON"):
        encode_json_value(value)


@pytest.mark.parametrize("value, expected", [
    ("123", "123"), (123, "123"), (1.5, "1.5"), (True, "true"), (None, ""), ('say "hi"', 'say \\"hi\\"'),
    ([1, "é"], '[1,\\"é\\"]'),
])
def test_json_string_position_is_always_text(value, expected):
    assert encode_json_string(value) == expected


def test_a_json_string_that_is_exactly_a_placeholder_stays_a_string():
    template = Template.compile('{"id": "$x", "n": $x}', Kind.JSON, "payload")
    assert json.loads(template.render({"x": "123"})) == {"id": "123", "n": "123"}
    assert json.loads(template.render({"x": 123})) == {"id": "123", "n": 123}
    assert json.loads(template.render({"x": True})) == {"id": "true", "n": True}
    assert json.loads(template.render({"x": ["a", 1]})) == {"id": '["a",1]', "n": ["a", 1]}


def test_raw_json_is_spliced_in_a_value_position():
    template = Template.compile('{"items": $items}', Kind.JSON, "payload")
    assert template.pieces({"items": RawJSON(["[", '"a"', "]"])}) == ['{"items": ', "[", '"a"', "]", "}"]
    assert encode_json_value(RawJSON(["[1", ",2]"])) == "[1,2]"


# --- URL encoders --------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("abc", "abc"), ("a/b", "a%2Fb"), ("a?b#c", "a%3Fb%23c"), ("100%", "100%25"), ("..", "%2E%2E"),
    (".", "%2E"), ("...", "%2E%2E%2E"), ("a..b", "a..b"), ("../etc", "..%2Fetc"), ("a b+c", "a%20b%2Bc"),
    ("é", "%C3%A9"), ("\n", "%0A"), ("", ""), (5, "5"), (True, "true"), ("~_-.", "~_-."),
])
def test_path_segment_encoding(value, expected):
    assert encode_path_segment(value) == expected
    assert unquote(expected) == as_text(value)


def test_a_path_value_stays_one_segment():
    template = Template.compile("https://h/lists/$id/add", Kind.URL, "url")
    for value in ("../../admin", "a/b", "x?y", "x#y", "%2F", ".."):
        url = template.render({"id": value})
        assert url.startswith("https://h/lists/") and url.endswith("/add")
        segment = url[len("https://h/lists/"):-len("/add")]
        assert "/" not in segment and "?" not in segment and "#" not in segment
        assert segment not in (".", "..")
        assert unquote(segment) == value


@pytest.mark.parametrize("value, expected", [
    ("a&b=c", "a%26b%3Dc"), ("a b", "a%20b"), ("a+b", "a%2Bb"), ("#", "%23"), ("/", "%2F"), ("é", "%C3%A9"),
])
def test_query_component_encoding(value, expected):
    assert encode_query(value) == expected
    assert Template.compile("https://h/?q=$q&z=1", Kind.URL, "u").render({"q": value}) == f"https://h/?q={expected}&z=1"
    assert Template.compile("https://h/#$f", Kind.URL, "u").render({"f": value}) == f"https://h/#{expected}"


@pytest.mark.parametrize("value", ["eu", "us-east-1", "a", "A1", "x" * 63, "123"])
def test_valid_host_labels_pass(value):
    assert encode_host(value) == value


@pytest.mark.parametrize("value", ["", "a.b", "-a", "a-", "a_b", "x" * 64, "é", "a b", "eu\n", "eu\r", "\neu",
                                   "a/b", "a@b", "a:1", "evil.com/"])
def test_anything_but_a_host_label_is_refused(value):
    with pytest.raises(SubstitutionError, match="not a valid host name label"):
        encode_host(value)


def test_a_variable_in_the_scheme_is_refused():
    with pytest.raises(SubstitutionError, match=r"\$s in url: variables cannot stand in a URL's scheme"):
        Template.compile("$s://h/", Kind.URL, "url").render({"s": "https"})


# --- headers -------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["plain", "with space", "tab\there", "é😀", "a: b", '"quoted"', "$x", ""])
def test_header_value_is_verbatim(value):
    assert encode_header(value) == value


@pytest.mark.parametrize("value, what", [("a\rb", "carriage return"), ("a\nb", "line feed"),
                                         ("a\r\nX-Evil: 1", "carriage return"), ("a\x00", "NUL")])
def test_header_value_with_cr_lf_or_nul_is_refused(value, what):
    with pytest.raises(SubstitutionError, match=what):
        encode_header(value)
    template = Template.compile("App $key", Kind.HEADER, "header Authorization (headers.Authorization)")
    with pytest.raises(SubstitutionError) as info:
        template.render({"key": value})
    assert str(info.value).startswith("$key in header Authorization (headers.Authorization): contains")


# --- compiled templates --------------------------------------------------------------------

def test_compile_merges_literals_and_keeps_slots_in_order():
    template = Template.compile("a$$b${x}c$y", Kind.HEADER, "h")
    assert template.parts == ("a$b", Slot("x", Position.HEADER), "c", Slot("y", Position.HEADER))
    assert template.names == frozenset({"x", "y"})
    assert template.render({"x": 1, "y": True}) == "a$b1ctrue"


def test_bind_renders_known_slots_and_keeps_the_others():
    template = Template.compile('{"c": "$cohort", "u": "$user", "n": $n}', Kind.JSON, "item")
    bound = template.bind({"cohort": 'Q"1', "n": 2})
    assert bound.names == frozenset({"user"})
    assert bound.parts == ('{"c": "Q\\"1", "u": "', Slot("user", Position.JSON_STRING), '", "n": 2}')
    assert bound.render({"user": "u\n"}) == template.render({"cohort": 'Q"1', "n": 2, "user": "u\n"})


def test_bind_reports_a_constant_that_cannot_be_placed():
    template = Template.compile('{"w": $w}', Kind.JSON, "endpoints.x.item_template")
    with pytest.raises(SubstitutionError, match=r"^\$w in endpoints.x.item_template: cannot be written as JSON"):
        template.bind({"w": float("nan")})


@pytest.mark.parametrize("value, expected", [("s", "s"), (None, ""), (True, "true"), (False, "false"),
                                             (3, "3"), (2.5, "2.5"), ([1, "é"], '[1,"é"]')])
def test_as_text(value, expected):
    assert as_text(value) == expected


def test_in_a_jsonpath_a_dollar_that_starts_no_name_is_the_root():
    lexed = lex("$.items[?(@.n == 'a $x b' && @.m == \"$y\")].$z[0]", Kind.JSONPATH)
    assert lexed.errors == ()
    assert [(p.name, p.position) for p in lexed.placeholders] == [
        ("x", Position.JSONPATH_STRING), ("y", Position.JSONPATH_STRING), ("z", Position.JSONPATH)]
    assert lexed.parts[0] == "$.items[?(@.n == 'a "


def test_an_escaped_quote_does_not_end_a_jsonpath_string():
    lexed = lex(r"$.a[?(@.n == 'it\'s $x')].id", Kind.JSONPATH)
    assert lexed.placeholders[0].position is Position.JSONPATH_STRING


def test_a_jsonpath_string_value_escapes_backslash_and_both_quotes():
    template = Template.compile("$.a[?(@.n == '$x')].id", Kind.JSONPATH, "path")
    assert template.render({"x": "it's \"a\" \\ ]"}) == "$.a[?(@.n == 'it\\'s \\\"a\\\" \\\\ ]')].id"
    with pytest.raises(SubstitutionError, match="only inside a quoted string"):
        Template.compile("$.a.$x", Kind.JSONPATH, "path").render({"x": "b"})

"""Property tests: arbitrary Unicode in cohort names, field values and user ids never changes a request's
structure. Bodies always parse and give the values back; URL values round-trip; no value adds a header
or a line; what cannot be placed (a line break in a header, a lone surrogate) is a clean InputError."""

from __future__ import annotations

import json
import subprocess
from urllib.parse import unquote, urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portalspec import Cohort, InputError, User, Values, slugify

from .render_helpers import (BARE, KITCHEN, TRAITS, bare_values, body, compile_text, context, kitchen_values,
                             traits_values)

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KITCHEN_I = compile_text(KITCHEN)
TRAITS_I = compile_text(TRAITS)
BARE_I = compile_text(BARE)
KITCHEN_HEADERS = 4  # Content-Type, Authorization, X-Tag, X-Request-Id

text = st.text()  # quotes, backslashes, control characters, $, {{, </script>, emoji… (no surrogates)
salted = st.one_of(text, st.sampled_from(['"', "\\", "\n", "\r\n", "\x00", "\u2028", "\u2029", "$x", "${x}", "{{x}}",
                                          "</script>", "😀", "..", ".", "/", "?#&=%", " ", "'", "`$(id)`"]),
                   st.lists(st.sampled_from(['"', "\\", "\u2028", "\n", "é", "😀", "..", "/", "'"]), min_size=1)
                   .map("".join))
operations = st.sampled_from(["add", "remove"])
surrogate = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
names = salted.filter(bool)  # a cohort has a name: an empty one is refused (test_render)


def render(integration, values, users=(), **options):
    return list(integration.render(values, users, context=context(), **options))


def expected_order(users):
    return [u.values["user_id"] for u in users if u.operation == "add"] + \
           [u.values["user_id"] for u in users if u.operation == "remove"]


def assert_structure(requests, header_count):
    for request in requests:
        assert len(request.headers) == header_count
        for name, value in request.headers:
            assert not any(c in name + value for c in "\r\n\x00")
        head = request.to_http().split("\r\n\r\n", 1)[0]
        assert len(head.split("\r\n")) == 2 + header_count + 1  # request line, Host, headers, Content-Length
        assert request.url.isascii() and not any(c <= " " for c in request.url)
        json.loads(request.body.decode("utf-8"))


# --- user ids --------------------------------------------------------------------------------

@SETTINGS
@given(st.lists(st.tuples(operations, salted), max_size=12))
def test_user_ids_in_a_json_string_come_back_in_order(pairs):
    users = [User(op, {"user_id": uid}) for op, uid in pairs]
    requests = render(KITCHEN_I, kitchen_values(), users)
    assert_structure(requests, KITCHEN_HEADERS)
    batches = [r for r in requests if r.endpoint != "create_list"]
    assert all(0 < len(body(r)["ids"]) <= 3 for r in batches)
    assert [i for r in batches for i in body(r)["ids"]] == expected_order(users)
    assert all(b"\xe2\x80\xa8" not in r.body and b"\xe2\x80\xa9" not in r.body for r in requests)


@SETTINGS
@given(st.lists(st.tuples(operations, salted), max_size=12))
def test_user_ids_in_a_json_value_position_come_back_in_order(pairs):
    users = [User(op, {"user_id": uid}) for op, uid in pairs]
    requests = render(BARE_I, bare_values(), users)
    assert [i for r in requests[1:] for i in body(r)["ids"]] == expected_order(users)


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                         salted)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                                 st.dictionaries(text, inner, max_size=3)),
                           max_leaves=8)


@SETTINGS
@given(st.lists(st.tuples(operations, salted, json_values), max_size=8), names)
def test_item_templates_with_several_variables_come_back(rows, cohort_name):
    users = [User(op, {"user_id": uid, "score": score}) for op, uid, score in rows]
    values = traits_values()
    values = Values(values.fields, values.mappings, Cohort("7", cohort_name))
    requests = render(TRAITS_I, values, users)
    items = [item for r in requests for item in body(r)["batch"]]
    ordered = [u for u in users if u.operation == "add"] + [u for u in users if u.operation == "remove"]
    assert [(i["userId"], i["tagged"], i["score"], i["in"], i["op"]) for i in items] == [
        (u.values["user_id"], "id:" + u.values["user_id"], u.values["score"], u.operation == "add", u.operation)
        for u in ordered]


# --- cohort names and field values ----------------------------------------------------------------

@SETTINGS
@given(cohort_name=names, label=salted, amount=salted, segment=salted, query=salted, list_id=salted,
       users=st.lists(salted, max_size=4))
def test_values_in_json_and_url_positions_come_back(cohort_name, label, amount, segment, query, list_id, users):
    values = kitchen_values(cohort_name, label=label, amount=amount, segment=segment, query=query)
    requests = render(KITCHEN_I, values, [User("add", {"user_id": u}) for u in users], list_id=list_id)
    assert_structure(requests, KITCHEN_HEADERS)
    create = body(requests[0])
    assert (create["name"], create["label"], create["amount"]) == (cohort_name, f"pre {label} post", amount)
    assert create["slug"] == slugify(cohort_name)
    url = urlsplit(requests[0].url)
    assert url.netloc == "api.kitchen.example"
    assert unquote(url.path.split("/")[2]) == segment
    assert url.path.count("/") == 2
    assert unquote(url.query.split("&")[0][len("q="):]) == query and url.query.count("&") == 1
    for request in requests[1:]:
        parts = urlsplit(request.url).path.split("/")
        assert len(parts) == 5 and parts[1] == "lists" and parts[3] == "members"
        assert (unquote(parts[2]), unquote(parts[4])) == (list_id, segment)
        assert parts[2] not in (".", "..") and parts[4] not in (".", "..")
        assert body(request)["label"] == label


@SETTINGS
@given(salted)
def test_a_header_value_is_verbatim_or_refused(tag):
    """Verbatim, or refused when it holds a control character other than the tab: HTTP forbids
    them in a field value (a regression: curl dropped a header whose value was only \\x0b)."""
    values = kitchen_values(tag=tag)
    if any(ord(c) < 32 and c != "\t" or c == "\x7f" for c in tag):
        try:
            render(KITCHEN_I, values)
        except InputError as exc:
            assert str(exc).startswith("$tag in header X-Tag (headers.X-Tag): contains")
        else:
            raise AssertionError("a line break or NUL in a header value was rendered")
    else:
        [create] = render(KITCHEN_I, values)
        assert_structure([create], KITCHEN_HEADERS)
        assert create.header("X-Tag") == tag


@SETTINGS
@given(st.one_of(salted, st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9-]{0,20}[A-Za-z0-9]\Z")))
def test_a_host_value_is_a_label_or_refused(sub):
    try:
        [create] = render(KITCHEN_I, kitchen_values(sub=sub))
    except InputError as exc:
        assert str(exc).startswith("$sub in endpoints.create_list.url: ")
        assert "not a valid host name label" in str(exc)
    else:
        assert urlsplit(create.url).hostname == f"{sub}.kitchen.example".lower()
        assert create.url.startswith(f"https://{sub}.kitchen.example/lists/")


# --- lone surrogates -----------------------------------------------------------------------------

@SETTINGS
@given(where=st.sampled_from(["cohort", "label", "amount", "segment", "query", "tag", "sub", "user", "list_id"]),
       before=text, after=text, bad=surrogate, users=st.lists(text, max_size=4))
def test_a_lone_surrogate_anywhere_is_an_input_error(where, before, after, bad, users):
    value = before + bad + after
    fields = {where: value} if where in ("label", "amount", "segment", "query", "tag", "sub") else {}
    values = kitchen_values(value if where == "cohort" else "c", **fields)
    users = [User("add", {"user_id": u}) for u in users] + ([User("add", {"user_id": value})] if where == "user" else [])
    try:
        render(KITCHEN_I, values, users, list_id=value if where == "list_id" else None)
    except InputError:
        pass
    else:
        raise AssertionError(f"a lone surrogate in {where} was rendered")


@SETTINGS
@given(before=text, bad=surrogate, op=operations,
       where=st.sampled_from(["id", "list", "dict key", "dict value", "field list"]))
def test_a_lone_surrogate_in_an_item_or_nested_in_a_value_is_an_input_error(before, bad, op, where):
    tainted = before + bad
    score = {"list": [1, tainted], "dict key": {tainted: 1}, "dict value": {"k": [None, tainted]}}.get(where, 0)
    users = [User("add", {"user_id": "ok", "score": 1}),
             User(op, {"user_id": tainted if where == "id" else "u", "score": score})]
    try:
        if where == "field list":  # a field value (library API) that is a list holding the surrogate
            render(KITCHEN_I, kitchen_values(amount=[tainted]))
        else:
            render(TRAITS_I, traits_values(), users)
    except InputError as exc:
        assert "lone surrogate" in str(exc)
    else:
        raise AssertionError(f"a lone surrogate ({where}) was rendered")


# --- curl quoting ------------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(cohort_name=names, label=salted,
       tag=salted.filter(lambda t: not any(ord(c) < 32 and c != "\t" or c == "\x7f" for c in t)),
       user=salted.filter(lambda t: "\x00" not in t))
def test_curl_arguments_survive_the_shell(cohort_name, label, tag, user):
    requests = render(KITCHEN_I, kitchen_values(cohort_name, label=label, tag=tag), [User("add", {"user_id": user})])
    for request in requests:
        command = request.to_curl()
        out = subprocess.run(["sh", "-c", "printf '%s\\0' " + command[len("curl "):]], capture_output=True, check=True)
        words = out.stdout.decode("utf-8").split("\0")[:-1]
        assert words[4] == request.url
        assert words[words.index("--data-raw") + 1].encode("utf-8") == request.body
        headers = [w for prev, w in zip(words, words[1:]) if prev == "-H"]
        # curl drops a header given as 'Name: ' with nothing after; 'Name;' sends it empty
        assert headers == [f"{k}: {v}" if v.strip(" \t") else f"{k};" for k, v in request.headers]

"""A batch body kept as the parts it was spliced from (spliced.py): the body, and its spelling
inside a JSON string that ``render --format json`` writes, are exactly what the whole-body path
makes of the same request, for any values; secrets in the item are masked all the same."""

from __future__ import annotations

import dataclasses
import json

from hypothesis import given, settings
from hypothesis import strategies as st

import portalspec
from portalspec import Members, Request, Values
from portalspec.formats import format_bytes
from portalspec.macros import MacroContext
from portalspec.spliced import BodyParts, Joined

from .conftest import MINIMAL

# The item holds a secret custom field: it lands in the separator between users' values.
SECRET_ITEM = MINIMAL.replace("""mapping_fields:""", """  - {variable: api_key, display_name: API key, type: string, secret: true}
mapping_fields:""").replace(
    """    url: https://api.acme.example/lists/$list_id/add
    payload: |
      {"userIds": $items}
    item_template: '"$user_id"'""",
    """    url: https://api.acme.example/lists/$list_id/add
    payload: |
      {"userIds": $items, "cohort": "$amp_cohort_name"}
    item_template: '{"id": "$user_id", "key": "$api_key"}'""")


def rendered(ids: list[str], definition: str = MINIMAL, *, mask: bool = False) -> Request:
    integration = portalspec.compile(portalspec.load(definition))
    secret = {"api_key": "s3cr3t-KEY"} if definition is SECRET_ITEM else {}
    values = Values(fields={"bearer_token": "t", **secret}, mappings={"user_id": "user_id"},
                    cohort=portalspec.Cohort("1", 'co"hort é'), list_id="L")
    request, = integration.render(values, [Members("add", {"user_id": ids})], endpoint="add_users",
                                  context=MacroContext(seed=1), mask_secrets=mask)
    return request


def whole(request: Request) -> Request:
    """The same request without its parts: the formats escape its body whole."""
    return Request(request.method, request.url, request.headers, request.body, request.endpoint, request.items,
                   request.masked)


def as_json(request: Request) -> bytes:
    return b"".join(format_bytes([request], "json"))


PLAIN = ["a@b.c", "7c9e6679-7425-40de-944b-e07fc1f90ae7", "é ☃ 𝄞", "x y", "", "nbsp\xa0"]


def test_plain_ids_keep_their_parts_and_spell_the_body_as_the_whole_body_path():
    for definition in (MINIMAL, SECRET_ITEM):
        request = rendered(PLAIN, definition)
        assert isinstance(request.parts, BodyParts) and request.parts.data is request.body
        assert as_json(request) == as_json(whole(request))
        assert json.loads(as_json(request))[0]["body"] == request.body.decode("utf-8")


def test_a_secret_in_the_item_is_masked_in_every_users_item():
    request = rendered(PLAIN, SECRET_ITEM, mask=True)
    assert request.parts is not None
    out = as_json(request)
    assert out == as_json(whole(request))
    assert b"s3cr3t" not in out and b"pssecret" not in out
    assert [item["key"] for item in json.loads(json.loads(out)[0]["body"])["userIds"]] == ["********"] * len(PLAIN)


def test_ids_that_json_must_escape_take_the_whole_body_path():
    for awkward in ('q"uote', "back\\slash", "tab\t", "nl\n", "ls\u2028", "ps\u2029", "\ud800"):
        assert Joined.of(["plain", awkward], ",") is None
    assert Joined.of(["plain", 42], ",") is None  # type: ignore[list-item]
    assert rendered(["plain", 'q"uote']).parts is None


def test_a_request_whose_body_was_replaced_shows_the_new_body():
    request = rendered(PLAIN)
    other = dataclasses.replace(request, body=b'{"userIds": ["someone else"]}')
    assert json.loads(as_json(other))[0]["body"] == '{"userIds": ["someone else"]}'
    assert other == whole(other) and request == whole(request)  # the parts are no part of the value


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(), min_size=1, max_size=8), st.booleans())
def test_any_ids_render_and_spell_as_the_whole_body_path(ids, secret):
    try:
        request = rendered(ids, SECRET_ITEM if secret else MINIMAL, mask=secret)
    except portalspec.InputError:
        assert any("\ud800" <= c <= "\udfff" for i in ids for c in i)  # a lone surrogate: refused either way
        return
    assert as_json(request) == as_json(whole(request))
    items = json.loads(request.body or b"")["userIds"]
    assert ([item["id"] for item in items] if secret else items) == ids

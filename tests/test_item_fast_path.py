"""The one-slot item fast path (render._ItemRenderer) joins ids with nothing to escape without a
call per id; any id holding a quote, backslash, control or unprintable character is encoded
by the C encoder as before. Either way the body is what json.dumps makes of the ids."""

from __future__ import annotations

import json

import pytest

import portalspec
from portalspec import Members, Values
from portalspec.macros import MacroContext

from .conftest import MINIMAL


PLAIN = ["a@b.c", "7c9e6679-7425-40de-944b-e07fc1f90ae7", "é ☃ 𝄞", "x y", "~!#$%^&*()[]{}<>/?"]
AWKWARD = ['q"uote', "back\\slash", "tab\t", "nl\n", "del\x7f", "ls\u2028", "ps\u2029", "nbsp\xa0", "zw\u200b"]


@pytest.mark.parametrize("ids", [PLAIN, PLAIN + AWKWARD[:1]] + [PLAIN + [a] for a in AWKWARD[1:]] + [[a] for a in AWKWARD])
def test_items_are_the_json_of_the_ids(ids):
    integration = portalspec.compile(portalspec.load(MINIMAL))  # its add_users item is '"$user_id"'
    values = Values(fields={"bearer_token": "t"}, mappings={"user_id": "user_id"},
                    cohort=portalspec.Cohort("1", "c"), list_id="L")
    requests = list(integration.render(values, [Members("add", {"user_id": ids})], endpoint="add_users",
                                       context=MacroContext(seed=1)))
    body = b"".join(r.body or b"" for r in requests)
    assert json.loads(body)["userIds"] == ids
    expected = json.dumps({"userIds": ids}, ensure_ascii=False, separators=(",", ": "))
    expected = expected.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    assert body.decode("utf-8") == expected + "\n"  # (MINIMAL's payload is a block scalar: a final newline)

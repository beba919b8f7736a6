"""Headers: one case-insensitive, ordered, immutable header list."""

from __future__ import annotations

import pickle

from portalspec.diagnostics import excerpt
from portalspec.headers import Headers
from portalspec.request import Request
from portalspec.transport import Response


def test_lookups_ignore_the_case_of_names_and_keep_order_and_repeats():
    headers = Headers([("Content-Type", "application/json"), ("X-A", "1"), ("x-a", "2")])
    assert headers.get("content-type") == "application/json"
    assert headers.get("X-MISSING") is None and headers.get("x-missing", "d") == "d"
    assert headers.get_all("X-A") == ["1", "2"] and headers.has("x-A") and not headers.has("y")
    assert list(headers) == [("Content-Type", "application/json"), ("X-A", "1"), ("x-a", "2")]


def test_set_replaces_every_spelling_of_a_name_and_leaves_the_original_alone():
    headers = Headers({"Authorization": "Bearer a", "X-B": "b"})
    changed = headers.set("authorization", "Bearer z")
    assert list(changed) == [("X-B", "b"), ("authorization", "Bearer z")]
    assert headers.get("Authorization") == "Bearer a"  # immutable: set made a copy
    assert headers.names() == {"authorization", "x-b"}


def test_it_is_a_tuple_of_pairs_so_it_compares_hashes_and_pickles_as_one():
    headers = Headers([("A", "1")])
    assert headers == (("A", "1"),) and hash(headers) == hash((("A", "1"),))
    assert pickle.loads(pickle.dumps(headers)) == headers


def test_requests_and_responses_share_it_whatever_pairs_they_are_given():
    request = Request("POST", "https://h.example/", (("X-Key", "k"),), None)
    response = Response(200, (("retry-after", "3"),), b"", 0.0)
    assert isinstance(request.headers, Headers) and request.header("x-key") == "k"
    assert isinstance(response.headers, Headers) and response.header("Retry-After") == "3"


def test_an_excerpt_redacts_before_it_cuts():
    secret = "sk-0123456789abcdef"
    text = "x" * 195 + secret  # cut first, the cut would fall inside the secret
    redact = lambda t: t.replace(secret, "********")  # noqa: E731
    shown = excerpt(text, 200, redact=redact)
    assert "sk-0123" not in shown and shown.endswith("…")
    assert excerpt("a\n b", 10) == "a b" and excerpt("a\n b", 10, fold_space=False) == "a\n b"

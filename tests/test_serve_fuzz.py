"""Hostile bodies against serve's body-reading path (Hypothesis).

Whatever the body — nested too deeply, numbers too long, NaN and Infinity, lone
surrogates, bytes that are not UTF-8 or not JSON, more than the cap — the answer is a 400
or a 413 with a JSON error, never a 500 or a traceback, and the state does not change.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from portalspec.destination import Destination, build_destination

from .conftest import REPO

INFOBIP = REPO / "integrations" / "infobip"
AUTH = {"Authorization": "App test-key-123"}
CONTEXT = {"integration": {"name": "Amplitude Cohort Sync", "version": "1.0.0"}}
CAP = 4096
LOG: list[str] = []


@functools.lru_cache(maxsize=None)
def served() -> tuple[Destination, Client, Any]:
    """One destination for every example (a refusal changes nothing, so they cannot interfere),
    with a list holding one member."""
    destination = build_destination(INFOBIP / "integration.yaml", INFOBIP / "values.yaml", max_body_bytes=CAP,
                                     log=LOG.append)
    client = Client(destination)
    created = client.post("/people/2/lists", json={"name": "[Amplitude] Beta users: 1234", "context": CONTEXT},
                          headers=AUTH)
    list_id = created.json["listId"]
    client.post(f"/people/2/lists/{list_id}/add", json={"userIds": ["u1"], "context": CONTEXT}, headers=AUTH)
    return destination, client, list_id


def _not_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


deep = st.integers(65, 3000).flatmap(lambda n: st.sampled_from(
    ["[" * n + "]" * n, '{"a": ' * n + "1" + "}" * n, "[" * n]))
huge = st.one_of(
    st.integers(401, 6000).map(lambda n: "9" * n),
    st.integers(401, 6000).map(lambda n: "-" + "1" * n),
    st.integers(401, 3000).map(lambda n: "0." + "3" * n),
    st.integers(309, 100_000).map(lambda e: f"1e{e}"),
    st.integers(309, 100_000).map(lambda e: f"-2.5E+{e}"),
)
constants = st.sampled_from(["NaN", "Infinity", "-Infinity", "[NaN]", '{"x": -Infinity}'])
surrogates = st.builds(
    lambda code, before, after: json.dumps(before)[:-1] + f"\\u{code:04x}" + json.dumps(after)[1:],
    st.integers(0xD800, 0xDFFF), st.text(max_size=5), st.text(max_size=5)).flatmap(
    lambda s: st.sampled_from([s, "{" + s + ": 1}", f"[{s}]"]))
fragments = st.one_of(deep, huge, constants, surrogates)


@st.composite
def hostile_bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["fragment", "bytes", "not utf-8", "over the cap"]))
    if kind == "bytes":
        return draw(st.binary(max_size=2000))
    if kind == "not utf-8":
        return draw(st.binary(min_size=1, max_size=200).filter(_not_utf8)).join([b'{"userIds": ["', b'"]}'])
    if kind == "over the cap":
        filler = draw(st.sampled_from([b"u", b"[", b"9", b"\xff"]))
        return b'{"userIds": ["' + filler * draw(st.integers(CAP, 3 * CAP)) + b'"]}'
    fragment = draw(fragments)
    context = json.dumps(CONTEXT)
    return draw(st.sampled_from([
        fragment,
        '{"userIds": [' + fragment + '], "context": ' + context + "}",
        '{"userIds": ["u1", ' + fragment + '], "context": ' + context + "}",
        '{"userIds": ["u1"], "context": ' + fragment + "}",
        '{"name": ' + fragment + ', "context": ' + context + "}",
        '{"userIds": [], "context": ' + context + ', "extra": ' + fragment + "}",
    ])).encode("utf-8", "surrogatepass")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=hostile_bodies(), endpoint=st.sampled_from(["create", "add", "remove"]),
       chunked=st.booleans())
def test_a_hostile_body_is_refused_with_400_or_413_and_changes_nothing(body: bytes, endpoint: str, chunked: bool):
    destination, client, list_id = served()
    path = {"create": "/people/2/lists", "add": f"/people/2/lists/{list_id}/add",
            "remove": f"/people/2/lists/{list_id}/remove"}[endpoint]
    before = destination.state()
    logged = len(LOG)
    environ = {"wsgi.input_terminated": True, "CONTENT_LENGTH": ""} if chunked else {}
    response = client.open(path, method="POST", data=body, headers=AUTH, content_type="application/json",
                           environ_overrides=environ)
    assert response.status_code in (400, 413), response.get_data(as_text=True)
    assert response.status_code == 413 or len(body) <= CAP
    assert isinstance(response.json["error"], str) and response.json["error"]
    assert destination.state() == before
    assert destination.requests()[-1]["status"] == response.status_code
    assert len(LOG) == logged + 1 and "Traceback" not in LOG[-1]


def test_a_50_mb_body_of_junk_is_a_400_and_nothing_changes():
    destination = build_destination(INFOBIP / "integration.yaml", INFOBIP / "values.yaml")
    client = Client(destination)
    response = client.post("/people/2/lists", data=b'{"name": "' + b"\\ud800" * 8_000_000 + b'"}',
                           headers=AUTH, content_type="application/json")
    assert response.status_code == 400 and "surrogate" in response.json["error"]
    assert destination.state()["lists"] == []
    assert len(destination.requests()[-1]["body"]) <= 500

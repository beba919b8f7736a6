"""Hostile answers to every body-reading path of the Amplitude client: the cohort listing, an
export request, a status poll, an export file and an upload. Whatever the body — deep nesting,
huge numbers, NaN, lone surrogates, more than the cap, a truncated gzip, random bytes — the
client raises an AmplitudeError or InputError (never another exception), and a refused download
leaves the destination file as it was."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portalspec.amplitude import AmplitudeClient
from portalspec.diagnostics import AmplitudeError, InputError
from portalspec.retry import RetryPolicy

from .fake_amplitude import API_KEY, SECRET_KEY, FakeAmplitude, export_csv

CAP = 4096  # the client's answer cap in these tests: "a large body" is just over it

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


HOSTILE: list[bytes] = [
    b"[" * 100_000,
    b'{"a":' * 50_000,
    b'{"cohorts": [' * 1000 + b"]" * 1000 + b"}",
    b"1" * 5_000,
    b'{"cohorts": [{"id": "x", "size": ' + b"9" * 5_000 + b"}]}",
    b'{"cohorts": [{"id": "x", "size": 1e999}]}',
    b'{"cohorts": NaN}', b"NaN", b"-Infinity", b'{"request_id": Infinity}',
    b'{"request_id": "\\ud800"}', b'{"cohorts": [{"id": "\\udfff", "name": "\\ud800x"}]}',
    b'{"async_status": "\\ud800"}', b'{"cohort_id": "\\ud83d"}',
    b"\xed\xa0\x80", b"\xff\xfe\x00", b"", b" ", b"null", b"[]", b'""', b"{}",
    b'{"cohorts": "no"}', b'{"cohorts": [1, null, {"id": []}, {"id": {"a": 1}}]}',
    b'{"request_id": ""}', b'{"request_id": "a\\nb"}', b'{"request_id": true}', b'{"request_id": ' + b"7" * 300 + b"}",
    b'{"async_status": 42}', b'{"async_status": "JOB FAILED", "error": [[[[["x"]]]]]}',
    b'{"cohort_id": null}', b'{"cohort_id": "' + b"x" * 500 + b'"}',
    b'{"x": "' + b"y" * CAP + b'"}',  # just over the cap
    gzip.compress(b'{"cohorts": []}')[:-6],  # a truncated gzip
    b'"amplitude_id","user_id"\n"1","a"\n"2","b',  # an export cut short
    b'"amplitude_id","user_id"\n"1","a"\n"2","b"\n"3","c"\n',
]

bodies = (st.sampled_from(HOSTILE) | st.binary(max_size=300) | json_values.map(_dumps)
          | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")))
encodings = st.sampled_from(["none", "gzip", "gzip-cut", "gzip-file"])
statuses = st.sampled_from([200, 200, 200, 202, 400, 401, 404, 429, 500])


def encode(body: bytes, encoding: str) -> tuple[bytes, dict[str, str]]:
    if encoding == "gzip":
        return gzip.compress(body), {"Content-Encoding": "gzip"}
    if encoding == "gzip-cut":
        packed = gzip.compress(body)
        return packed[: max(10, len(packed) // 2)], {"Content-Encoding": "gzip"}
    if encoding == "gzip-file":
        return gzip.compress(body), {"Content-Type": "application/gzip"}
    return body, {}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAmplitude]:
    with FakeAmplitude(polls=0, redirect=False) as server:
        yield server


def client(fake: FakeAmplitude) -> AmplitudeClient:
    return AmplitudeClient(API_KEY, SECRET_KEY, base_url=fake.url, retry=RetryPolicy(max_retries=1, jitter=0),
                           sleep=lambda seconds: None, clock=lambda: 0.0, max_answer_bytes=CAP)


CALLS: dict[str, Callable[[AmplitudeClient, Path], Any]] = {
    "list": lambda c, tmp: c.list_cohorts(),
    "request": lambda c, tmp: c.request_export("26umsb5"),
    "status": lambda c, tmp: c.wait_for_export(c.request_export("26umsb5"), timeout=60),
    "upload": lambda c, tmp: c.upload(["u1", "u2"], name="Fuzzed", app_id=360829),
}


@pytest.mark.parametrize("endpoint", list(CALLS))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, encoding=encodings, status=statuses)
def test_a_hostile_answer_is_an_error_never_a_crash(fake: FakeAmplitude, tmp_path: Path, endpoint: str,
                                                    body: bytes, encoding: str, status: int) -> None:
    fake.clear_answers()
    payload, headers = encode(body, encoding)
    fake.answer(endpoint, status, payload, headers=headers, times=2)
    with client(fake) as amplitude:
        try:
            CALLS[endpoint](amplitude, tmp_path)
        except (AmplitudeError, InputError) as exc:
            assert str(exc) and "Traceback" not in str(exc)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, encoding=encodings)
def test_a_hostile_export_file_never_replaces_the_destination(fake: FakeAmplitude, tmp_path: Path,
                                                              body: bytes, encoding: str) -> None:
    fake.clear_answers()
    payload, headers = encode(body, encoding)
    fake.answer("file", 200, payload, headers=headers, times=2)
    dest = tmp_path / "c.csv"
    dest.write_bytes(b"previous download\n")
    with client(fake) as amplitude:
        try:
            result = amplitude.download("26umsb5", dest)
        except (AmplitudeError, InputError):
            assert dest.read_bytes() == b"previous download\n"
        else:  # accepted: a whole export, at least 90 % of the listed 3 users
            text = dest.read_bytes()
            assert result.users >= 3 and text.endswith((b"\n", b"\r")) and result.bytes == len(text)
    assert [p.name for p in tmp_path.iterdir()] == ["c.csv"]  # no temporary file left


def test_the_fuzzed_export_can_be_accepted(fake: FakeAmplitude, tmp_path: Path) -> None:
    """The property above is not vacuous: a whole export is accepted through the same path."""
    fake.clear_answers()
    fake.answer("file", 200, gzip.compress(export_csv(fake.members["26umsb5"], props=False)),
                headers={"Content-Encoding": "gzip"})
    with client(fake) as amplitude:
        assert amplitude.download("26umsb5", tmp_path / "c.csv").users == 3

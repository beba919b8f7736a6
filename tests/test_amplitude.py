"""The Behavioral Cohorts client against a local fake of Amplitude, and the export reader."""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote, quote_plus

import httpx
import pytest

from portalspec.amplitude import REGIONS, AmplitudeClient, ExportRow, RetryNotice, read_export
from portalspec.diagnostics import AmplitudeError, InputError
from portalspec.retry import RetryPolicy

from .fake_amplitude import API_KEY, MEMBERS, SECRET_KEY, FakeAmplitude, export_csv, fake_amplitude  # noqa: F401


class FakeTime:
    """A clock that only moves when slept on: backoff and polling cost no wall-clock time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def client_for(fake: FakeAmplitude, fake_time: FakeTime, *, secret: str = SECRET_KEY,
               retry: RetryPolicy | None = None, notices: list[RetryNotice] | None = None) -> AmplitudeClient:
    return AmplitudeClient(API_KEY, secret, base_url=fake.url, retry=retry or RetryPolicy(jitter=0),
                           sleep=fake_time.sleep, clock=fake_time.clock,
                           on_retry=notices.append if notices is not None else None)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


# --- listing ------------------------------------------------------------------------------

def test_list_cohorts_reads_the_useful_fields(fake_amplitude: FakeAmplitude, fake_time: FakeTime) -> None:
    with client_for(fake_amplitude, fake_time) as client:
        cohorts = client.list_cohorts()
    assert [c.id for c in cohorts] == ["26umsb5", "s7xeonk"]
    loyal, old = cohorts
    assert loyal.name == "Loyal buyers" and loyal.size == 3 and loyal.app_id == "360829"
    assert loyal.owners == ("dataadmin@example.com",) and loyal.published and not loyal.archived
    assert loyal.last_computed == datetime(2022, 2, 4, 20, 24, 52, tzinfo=timezone.utc)  # epoch seconds
    assert old.archived and old.description == ""
    assert old.last_computed == datetime(2022, 2, 4, 20, 25, 32, tzinfo=timezone.utc)  # epoch milliseconds
    assert loyal.to_dict()["last_computed"] == "2022-02-04T20:24:52Z"


def test_regions_choose_the_documented_hosts() -> None:
    with AmplitudeClient("k", "s") as us, AmplitudeClient("k", "s", region="eu") as eu, \
            AmplitudeClient("k", "s", region="eu", base_url="http://127.0.0.1:9/") as local:
        assert us.base_url == "https://amplitude.com"
        assert eu.base_url == REGIONS["eu"] == "https://analytics.eu.amplitude.com"
        assert local.base_url == "http://127.0.0.1:9"
    with pytest.raises(AmplitudeError, match="unknown Amplitude region 'mars'"):
        AmplitudeClient("k", "s", region="mars")
    with pytest.raises(AmplitudeError, match="must look like"):
        AmplitudeClient("k", "s", base_url="amplitude.com")
    with pytest.raises(AmplitudeError, match="API key and its secret key"):
        AmplitudeClient("k", "")


# --- exporting ----------------------------------------------------------------------------

def test_download_polls_until_completed_then_writes_plain_csv(fake_amplitude: FakeAmplitude, fake_time: FakeTime,
                                                              tmp_path: Path) -> None:
    fake_amplitude.polls = 3
    seen: list[tuple[float, str]] = []
    dest = tmp_path / "cohort.csv"
    with client_for(fake_amplitude, fake_time) as client:
        result = client.download("26umsb5", dest, progress=lambda elapsed, status: seen.append((elapsed, status)))
    assert [s for _, s in seen] == ["JOB INPROGRESS"] * 3 + ["JOB COMPLETED"]
    assert fake_time.sleeps == [5.0, 7.5, 11.25]  # polls slow down to spare the rate limit
    assert [e for e, _ in seen] == [0.0, 5.0, 12.5, 23.75]
    assert len(fake_amplitude.calls("request")) == 1 and fake_amplitude.calls("request")[0].query == {"props": "0"}
    assert dest.read_bytes() == export_csv(MEMBERS["26umsb5"], props=False)
    assert (result.users, result.columns, result.request_id) == (3, ("amplitude_id", "user_id"), "req-1")
    assert result.path == str(dest) and result.bytes == dest.stat().st_size
    assert leftovers(tmp_path) == []


def test_the_redirect_to_the_presigned_link_carries_no_credentials(fake_amplitude: FakeAmplitude,
                                                                  fake_time: FakeTime, tmp_path: Path) -> None:
    with client_for(fake_amplitude, fake_time) as client:
        client.download("26umsb5", tmp_path / "c.csv")
    (file_call,) = fake_amplitude.calls("file")
    (link_call,) = fake_amplitude.calls("presigned")
    assert file_call.headers["authorization"].startswith("Basic ")
    assert "authorization" not in link_call.headers
    assert link_call.query["X-Amz-Signature"] == "fakesignature"


@pytest.mark.parametrize("compression", ["gzip", "content-encoding", "none"])
@pytest.mark.parametrize("redirect", [True, False])
def test_the_file_is_written_uncompressed_however_it_arrives(fake_amplitude: FakeAmplitude, fake_time: FakeTime,
                                                             tmp_path: Path, compression: str, redirect: bool) -> None:
    fake_amplitude.compression, fake_amplitude.redirect = compression, redirect
    dest = tmp_path / "c.csv"
    with client_for(fake_amplitude, fake_time) as client:
        client.download("26umsb5", dest, props=True)
    assert dest.read_bytes() == export_csv(MEMBERS["26umsb5"], props=True)
    assert len(fake_amplitude.calls("presigned")) == (1 if redirect else 0)


def test_props_adds_one_column_per_property(fake_amplitude: FakeAmplitude, fake_time: FakeTime,
                                            tmp_path: Path) -> None:
    dest = tmp_path / "c.csv"
    with client_for(fake_amplitude, fake_time) as client:
        result = client.download("26umsb5", dest, props=True)
    assert fake_amplitude.calls("request")[0].query == {"props": "1"}
    assert result.columns == ("amplitude_id", "user_id", "country", "plan")
    rows = list(read_export(dest))
    assert rows == [
        ExportRow("356896327775", "alice@example.com", {"country": "France", "plan": "pro"}),
        ExportRow("356893815359", "", {"country": "Chile", "plan": ""}),
        ExportRow("356893815360", 'bob "the builder", jr', {"country": "Multi\nline", "plan": "free"}),
    ]
    assert [r.line for r in rows] == [2, 3, 4]


def test_an_empty_cohort_is_a_header_and_no_users(fake_amplitude: FakeAmplitude, fake_time: FakeTime,
                                                  tmp_path: Path) -> None:
    with client_for(fake_amplitude, fake_time) as client:
        result = client.download("s7xeonk", tmp_path / "c.csv")
    assert result.users == 0
    assert (tmp_path / "c.csv").read_text() == '"amplitude_id","user_id"\n'


def test_the_seed_status_path_and_states_are_tolerated(fake_time: FakeTime, tmp_path: Path) -> None:
    with FakeAmplitude(seed_variant=True, polls=2) as fake:
        seen: list[str] = []
        with client_for(fake, fake_time) as client:
            result = client.download("26umsb5", tmp_path / "c.csv", progress=lambda e, s: seen.append(s))
            assert result.users == 3
            assert seen == ["queued", "computing", "complete"]
            client.download("26umsb5", tmp_path / "d.csv")  # the working path is remembered
        assert [c.path for c in fake.calls("unknown")] == ["/api/5/cohorts/request-status/req-1"]


def test_a_known_request_id_is_fetched_without_a_new_export(fake_amplitude: FakeAmplitude, fake_time: FakeTime,
                                                           tmp_path: Path) -> None:
    with client_for(fake_amplitude, fake_time) as client:
        request_id = client.request_export("26umsb5")
        result = client.download("26umsb5", tmp_path / "c.csv", request_id=request_id)
    assert len(fake_amplitude.calls("request")) == 1
    assert result.request_id == request_id and result.users == 3


# --- retries ------------------------------------------------------------------------------

def test_429_is_retried_after_the_seconds_amplitude_asks(fake_amplitude: FakeAmplitude, fake_time: FakeTime) -> None:
    fake_amplitude.fail("list", 429, times=2, retry_after="7")
    notices: list[RetryNotice] = []
    with client_for(fake_amplitude, fake_time, notices=notices) as client:
        assert len(client.list_cohorts()) == 2
    assert fake_time.sleeps == [7.0, 7.0]  # Retry-After wins over the 1 s, 2 s backoff
    assert len(fake_amplitude.calls("list")) == 3
    assert [(n.retry, n.delay) for n in notices] == [(1, 7.0), (2, 7.0)]
    assert "HTTP 429" in notices[0].reason and notices[0].action == "listing cohorts"


def test_500_is_retried_with_backoff_then_succeeds(fake_amplitude: FakeAmplitude, fake_time: FakeTime,
                                                   tmp_path: Path) -> None:
    fake_amplitude.polls = 0
    fake_amplitude.fail("file", 500, times=2)
    with client_for(fake_amplitude, fake_time) as client:
        result = client.download("26umsb5", tmp_path / "c.csv")
    assert fake_time.sleeps == [1.0, 2.0]
    assert len(fake_amplitude.calls("file")) == 3 and result.users == 3


def test_an_expired_presigned_link_is_fetched_again(fake_amplitude: FakeAmplitude, fake_time: FakeTime,
                                                    tmp_path: Path) -> None:
    fake_amplitude.polls = 0
    fake_amplitude.fail("presigned", 403, times=1, body="<Error><Code>AccessDenied</Code></Error>")
    with client_for(fake_amplitude, fake_time) as client:
        assert client.download("26umsb5", tmp_path / "c.csv").users == 3
    assert len(fake_amplitude.calls("file")) == 2  # a fresh link from Amplitude


def test_retries_end_in_a_clear_error(fake_amplitude: FakeAmplitude, fake_time: FakeTime) -> None:
    fake_amplitude.fail("list", 503, times=5, body='{"error": "Service Unavailable"}')
    with client_for(fake_amplitude, fake_time, retry=RetryPolicy(max_retries=2, jitter=0)) as client:
        with pytest.raises(AmplitudeError) as caught:
            client.list_cohorts()
    assert str(caught.value) == ("Amplitude answered HTTP 503: Service Unavailable while listing cohorts; "
                                 "gave up after 2 retries")
    assert caught.value.status == 503 and len(fake_amplitude.calls("list")) == 3


def test_rate_limit_exhaustion_names_the_limits(fake_amplitude: FakeAmplitude, fake_time: FakeTime) -> None:
    fake_amplitude.fail("request", 429, times=3)
    with client_for(fake_amplitude, fake_time, retry=RetryPolicy(max_retries=0)) as client:
        with pytest.raises(AmplitudeError, match=r"HTTP 429.*60 cohort requests per 10 minutes"):
            client.request_export("26umsb5")
    assert fake_time.sleeps == []


def test_connection_errors_are_retried_then_reported(fake_time: FakeTime) -> None:
    with FakeAmplitude() as fake:
        url = fake.url  # a port that was just closed
    with AmplitudeClient(API_KEY, SECRET_KEY, base_url=url, retry=RetryPolicy(max_retries=1, jitter=0),
                         sleep=fake_time.sleep, clock=fake_time.clock) as client:
        with pytest.raises(AmplitudeError, match=rf"^cannot reach {url} \(.+\) while listing cohorts; "
                                                 r"gave up after 1 retry$"):
            client.list_cohorts()
    assert fake_time.sleeps == [1.0]


# --- final errors -------------------------------------------------------------------------

def test_401_says_to_check_the_keys_and_never_shows_the_secret(fake_amplitude: FakeAmplitude,
                                                              fake_time: FakeTime) -> None:
    with client_for(fake_amplitude, fake_time, secret="wrong-secret-999") as client:
        with pytest.raises(AmplitudeError) as caught:
            client.list_cohorts()
    message = str(caught.value)
    assert "HTTP 401" in message and "check the API key and secret key" in message
    assert "Invalid API key or secret key" in message  # Amplitude's own words
    assert "wrong-secret-999" not in message and API_KEY not in message
    assert caught.value.status == 401 and fake_time.sleeps == [] and len(fake_amplitude.calls("list")) == 1


def test_an_echoed_key_is_masked_in_amplitudes_message(fake_amplitude: FakeAmplitude, fake_time: FakeTime) -> None:
    fake_amplitude.fail("list", 400, body=f'{{"error": "bad key {API_KEY}"}}')
    with client_for(fake_amplitude, fake_time) as client:
        with pytest.raises(AmplitudeError, match=r"HTTP 400 while listing cohorts: bad key \*{8}$"):
            client.list_cohorts()


def test_other_4xx_names_status_and_message(fake_amplitude: FakeAmplitude, fake_time: FakeTime,
                                            tmp_path: Path) -> None:
    dest = tmp_path / "c.csv"
    with client_for(fake_amplitude, fake_time) as client:
        with pytest.raises(AmplitudeError) as caught:
            client.download("nope123", dest)
    assert str(caught.value).startswith("Amplitude answered HTTP 404 while requesting an export of cohort nope123: "
                                        "Cohort nope123 not found")
    assert "is nope123 a cohort of this project" in str(caught.value)
    assert not dest.exists() and leftovers(tmp_path) == []


def test_a_failed_job_is_a_clear_error(fake_amplitude: FakeAmplitude, fake_time: FakeTime, tmp_path: Path) -> None:
    fake_amplitude.job_status = "JOB FAILED"
    dest = tmp_path / "c.csv"
    with client_for(fake_amplitude, fake_time) as client:
        with pytest.raises(AmplitudeError, match="could not prepare export req-1: JOB FAILED; request a new export"):
            client.download("26umsb5", dest)
    assert fake_amplitude.calls("file") == [] and not dest.exists() and leftovers(tmp_path) == []


def test_polling_gives_up_at_the_timeout(fake_amplitude: FakeAmplitude, fake_time: FakeTime, tmp_path: Path) -> None:
    fake_amplitude.polls = 10_000
    dest = tmp_path / "c.csv"
    dest.write_text("previous download\n")
    with client_for(fake_amplitude, fake_time) as client:
        with pytest.raises(AmplitudeError) as caught:
            client.download("26umsb5", dest, timeout=60)
    assert "export req-1 is still JOB INPROGRESS after 60s (timeout 60s)" in str(caught.value)
    assert caught.value.request_id == "req-1"
    assert sum(fake_time.sleeps) == 60.0 and max(fake_time.sleeps) <= 30.0
    assert dest.read_text() == "previous download\n" and leftovers(tmp_path) == []


def test_a_malformed_file_never_replaces_the_destination(fake_amplitude: FakeAmplitude, fake_time: FakeTime,
                                                        tmp_path: Path) -> None:
    fake_amplitude.file_body = b'"amplitude_id","user_id"\n"1","a"\n"2","b","extra"\n'
    dest = tmp_path / "c.csv"
    dest.write_text("previous download\n")
    with client_for(fake_amplitude, fake_time) as client:
        with pytest.raises(AmplitudeError, match=r"not a well-formed cohort export \(export req-1:3: expected 2 "
                                                 r"columns as in the header, found 3\); nothing was written to"):
            client.download("26umsb5", dest)
    assert dest.read_text() == "previous download\n" and leftovers(tmp_path) == []


def test_an_unwritable_destination_fails_before_an_export_is_requested(fake_amplitude: FakeAmplitude,
                                                                      fake_time: FakeTime, tmp_path: Path) -> None:
    with client_for(fake_amplitude, fake_time) as client:
        with pytest.raises(InputError, match="cannot write there"):
            client.download("26umsb5", tmp_path / "missing-dir" / "c.csv")
        with pytest.raises(InputError, match="is a directory"):
            client.download("26umsb5", tmp_path)
    assert fake_amplitude.calls("request") == []


# --- reading exports ----------------------------------------------------------------------

def write(tmp_path: Path, text: str, name: str = "export.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_read_export_reads_ids_and_properties(tmp_path: Path) -> None:
    path = write(tmp_path, '\ufeff"amplitude_id","user_id","gp:plan"\n"1","u1","pro"\n\n"2","",""\n')
    assert list(read_export(path)) == [ExportRow("1", "u1", {"gp:plan": "pro"}), ExportRow("2", "", {"gp:plan": ""})]


def test_read_export_accepts_gzip(tmp_path: Path) -> None:
    path = tmp_path / "export.csv.gz"
    path.write_bytes(gzip.compress(b'"amplitude_id","user_id"\n"1","u1"\n'))
    assert list(read_export(path)) == [ExportRow("1", "u1", {})]


@pytest.mark.parametrize("text, message", [
    ('"amplitude_id","user_id"\n"1","u1"\n"2"\n', r"export\.csv:3: expected 2 columns as in the header, found 1"),
    ('"amplitude_id","user_id"\n"1","multi\nline"\n"2","u2","x"\n',
     r"export\.csv:4: expected 2 columns as in the header, found 3"),
    ('"amplitude_id","user_id"\n"1","u1"\n"2","u2\n',
     r"export\.csv:3: unterminated quote: a quoted field of the record starting on this line never closes"),
    ('"amplitude_id","user_id"\n"1","u1"\n"2","u2\n"3","u3"\n',
     r"export\.csv:3: malformed CSV: the record starting on this line runs on to line 4, where it breaks "
     r"\(text after a closing quote .*\); is a quote here unterminated\?"),
    ('"amplitude_id","user_id"\n"1","u"1"\n', r"export\.csv:2: malformed CSV: text after a closing quote"),
    ('"amplitude_id","email"\n"1","a@b"\n', r"export\.csv:1: the header lacks user_id; .*found: amplitude_id, email"),
    ('user_id\n"u1"\n', r"export\.csv:1: the header lacks amplitude_id"),
    ('"amplitude_id","user_id","user_id"\n', r"export\.csv:1: column user_id appears twice"),
    ("", r"export\.csv: empty file"),
])
def test_read_export_reports_the_line_of_malformed_csv(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError, match=message):
        list(read_export(path))


def test_read_export_checks_the_header_before_iteration(tmp_path: Path) -> None:
    path = write(tmp_path, '"id","name"\n')
    with pytest.raises(InputError, match="header lacks amplitude_id and user_id"):
        read_export(path)  # not even iterated
    with pytest.raises(InputError, match="no such file"):
        read_export(tmp_path / "absent.csv")


def test_read_export_is_lazy(tmp_path: Path) -> None:
    path = write(tmp_path, '"amplitude_id","user_id"\n"1","u1"\n"2","u2","broken"\n')
    rows: Any = read_export(path)
    assert next(rows) == ExportRow("1", "u1", {})  # the first row comes before the bad one is read
    with pytest.raises(InputError, match=":3:"):
        next(rows)


# --- source integrity: the whole gzip stream, the whole CSV, the listed size ----------------

BIG = [{"amplitude_id": str(100000 + i), "user_id": f"user-{i}"} for i in range(10_000)]


def big_cohort(fake: FakeAmplitude, members: list[dict[str, str]] = BIG, listed: int = 10_000) -> str:
    fake.members["big"] = members
    fake.cohorts.append({"appId": 360829, "id": "big", "name": "Big", "size": listed})
    fake.polls, fake.redirect = 0, False
    return "big"


def gzip_cut_at_row(text: bytes, keep_rows: int) -> bytes:
    """A gzip stream of ``text`` that stops (flushed, no trailer) right after ``keep_rows``
    lines: what decodes is a well-formed CSV, only shorter — the cut a transfer can make."""
    cut = sum(len(line) for line in text.splitlines(keepends=True)[:keep_rows])
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return gzip.compress(b"")[:10] + deflate.compress(text[:cut]) + deflate.flush(zlib.Z_SYNC_FLUSH)


def corrupt_crc(body: bytes) -> bytes:
    return body[:-8] + bytes([body[-8] ^ 0xFF]) + body[-7:]


def _whole(text: bytes) -> bytes:
    return gzip.compress(text)


CUTS = {
    "cut at a row": lambda text: gzip_cut_at_row(text, 6_001),
    "cut anywhere": lambda text: _whole(text)[: len(_whole(text)) // 2],
    "no trailer": lambda text: _whole(text)[:-8],
    "wrong CRC": lambda text: corrupt_crc(_whole(text)),
    "trailing garbage": lambda text: _whole(text) + b"garbage",
    "a second member cut": lambda text: _whole(text) + _whole(b"x\n")[:12],
}


@pytest.mark.parametrize("how", list(CUTS))
@pytest.mark.parametrize("encoding", ["content-encoding", "gzip file"])
def test_a_gzip_stream_that_is_not_whole_is_refused(fake_amplitude: FakeAmplitude, fake_time: FakeTime,
                                                    tmp_path: Path, how: str, encoding: str) -> None:
    """The issue's data loss: a gzip-encoded export cut mid-stream was accepted (httpx's decoder
    does not check the trailer), and the next sync removed 4,000 of 10,000 real members."""
    cohort = big_cohort(fake_amplitude)
    body = CUTS[how](export_csv(BIG, props=False))
    headers = ({"Content-Encoding": "gzip", "Content-Type": "text/csv"} if encoding == "content-encoding"
               else {"Content-Type": "application/gzip"})
    fake_amplitude.answer("file", 200, body, headers=headers, times=2)
    dest = tmp_path / "c.csv"
    dest.write_text("previous download\n")
    with client_for(fake_amplitude, fake_time, retry=RetryPolicy(max_retries=1, jitter=0)) as client:
        with pytest.raises(AmplitudeError, match=r"the cohort file is not valid gzip \(.+\) while downloading export "
                                                 r"req-1; gave up after 1 retry"):
            client.download(cohort, dest, check_size=False)  # the stream alone must be refused
    assert len(fake_amplitude.calls("file")) == 2  # a cut transfer is worth fetching again
    assert dest.read_text() == "previous download\n" and leftovers(tmp_path) == []


def test_a_whole_gzip_stream_of_several_members_is_accepted(fake_amplitude: FakeAmplitude, fake_time: FakeTime,
                                                            tmp_path: Path) -> None:
    text = export_csv(MEMBERS["26umsb5"], props=False)
    fake_amplitude.polls, fake_amplitude.redirect = 0, False
    half = text.index(b"\n") + 1
    body = gzip.compress(gzip.compress(text[:half]) + gzip.compress(text[half:]))  # a gzipped .gz, too
    fake_amplitude.answer("file", 200, body, headers={"Content-Encoding": "gzip", "Content-Type": "application/gzip"})
    with client_for(fake_amplitude, fake_time) as client:
        assert client.download("26umsb5", tmp_path / "c.csv").users == 3
    assert (tmp_path / "c.csv").read_bytes() == text


def test_an_unverifiable_content_encoding_is_refused(fake_amplitude: FakeAmplitude, fake_time: FakeTime,
                                                     tmp_path: Path) -> None:
    fake_amplitude.polls, fake_amplitude.redirect = 0, False
    fake_amplitude.answer("file", 200, b"\x00\x01", headers={"Content-Encoding": "br", "Content-Type": "text/csv"})
    with client_for(fake_amplitude, fake_time) as client:
        with pytest.raises(AmplitudeError, match="Content-Encoding br"):
            client.download("26umsb5", tmp_path / "c.csv")
    assert not (tmp_path / "c.csv").exists() and leftovers(tmp_path) == []
    assert fake_amplitude.calls("file")[0].headers["accept-encoding"] == "gzip"


@pytest.mark.parametrize("body, where", [
    (b"amplitude_id,user_id\n1,alice\n2,bo", r"export req-1:3: the file ends in the middle of a line"),
    (b'"amplitude_id","user_id"\n"1","alice"\n"2","bo', r"export req-1:3: unterminated quote"),
    (b'"amplitude_id","user_id"', r"export req-1:1: the file ends in the middle of a line"),
])
def test_an_export_cut_inside_its_last_line_is_refused(fake_amplitude: FakeAmplitude, fake_time: FakeTime,
                                                       tmp_path: Path, body: bytes, where: str) -> None:
    fake_amplitude.polls, fake_amplitude.redirect = 0, False
    fake_amplitude.answer("file", 200, body, headers={"Content-Type": "text/csv"})
    dest = tmp_path / "c.csv"
    dest.write_text("previous download\n")
    with client_for(fake_amplitude, fake_time) as client:
        with pytest.raises(AmplitudeError, match=rf"not a well-formed cohort export \({where}"):
            client.download("26umsb5", dest, check_size=False)
    assert dest.read_text() == "previous download\n" and leftovers(tmp_path) == []


def test_an_export_much_smaller_than_the_listed_size_is_refused(fake_amplitude: FakeAmplitude,
                                                                fake_time: FakeTime, tmp_path: Path) -> None:
    cohort = big_cohort(fake_amplitude, BIG[:6_000], listed=10_000)
    dest = tmp_path / "c.csv"
    dest.write_text("previous download\n")
    with client_for(fake_amplitude, fake_time) as client:
        with pytest.raises(AmplitudeError) as caught:
            client.download(cohort, dest)
    assert str(caught.value) == (f"the export of cohort big holds 6,000 users, but Amplitude listed the cohort with "
                                 f"10,000 moments before: fewer than 90% of that looks like a cut-short export, so "
                                 f"nothing was written to {dest}")
    assert caught.value.request_id == "req-1"
    assert dest.read_text() == "previous download\n" and leftovers(tmp_path) == []
    # The listing came first, moments before the export was requested.
    assert [s.endpoint for s in fake_amplitude.requests][:2] == ["list", "request"]


def test_the_size_check_tolerates_a_recomputed_cohort(fake_amplitude: FakeAmplitude, fake_time: FakeTime,
                                                     tmp_path: Path) -> None:
    cohort = big_cohort(fake_amplitude, BIG[:9_000], listed=10_000)  # exactly 90 %
    with client_for(fake_amplitude, fake_time) as client:
        assert client.download(cohort, tmp_path / "a.csv").users == 9_000
        # A size the caller knows wins over the listing, and the share is a parameter.
        with pytest.raises(AmplitudeError, match="holds 9,000 users, but Amplitude listed the cohort with 9,500"):
            client.download(cohort, tmp_path / "b.csv", expected_size=9_500, min_share=0.95)
        assert client.download(cohort, tmp_path / "c.csv", expected_size=1_000_000, check_size=False).users == 9_000
    assert len(fake_amplitude.calls("list")) == 1  # only the first download had to ask


def test_a_cohort_without_a_listed_size_is_not_compared(fake_amplitude: FakeAmplitude, fake_time: FakeTime,
                                                       tmp_path: Path) -> None:
    del fake_amplitude.cohorts[0]["size"]
    with client_for(fake_amplitude, fake_time) as client:
        assert client.download("26umsb5", tmp_path / "c.csv").users == 3


# --- a local export file cut short --------------------------------------------------------

def test_read_export_refuses_a_file_without_its_last_newline(tmp_path: Path) -> None:
    path = write(tmp_path, "amplitude_id,user_id\n1,u1\n2,bo")  # "bob", cut
    rows = read_export(path)
    assert next(rows) == ExportRow("1", "u1", {})
    with pytest.raises(InputError, match=r"export\.csv:3: the file ends in the middle of a line \(no newline after "
                                         r"the last record\): it looks cut short"):
        next(rows)  # the cut row ("bo") is never given


def test_read_export_refuses_a_gzip_file_cut_short(tmp_path: Path) -> None:
    path = tmp_path / "export.csv.gz"
    path.write_bytes(gzip_cut_at_row(export_csv(BIG[:100], props=False), 50))
    with pytest.raises(InputError, match=r"export\.csv\.gz:\d+: cannot read users: Compressed file ended"):
        list(read_export(path))


# --- answers are data, never a crash ------------------------------------------------------

DEEP = b"[" * 100_000


@pytest.mark.parametrize("endpoint, call", [
    ("list", lambda client, tmp: client.list_cohorts()),
    ("request", lambda client, tmp: client.request_export("26umsb5")),
    ("status", lambda client, tmp: client.download("26umsb5", tmp / "c.csv", check_size=False)),
])
def test_deeply_nested_answers_are_an_amplitude_error(fake_amplitude: FakeAmplitude, fake_time: FakeTime,
                                                     tmp_path: Path, endpoint: str, call: Any) -> None:
    fake_amplitude.answer(endpoint, 200, DEEP)
    with client_for(fake_amplitude, fake_time) as client:
        with pytest.raises(AmplitudeError, match=r"unexpected answer from Amplitude while .+: the answer is nested "
                                                 r"too deeply \(more than 64 levels\)"):
            call(client, tmp_path)
    assert leftovers(tmp_path) == []


def test_a_deeply_nested_error_body_is_quoted_not_parsed(fake_amplitude: FakeAmplitude, fake_time: FakeTime) -> None:
    fake_amplitude.answer("list", 400, DEEP)
    with client_for(fake_amplitude, fake_time) as client:
        with pytest.raises(AmplitudeError, match=r"HTTP 400 while listing cohorts: \[\[\[+…$"):
            client.list_cohorts()


def test_an_answer_over_the_cap_is_refused_unread(fake_amplitude: FakeAmplitude, fake_time: FakeTime) -> None:
    fake_amplitude.answer("list", 200, b'{"cohorts": [' + b'{"id": "x"},' * 10_000 + b'{"id": "y"}]}')
    with AmplitudeClient(API_KEY, SECRET_KEY, base_url=fake_amplitude.url, sleep=fake_time.sleep,
                         clock=fake_time.clock, max_answer_bytes=100_000) as client:
        with pytest.raises(AmplitudeError, match=r"while listing cohorts: more than 100,000 bytes"):
            client.list_cohorts()


# --- time bounds: the status poll ends by its timeout ---------------------------------------

def test_status_retries_end_by_the_timeout(fake_amplitude: FakeAmplitude, fake_time: FakeTime,
                                           tmp_path: Path) -> None:
    """A Retry-After (or a backoff) longer than what is left of the timeout is not waited out."""
    fake_amplitude.fail("status", 503, times=50, retry_after="100")
    with client_for(fake_amplitude, fake_time) as client:
        with pytest.raises(AmplitudeError) as caught:
            client.download("26umsb5", tmp_path / "c.csv", timeout=60, check_size=False)
    message = str(caught.value)
    assert message.startswith("timeout reached: no status for export req-1 after 0s (timeout 60s; the last poll: "
                              "Amplitude answered HTTP 503: injected failure 503)")
    assert caught.value.request_id == "req-1"
    assert fake_time.now <= 60 and len(fake_amplitude.calls("status")) == 1


class SlowAmplitude:
    """An httpx transport for the status poll whose answers take ``seconds`` of fake time each,
    recording the timeout each request was given."""

    def __init__(self, fake_time: FakeTime, seconds: float, *, trickle: bool = False) -> None:
        self.time, self.seconds, self.trickle = fake_time, seconds, trickle
        self.timeouts: list[tuple[float, float]] = []  # (time left when sent, read timeout given)
        self.deadline = 0.0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if "/request-status/" not in request.url.path:
            return httpx.Response(202, json={"request_id": "r1", "cohort_id": "c1"})
        self.timeouts.append((self.deadline - self.time.now, request.extensions["timeout"]["read"]))
        body = b'{"async_status": "JOB INPROGRESS"}'
        if not self.trickle:
            self.time.now += self.seconds
            return httpx.Response(202, content=body)

        def chunks() -> Iterator[bytes]:
            for byte in body:
                self.time.now += self.seconds
                yield bytes([byte])
        return httpx.Response(202, content=chunks())


def test_each_poll_request_is_bounded_by_what_is_left_of_the_timeout(fake_time: FakeTime) -> None:
    slow = SlowAmplitude(fake_time, 25.0)
    slow.deadline = 60.0
    with httpx.Client(transport=httpx.MockTransport(slow)) as http, \
            AmplitudeClient(API_KEY, SECRET_KEY, sleep=fake_time.sleep, clock=fake_time.clock, http=http) as client:
        with pytest.raises(AmplitudeError, match=r"^timeout reached: export r1 is still JOB INPROGRESS after 60s "
                                                 r"\(timeout 60s\)"):
            client.wait_for_export("r1", timeout=60)
    assert [left for left, _ in slow.timeouts] == [60.0, 30.0]
    assert all(given <= left for left, given in slow.timeouts)
    assert fake_time.now == 60.0


def test_a_trickling_poll_answer_ends_at_the_timeout(fake_time: FakeTime) -> None:
    slow = SlowAmplitude(fake_time, 1.0, trickle=True)  # 1 s a byte: the answer would take 34 s
    with httpx.Client(transport=httpx.MockTransport(slow)) as http, \
            AmplitudeClient(API_KEY, SECRET_KEY, sleep=fake_time.sleep, clock=fake_time.clock, http=http) as client:
        with pytest.raises(AmplitudeError, match=r"^timeout reached: no status for export r1 after 11s \(timeout "
                                                 r"10s; the last poll: the answer was still arriving\)"):
            client.wait_for_export("r1", timeout=10)
    assert fake_time.now <= 11.0  # stopped at the first byte past the deadline


# --- echoed credentials ---------------------------------------------------------------------

ODD_KEY, ODD_SECRET = "ak/1+2=é?x", 'sk"\\/9&z'


def echoes(api_key: str, secret: str) -> list[str]:
    """Ways an answer may spell the credentials back."""
    basic = base64.b64encode(f"{api_key}:{secret}".encode()).decode()
    found = []
    for value in (api_key, secret):
        found += [value, json.dumps(value)[1:-1], json.dumps(value)[1:-1].replace("/", "\\/"),
                  json.dumps(value, ensure_ascii=False)[1:-1], quote(value, safe=""), quote(value, safe="").lower(),
                  quote_plus(value)]
    return found + [basic]


def test_every_spelling_of_an_echoed_credential_is_masked(fake_amplitude: FakeAmplitude, fake_time: FakeTime) -> None:
    fake_amplitude.api_key, fake_amplitude.secret_key = ODD_KEY, ODD_SECRET
    spelled = echoes(ODD_KEY, ODD_SECRET)
    # Long enough that the message is cut: the cut must come after the masking.
    fake_amplitude.answer("list", 401, "x" * 150 + " ".join(spelled), headers={"Content-Type": "text/plain"})
    fake_amplitude.answer("list", 400, json.dumps({"error": {"message": "bad: " + " ".join(spelled)}}))
    with AmplitudeClient(ODD_KEY, ODD_SECRET, base_url=fake_amplitude.url, sleep=fake_time.sleep,
                         clock=fake_time.clock) as client:
        for _ in range(2):
            with pytest.raises(AmplitudeError) as caught:
                client.list_cohorts()
            message = str(caught.value)
            assert "********" in message
            for spelling in spelled:
                for start in range(len(spelling) - 3):  # no fragment of four characters either
                    assert spelling[start:start + 4] not in message, (spelling, message)

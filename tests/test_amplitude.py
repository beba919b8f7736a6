"""The Behavioral Cohorts client against a local fake of Amplitude, and the export reader."""

from __future__ import annotations

import gzip
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

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

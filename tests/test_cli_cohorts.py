"""``portalspec cohorts list|download`` against the local fake of Amplitude."""

from __future__ import annotations

import base64
import re
import functools
import json
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

import pytest
from click.testing import CliRunner, Result

import portalspec.cli.cohorts as cohorts_cli
from portalspec.amplitude import AmplitudeClient, RetryNotice
from portalspec.cli import main

from .fake_amplitude import API_KEY, MEMBERS, SECRET_KEY, FakeAmplitude, export_csv, fake_amplitude  # noqa: F401

CREDENTIALS = {"AMPLITUDE_API_KEY": API_KEY, "AMPLITUDE_SECRET_KEY": SECRET_KEY}
NO_CREDENTIALS: dict[str, str | None] = {"AMPLITUDE_API_KEY": None, "AMPLITUDE_SECRET_KEY": None}


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The CLI's client sleeps into this list, on a clock that only moves when slept on."""
    slept: list[float] = []
    monkeypatch.setattr(cohorts_cli, "AmplitudeClient", functools.partial(
        AmplitudeClient, sleep=slept.append, clock=lambda: sum(slept)))
    yield slept


def run(*args: str, env: dict[str, str | None] | None = None) -> Result:
    result = CliRunner().invoke(main, ["cohorts", *args], env=CREDENTIALS if env is None else env)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_list_as_text(fake_amplitude: FakeAmplitude, sleeps: list[float]) -> None:
    result = run("list", "--amplitude-url", fake_amplitude.url)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "SIZE", "LAST", "COMPUTED", "NAME"]
    assert lines[1].split() == ["26umsb5", "3", "2022-02-04", "20:24", "UTC", "Loyal", "buyers"]
    assert lines[2].endswith("Old trial users (archived)")
    assert fake_amplitude.calls("list")[0].headers["authorization"].startswith("Basic ")


def test_list_as_json(fake_amplitude: FakeAmplitude, sleeps: list[float]) -> None:
    result = run("list", "--format", "json", "--amplitude-url", fake_amplitude.url)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [c["id"] for c in data] == ["26umsb5", "s7xeonk"]
    assert data[0] == {"id": "26umsb5", "name": "Loyal buyers", "description": "Bought twice in 30 days", "size": 3,
                       "last_computed": "2022-02-04T20:24:52Z", "archived": False, "published": True,
                       "owners": ["dataadmin@example.com"], "app_id": "360829"}


def test_download_writes_the_file(fake_amplitude: FakeAmplitude, sleeps: list[float], tmp_path: Path) -> None:
    dest = tmp_path / "loyal.csv"
    result = run("download", "26umsb5", "-o", str(dest), "--props", "--amplitude-url", fake_amplitude.url)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote 3 users to {dest}\n"
    assert dest.read_bytes() == export_csv(MEMBERS["26umsb5"], props=True)
    # Not a terminal: plain progress lines at most every 10 s (polls at 0, 5 and 12.5 s).
    assert result.stderr == ("waiting for Amplitude to prepare cohort 26umsb5: JOB INPROGRESS (0s)\n"
                             "waiting for Amplitude to prepare cohort 26umsb5: JOB COMPLETED (12s)\n")
    assert sleeps == [5.0, 7.5]


def test_credentials_can_be_options(fake_amplitude: FakeAmplitude, sleeps: list[float]) -> None:
    result = run("list", "--api-key", API_KEY, "--secret-key", SECRET_KEY, "--amplitude-url", fake_amplitude.url,
                 env=NO_CREDENTIALS)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("env, missing", [
    (NO_CREDENTIALS, "give an API key (--api-key or AMPLITUDE_API_KEY) and a secret key"),
    ({"AMPLITUDE_API_KEY": API_KEY, "AMPLITUDE_SECRET_KEY": ""}, "give a secret key (--secret-key or "),
])
def test_missing_credentials_are_a_clear_error(fake_amplitude: FakeAmplitude, env: dict[str, str | None],
                                              missing: str, tmp_path: Path) -> None:
    result = run("download", "26umsb5", "-o", str(tmp_path / "c.csv"), "--amplitude-url", fake_amplitude.url, env=env)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: missing Amplitude credentials: " + missing)
    assert len(result.stderr.splitlines()) == 1
    assert fake_amplitude.requests == [] and not (tmp_path / "c.csv").exists()


def test_rejected_credentials_exit_1_without_the_secret(fake_amplitude: FakeAmplitude, sleeps: list[float]) -> None:
    result = run("list", "--amplitude-url", fake_amplitude.url,
                 env={"AMPLITUDE_API_KEY": API_KEY, "AMPLITUDE_SECRET_KEY": "not-the-secret-42"})
    assert result.exit_code == 1
    assert result.stderr.startswith("error: Amplitude rejected the credentials (HTTP 401) while listing cohorts")
    assert "check the API key and secret key" in result.stderr
    assert "not-the-secret-42" not in result.output and len(result.stderr.splitlines()) == 1


def test_an_unreachable_amplitude_is_one_line(sleeps: list[float]) -> None:
    with FakeAmplitude() as fake:
        url = fake.url  # closed once the block ends
    result = run("list", "--amplitude-url", url, "--max-retries", "2")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: cannot reach {url}")
    assert "gave up after 2 retries" in errors[0]
    assert result.stderr.count("warning: cannot reach") == 2
    assert len(sleeps) == 2 and 0.8 <= sleeps[0] <= 1.2 and 1.6 <= sleeps[1] <= 2.4  # 1 s, 2 s with jitter


def test_a_bad_amplitude_url_is_a_clear_error() -> None:
    result = run("list", "--amplitude-url", "localhost:8080")
    assert result.exit_code == 1
    assert result.stderr == "error: Amplitude URL 'localhost:8080' must look like https://host[:port]\n"


def test_rate_limiting_is_reported_while_retrying(fake_amplitude: FakeAmplitude, sleeps: list[float]) -> None:
    fake_amplitude.fail("list", 429, retry_after="3")
    result = run("list", "--format", "json", "--amplitude-url", fake_amplitude.url)
    assert result.exit_code == 0, result.output
    assert sleeps == [3.0]
    assert "warning: Amplitude is rate limiting (HTTP 429)" in result.stderr
    assert "while listing cohorts; retry 1 of 8 in 3s" in result.stderr
    assert len(json.loads(result.stdout)) == 2


def test_a_timed_out_export_can_be_fetched_later(fake_amplitude: FakeAmplitude, sleeps: list[float],
                                                 tmp_path: Path) -> None:
    fake_amplitude.polls = 4
    dest = tmp_path / "c.csv"
    first = run("download", "26umsb5", "-o", str(dest), "--timeout", "10", "--amplitude-url", fake_amplitude.url)
    assert first.exit_code == 1 and not dest.exists()
    assert "export req-1 is still JOB INPROGRESS after 10s" in first.stderr
    assert "add --request-id req-1 to fetch it without requesting a new one" in first.stderr
    second = run("download", "26umsb5", "-o", str(dest), "--request-id", "req-1", "--amplitude-url", fake_amplitude.url)
    assert second.exit_code == 0, second.output
    assert len(fake_amplitude.calls("request")) == 1 and dest.read_bytes() == export_csv(MEMBERS["26umsb5"], False)


def test_plain_progress_is_throttled(capsys: pytest.CaptureFixture[str]) -> None:
    console = cohorts_cli._Console(tty=False, every=10)
    update = console.progress("waiting")
    for elapsed in (0, 4, 9.9, 10, 15, 25):
        update(elapsed, "JOB INPROGRESS")
    assert capsys.readouterr().err.splitlines() == ["waiting: JOB INPROGRESS (0s)", "waiting: JOB INPROGRESS (10s)",
                                                    "waiting: JOB INPROGRESS (25s)"]


def test_terminal_progress_rewrites_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    console = cohorts_cli._Console(tty=True)
    update = console.progress("waiting")
    update(0, "JOB INPROGRESS")
    update(5, "JOB COMPLETED")
    console.retry(RetryNotice("downloading export r", "Amplitude answered HTTP 502", 2.0, 1, 8))
    err = capsys.readouterr().err
    assert err.startswith("\rwaiting: JOB INPROGRESS (0s)\rwaiting: JOB COMPLETED (5s) \n")
    assert err.endswith("warning: Amplitude answered HTTP 502 while downloading export r; retry 1 of 8 in 2s\n")


def test_a_401_echoing_the_credentials_prints_none_of_them(fake_amplitude: FakeAmplitude, sleeps: list[float]) -> None:
    """The issue: an Amplitude 401 that echoes credentials was printed by `cohorts list`."""
    api_key, secret = "ak/1+2=é?x-9f8e", 'sk"\\/9&z+Q=='
    basic = base64.b64encode(f"{api_key}:{secret}".encode()).decode()
    spelled = []
    for value in (api_key, secret):
        spelled += [value, json.dumps(value)[1:-1], json.dumps(value)[1:-1].replace("/", "\\/"),
                    json.dumps(value, ensure_ascii=False)[1:-1], quote(value, safe=""), quote(value, safe="").lower()]
    spelled.append(basic)
    echo = "Invalid credentials " + "x" * 120 + " " + " | ".join(f"Basic {s}" for s in spelled)
    fake_amplitude.answer("list", 401, echo, headers={"Content-Type": "text/plain"})
    fake_amplitude.answer("list", 401, json.dumps({"error": {"message": echo, "auth": spelled}}))
    for _ in range(2):
        result = run("list", "--amplitude-url", fake_amplitude.url,
                     env={"AMPLITUDE_API_KEY": api_key, "AMPLITUDE_SECRET_KEY": secret})
        assert result.exit_code == 1 and "HTTP 401" in result.stderr and "********" in result.stderr
        for spelling in spelled:
            for start in range(len(spelling) - 4):  # not even five characters of one
                assert spelling[start:start + 5] not in result.output, (spelling, result.output)


def test_the_status_poll_ends_by_the_timeout_with_retries_pending(fake_amplitude: FakeAmplitude,
                                                                  sleeps: list[float], tmp_path: Path) -> None:
    fake_amplitude.fail("status", 503, times=20, retry_after="50")
    result = run("download", "26umsb5", "-o", str(tmp_path / "c.csv"), "--timeout", "30",
                 "--amplitude-url", fake_amplitude.url)
    assert result.exit_code == 1
    assert "error: timeout reached: no status for export req-1 after 0s (timeout 30s" in result.stderr
    assert "add --request-id req-1" in result.stderr
    assert sum(sleeps) <= 30 and not (tmp_path / "c.csv").exists()


# --- upload ------------------------------------------------------------------------------------

def test_upload_round_trips_a_downloaded_cohort(fake_amplitude: FakeAmplitude, sleeps: list[float],
                                                tmp_path: Path) -> None:
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    assert run("download", "26umsb5", "-o", str(first), "--props", "--amplitude-url", fake_amplitude.url).exit_code == 0
    result = run("upload", str(first), "--name", "Loyal buyers (copy)", "--id-type", "amplitude_id", "--owner",
                 "dataadmin@example.com", "--published", "--format", "json", "--amplitude-url", fake_amplitude.url)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report == {"cohort_id": "up00001", "name": "Loyal buyers (copy)", "id_type": "amplitude_id", "ids": 3,
                      "replaced": False, "skipped": 0, "repeated": 0}
    assert fake_amplitude.uploads[0]["published"] is True and fake_amplitude.uploads[0]["app_id"] == 360829
    again = run("download", "up00001", "-o", str(second), "--props", "--amplitude-url", fake_amplitude.url)
    assert again.exit_code == 0, again.output
    assert second.read_bytes() == first.read_bytes()
    assert API_KEY not in result.output + again.output and SECRET_KEY not in result.output + again.output


def test_upload_by_user_id_names_the_users_it_skips(fake_amplitude: FakeAmplitude, sleeps: list[float],
                                                    tmp_path: Path) -> None:
    export = tmp_path / "loyal.csv"
    export.write_bytes(export_csv(MEMBERS["26umsb5"], props=False))
    result = run("upload", str(export), "--name", "Copy", "--app-id", "360829", "--existing-cohort-id", "s7xeonk",
                 "--amplitude-url", fake_amplitude.url)
    assert result.exit_code == 0, result.output
    assert result.stdout == "replaced the members of cohort s7xeonk ('Copy') with 2 ids (user_id)\n"
    assert result.stderr == (f"warning: 1 user(s) in {export} have no user_id and are not uploaded: "
                             "amplitude_id 356893815359 (no user_id)\n")
    assert fake_amplitude.uploads[0]["published"] is False and "owner" not in fake_amplitude.uploads[0]


@pytest.mark.parametrize("text, args, message", [
    ("u1\nu\tx\n", (), r"ids\.txt line 2: the id 'u\\tx' holds a control character \(U\+0009\)"),
    ("1\nuser\n", ("--id-type", "amplitude_id"), r"ids\.txt line 2: the id 'user' is not an Amplitude id"),
    ("u1\n", ("--app-id", "x1"), r"app id 'x1' is not a project id"),
    ("", (), r"no ids to upload"),
])
def test_upload_refuses_bad_input_before_sending(fake_amplitude: FakeAmplitude, sleeps: list[float], tmp_path: Path,
                                                 text: str, args: tuple[str, ...], message: str) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text(text)
    result = run("upload", str(ids), "--name", "x", *args, "--amplitude-url", fake_amplitude.url)
    assert result.exit_code == 1 and len(result.stderr.splitlines()) == 1
    assert re.search(message, result.stderr), result.stderr
    assert fake_amplitude.calls("upload") == []


def test_upload_of_a_missing_file_is_one_line(fake_amplitude: FakeAmplitude, tmp_path: Path) -> None:
    result = run("upload", str(tmp_path / "absent.csv"), "--name", "x", "--amplitude-url", fake_amplitude.url)
    assert result.exit_code == 1 and result.stderr == f"error: {tmp_path / 'absent.csv'}: no such users file\n"


def test_download_exits_1_on_a_gzip_encoded_export_cut_mid_stream(fake_amplitude: FakeAmplitude,
                                                                  sleeps: list[float], tmp_path: Path) -> None:
    """The issue's report: `cohorts download` exited 0 on such a file."""
    from .test_amplitude import BIG, big_cohort, gzip_cut_at_row

    cohort = big_cohort(fake_amplitude)
    body = gzip_cut_at_row(export_csv(BIG, props=False), 6_001)
    fake_amplitude.answer("file", 200, body, headers={"Content-Encoding": "gzip", "Content-Type": "text/csv"},
                          times=3)
    dest = tmp_path / "big.csv"
    result = run("download", cohort, "-o", str(dest), "--max-retries", "2", "--amplitude-url", fake_amplitude.url)
    assert result.exit_code == 1 and not dest.exists()
    assert "error: the cohort file is not valid gzip (the gzip stream ends early" in result.stderr
    assert "gave up after 2 retries" in result.stderr and "add --request-id req-1" in result.stderr

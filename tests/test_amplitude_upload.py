"""``AmplitudeClient.upload`` (``POST /api/3/cohorts/upload``) and the ids a file gives for it,
against the local fake of Amplitude — including a cohort that round-trips: download, upload as
a new cohort, download again, the same members."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from portalspec.amplitude import MAX_UPLOAD_IDS, AmplitudeClient, UploadIds, read_export, read_upload_ids
from portalspec.diagnostics import AmplitudeError, InputError
from portalspec.retry import RetryPolicy

from .fake_amplitude import API_KEY, MEMBERS, SECRET_KEY, FakeAmplitude, export_csv, fake_amplitude  # noqa: F401
from .test_amplitude import FakeTime, client_for, fake_time  # noqa: F401


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the request ------------------------------------------------------------------------------

def test_upload_creates_a_cohort_with_the_documented_body(fake_amplitude: FakeAmplitude, fake_time: FakeTime) -> None:
    with client_for(fake_amplitude, fake_time) as client:
        result = client.upload(["alice@example.com", "zoë", "alice@example.com"], name="Re-imported", app_id="360829",
                               owner="dataadmin@example.com", published=True)
        listed = {c.id: c for c in client.list_cohorts()}
    assert (result.cohort_id, result.name, result.id_type, result.ids, result.replaced) == (
        "up00001", "Re-imported", "user_id", 2, False)
    (call,) = fake_amplitude.calls("upload")
    assert call.method == "POST" and call.headers["content-type"] == "application/json"
    assert call.headers["authorization"].startswith("Basic ")
    assert fake_amplitude.uploads == [{"name": "Re-imported", "app_id": 360829, "id_type": "BY_USER_ID",
                                       "ids": ["alice@example.com", "zoë"], "published": True,
                                       "owner": "dataadmin@example.com"}]
    assert listed["up00001"].size == 2 and listed["up00001"].name == "Re-imported"


def test_the_project_id_comes_from_the_listing_when_not_given(fake_amplitude: FakeAmplitude,
                                                              fake_time: FakeTime) -> None:
    with client_for(fake_amplitude, fake_time) as client:
        client.upload(["356896327775"], name="By amp id", id_type="amplitude_id")
        fake_amplitude.cohorts[1]["appId"] = 999
        with pytest.raises(InputError, match=r"give the project's id \(app id, --app-id\).*names 2 projects"):
            client.upload(["u1"], name="Ambiguous")
        # Replacing a cohort: that cohort's project.
        result = client.upload(["u1"], name="Old trial users", existing_cohort_id="s7xeonk")
    assert [u["app_id"] for u in fake_amplitude.uploads] == [360829, 999]
    assert fake_amplitude.uploads[0]["id_type"] == "BY_AMP_ID" and "owner" not in fake_amplitude.uploads[0]
    assert result.replaced and result.cohort_id == "s7xeonk"
    assert fake_amplitude.uploads[1]["existing_cohort_id"] == "s7xeonk"
    assert [m["user_id"] for m in fake_amplitude.members["s7xeonk"]] == ["u1"]


@pytest.mark.parametrize("ids, id_type, message", [
    ([""], "user_id", r"^id 1: the id is empty$"),
    (["ok", "  "], "user_id", r"^id 2: the id is empty$"),
    (["a\nb"], "user_id", r"^id 1: the id 'a\\nb' holds a control character \(U\+000A\)"),
    (["a\u2028b"], "user_id", r"control character \(U\+2028\)"),
    (["a\x7f"], "user_id", r"control character \(U\+007F\)"),
    (["12", "user-7"], "amplitude_id", r"^id 2: the id 'user-7' is not an Amplitude id \(a decimal integer\)"),
    (["-3"], "amplitude_id", r"not an Amplitude id"),
    (["١٢٣"], "amplitude_id", r"not an Amplitude id"),  # Arabic-Indic digits: isdigit, not ASCII
    (["9" * 30], "amplitude_id", r"not an Amplitude id"),
    ([None], "user_id", r"^id 1: the id is NoneType, not text or a number$"),
    ([], "user_id", r"^no ids to upload"),
])
def test_ids_are_checked_before_anything_is_sent(fake_amplitude: FakeAmplitude, fake_time: FakeTime,
                                                 ids: list, id_type: str, message: str) -> None:
    with client_for(fake_amplitude, fake_time) as client:
        with pytest.raises(InputError, match=message):
            client.upload(ids, name="x", app_id=1, id_type=id_type)
    assert fake_amplitude.requests == []


@pytest.mark.parametrize("field, value, message", [
    ("name", "", r"the cohort name is empty"),
    ("name", "a\rb", r"the cohort name 'a\\rb' holds a control character"),
    ("owner", "x\x00@example.com", r"the owner .* holds a control character"),
    ("app_id", "abc", r"app id 'abc' is not a project id"),
    ("app_id", 0, r"app id 0 is not a project id"),
    ("id_type", "email", r"unknown id type 'email': expected user_id or amplitude_id"),
])
def test_the_other_fields_are_checked_too(fake_amplitude: FakeAmplitude, fake_time: FakeTime, field: str,
                                          value: object, message: str) -> None:
    arguments: dict = {"name": "x", "app_id": 1, field: value}
    with client_for(fake_amplitude, fake_time) as client:
        with pytest.raises(InputError, match=message):
            client.upload(["u1"], **arguments)
    assert fake_amplitude.requests == []


def test_more_ids_than_amplitude_takes_are_refused_unsent(fake_amplitude: FakeAmplitude, fake_time: FakeTime,
                                                          tmp_path: Path) -> None:
    many = [str(n) for n in range(MAX_UPLOAD_IDS + 1)]
    with client_for(fake_amplitude, fake_time) as client:
        with pytest.raises(InputError, match=r"^100,001 ids to upload, but Amplitude takes at most 100,000 in one "
                                             r"upload.*nothing was sent$"):
            client.upload(many, name="Too big", app_id=1)
        assert client.upload(many[:-1], name="Just fits", app_id=1).ids == MAX_UPLOAD_IDS
    # A file stops being read at the first id too many, named by its line.
    path = write(tmp_path, "ids.txt", "\n".join(many) + "\n")
    with pytest.raises(InputError, match=rf"^{path} line 100001: more than 100,000 distinct ids"):
        read_upload_ids(path)
    assert len(fake_amplitude.uploads) == 1


def test_a_new_cohort_is_not_sent_twice_after_a_5xx(fake_amplitude: FakeAmplitude, fake_time: FakeTime) -> None:
    fake_amplitude.fail("upload", 502, times=1)
    with client_for(fake_amplitude, fake_time) as client:
        with pytest.raises(AmplitudeError, match=r"^Amplitude answered HTTP 502: injected failure 502 while uploading "
                                                 r"cohort 'New'; not retried, since Amplitude may have acted on it"):
            client.upload(["u1"], name="New", app_id=1)
    assert len(fake_amplitude.calls("upload")) == 1 and fake_time.sleeps == []


def test_a_rate_limited_upload_and_a_replacement_are_retried(fake_amplitude: FakeAmplitude,
                                                            fake_time: FakeTime) -> None:
    fake_amplitude.fail("upload", 429, times=1, retry_after="2")
    with client_for(fake_amplitude, fake_time) as client:
        assert client.upload(["u1"], name="New", app_id=1).cohort_id == "up00001"
        fake_amplitude.fail("upload", 503, times=1)
        assert client.upload(["u2"], name="New", app_id=1, existing_cohort_id="up00001").replaced
    assert fake_time.sleeps == [2.0, 1.0] and len(fake_amplitude.calls("upload")) == 4


def test_amplitudes_refusal_is_reported_with_its_message(fake_amplitude: FakeAmplitude, fake_time: FakeTime) -> None:
    with client_for(fake_amplitude, fake_time) as client:
        with pytest.raises(AmplitudeError, match=r"HTTP 404 while uploading cohort 'x' over cohort nope: Cohort nope "
                                                 r"not found"):
            client.upload(["u1"], name="x", app_id=1, existing_cohort_id="nope")


@pytest.mark.parametrize("body", [b'{"cohortId": "abc123"}', b'{"id": 77}'])
def test_the_answer_may_name_the_cohort_in_other_words(fake_amplitude: FakeAmplitude, fake_time: FakeTime,
                                                       body: bytes) -> None:
    fake_amplitude.answer("upload", 200, body)
    with client_for(fake_amplitude, fake_time) as client:
        assert client.upload(["u1"], name="x", app_id=1).cohort_id in ("abc123", "77")


def test_an_answer_without_a_cohort_id_is_an_error(fake_amplitude: FakeAmplitude, fake_time: FakeTime) -> None:
    fake_amplitude.answer("upload", 200, b'{"cohort_id": "a\\nb"}')
    with client_for(fake_amplitude, fake_time) as client:
        with pytest.raises(AmplitudeError, match="no usable cohort id; the cohort may have been created"):
            client.upload(["u1"], name="x", app_id=1)


def test_an_echoed_key_in_an_upload_refusal_is_masked(fake_amplitude: FakeAmplitude, fake_time: FakeTime) -> None:
    fake_amplitude.answer("upload", 400, json.dumps({"error": {"message": f"bad credentials {SECRET_KEY}"}}))
    with client_for(fake_amplitude, fake_time) as client:
        with pytest.raises(AmplitudeError) as caught:
            client.upload(["u1"], name="x", app_id=1)
    assert SECRET_KEY not in str(caught.value) and "********" in str(caught.value)


# --- the ids a file gives ----------------------------------------------------------------------

def test_an_export_gives_its_user_ids_or_its_amplitude_ids(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(export_csv(MEMBERS["26umsb5"], props=True))
    by_user = read_upload_ids(path, "user_id")
    assert by_user.ids == ("alice@example.com", 'bob "the builder", jr')
    assert by_user.skipped == ("amplitude_id 356893815359 (no user_id)",)
    assert read_upload_ids(path, "amplitude_id") == UploadIds(("356896327775", "356893815359", "356893815360"))


def test_other_cohort_file_shapes_give_ids(tmp_path: Path) -> None:
    lines = write(tmp_path, "u.jsonl", '{"user_id": "u1"}\n{"amplitude_id": 42}\n'
                                       '{"user_id": "u3", "amplitude_id": 43}\n{"user_id": "u1"}\n')
    assert read_upload_ids(lines, "user_id") == UploadIds(("u1", "u3"), ("amplitude_id 42 (no user_id)",), 1)
    assert read_upload_ids(lines, "amplitude_id").ids == ("42", "43")
    plain = tmp_path / "ids.txt.gz"
    plain.write_bytes(gzip.compress(b"u1\n\nu2\n"))
    assert read_upload_ids(plain).ids == ("u1", "u2")
    test_csv = write(tmp_path, "test.csv", "operation,user_id\nadd,u1\nremove,u2\n")
    with pytest.raises(InputError, match=r"test\.csv: user line 3 is 'remove', but an upload sends the whole cohort"):
        read_upload_ids(test_csv)


@pytest.mark.parametrize("text, message", [
    ("u1\nu\x01x\n", r"ids\.txt line 2: the id 'u\\x01x' holds a control character \(U\+0001\)"),
    ("1\n2\nthree\n", r"ids\.txt line 3: the id 'three' is not an Amplitude id"),
])
def test_a_bad_id_in_a_file_is_named_by_its_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "ids.txt", text)
    with pytest.raises(InputError, match=message):
        read_upload_ids(path, "amplitude_id" if "three" in text else "user_id")


def test_a_cut_short_export_is_not_uploaded(tmp_path: Path) -> None:
    path = write(tmp_path, "export.csv", 'amplitude_id,user_id\n1,alice\n2,bo')
    with pytest.raises(InputError, match=r"export\.csv:3: the file ends in the middle of a line"):
        read_upload_ids(path)


# --- round trip --------------------------------------------------------------------------------

@pytest.mark.parametrize("id_type", ["amplitude_id", "user_id"])
def test_a_cohort_round_trips(fake_amplitude: FakeAmplitude, fake_time: FakeTime, tmp_path: Path,
                              id_type: str) -> None:
    """Download, upload as a new cohort, download again: the same members. By user id, the
    member without one cannot travel (it is skipped and named); by Amplitude id everyone does."""
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    with client_for(fake_amplitude, fake_time) as client:
        client.download("26umsb5", first, props=True)
        ids = read_upload_ids(first, id_type)
        uploaded = client.upload(ids.ids, name="Loyal buyers (copy)", id_type=id_type)
        client.download(uploaded.cohort_id, second, props=True)
    expected = [r for r in read_export(first) if id_type == "amplitude_id" or r.user_id]
    assert list(read_export(second)) == expected
    if id_type == "amplitude_id":
        assert second.read_bytes() == first.read_bytes()
    else:
        assert ids.skipped == ("amplitude_id 356893815359 (no user_id)",)

"""A cohort export cut short is never acted on, whichever way it arrives: a local file given to
``sync --cohort-file`` or ``render --users`` (the shared export reader, ``inputs.open_export``),
or a download for ``sync --amplitude-cohort`` that holds far fewer users than Amplitude listed."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from portalspec.cli import main
from portalspec.testing import running_destination

from .fake_amplitude import API_KEY, SECRET_KEY, FakeAmplitude

ROOT = Path(__file__).resolve().parents[1]
INFOBIP = ROOT / "integrations" / "infobip"
MEMBERS = [f"user-{i}" for i in range(20)]


def export(path: Path, ids: list[str]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(["amplitude_id", "user_id"])
        writer.writerows([str(1000 + i), u] for i, u in enumerate(ids))
    return path


def cut(path: Path, name: str, drop: int) -> Path:
    """The file without its last ``drop`` bytes (mid-line, so no newline at the end)."""
    target = path.with_name(name)
    target.write_bytes(path.read_bytes()[:-drop])
    return target


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output and (result.exception is None or isinstance(result.exception, SystemExit))
    return result


def sync(cohort: Path, state: Path, url: str) -> Result:
    return invoke("sync", str(INFOBIP / "integration.yaml"), "--values", str(INFOBIP / "values.yaml"),
                  "--cohort-file", str(cohort), "--state", str(state), "--base-url", url, "--backoff-base", "0.01")


def members(dest) -> list[str]:
    (only,) = dest.state()["lists"]
    return sorted(m["key"] for m in only["members"])


@pytest.mark.parametrize("drop, line", [(1, 21), (4, 21)])  # without its last newline; inside the last id
def test_sync_refuses_a_cohort_file_cut_short(tmp_path: Path, drop: int, line: int) -> None:
    """An unquoted or quoted export cut at its very end reads as a shorter last id, or one user
    fewer: a sync would remove real members. It must stop, naming the file and the line."""
    whole = export(tmp_path / "whole.csv", MEMBERS)
    state = tmp_path / "state.db"
    with running_destination(INFOBIP / "integration.yaml", INFOBIP / "values.yaml") as dest:
        assert sync(whole, state, dest.url).exit_code == 0
        sent = len(dest.requests())
        truncated = cut(whole, "cut.csv", drop)
        result = sync(truncated, state, dest.url)
        assert result.exit_code == 1, result.output
        assert f"{truncated}:{line}:" in result.output
        assert "cut short" in result.output or "unterminated quote" in result.output
        assert members(dest) == sorted(MEMBERS) and len(dest.requests()) == sent


def test_sync_refuses_an_unquoted_cohort_file_without_its_last_newline(tmp_path: Path) -> None:
    text = "amplitude_id,user_id\n" + "".join(f"{1000 + i},{u}\n" for i, u in enumerate(MEMBERS))
    whole = tmp_path / "whole.csv"
    whole.write_text(text)
    truncated = tmp_path / "cut.csv"
    truncated.write_text(text[:-3])  # "user-19" became "user-"
    state = tmp_path / "state.db"
    with running_destination(INFOBIP / "integration.yaml", INFOBIP / "values.yaml") as dest:
        assert sync(whole, state, dest.url).exit_code == 0
        result = sync(truncated, state, dest.url)
        assert result.exit_code == 1
        assert f"{truncated}:21: the file ends in the middle of a line" in result.output
        assert members(dest) == sorted(MEMBERS)


def test_sync_refuses_a_gzip_cohort_file_cut_short(tmp_path: Path) -> None:
    whole = export(tmp_path / "whole.csv", MEMBERS)
    packed = tmp_path / "cut.csv.gz"
    packed.write_bytes(gzip.compress(whole.read_bytes())[:-10])
    with running_destination(INFOBIP / "integration.yaml", INFOBIP / "values.yaml") as dest:
        result = sync(packed, tmp_path / "state.db", dest.url)
        assert result.exit_code == 1 and f"{packed}:" in result.output
        assert len(dest.requests()) == 0


def test_render_refuses_a_users_export_cut_short(tmp_path: Path) -> None:
    truncated = cut(export(tmp_path / "whole.csv", MEMBERS), "cut.csv", 1)
    result = invoke("render", str(INFOBIP / "integration.yaml"), "--values", str(INFOBIP / "values.yaml"),
                    "--users", str(truncated))
    assert result.exit_code == 1
    assert f"{truncated}:21: the file ends in the middle of a line" in result.stderr
    assert "user-0" not in result.stdout  # no batch of users was rendered (create_list may stream first)


def test_sync_from_amplitude_refuses_an_export_far_smaller_than_listed(tmp_path: Path) -> None:
    """``sync --amplitude-cohort`` gets the size check too: the listing says 10 users, the
    export holds 3 — nothing is synced."""
    with FakeAmplitude(polls=0) as amplitude, \
            running_destination(INFOBIP / "integration.yaml", INFOBIP / "values.yaml") as dest:
        amplitude.cohorts[0]["size"] = 10
        bare = tmp_path / "values.yaml"
        bare.write_text("fields: {api_key: test-key-123}\nmappings: {user_id_field_amplitude: user_id}\n")
        result = invoke("sync", str(INFOBIP / "integration.yaml"), "--values", str(bare), "--amplitude-cohort",
                        "26umsb5", "--amplitude-url", amplitude.url, "--amplitude-api-key", API_KEY,
                        "--amplitude-secret-key", SECRET_KEY, "--amplitude-poll-interval", "0",
                        "--state", str(tmp_path / "s.db"), "--base-url", dest.url)
        assert result.exit_code == 1
        assert ("the export of cohort 26umsb5 holds 3 users, but Amplitude listed the cohort with 10 moments "
                "before") in result.output
        assert dest.requests() == []

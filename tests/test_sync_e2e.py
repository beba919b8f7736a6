"""`portalspec sync` end to end against `portalspec serve`: the destination's state must equal
the cohort after every run — through changes, injected failures and a SIGKILL mid-sync."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import portalspec
from portalspec.cli import main
from portalspec.sync import State, sync
from portalspec.testing import running_destination
from portalspec.transport import Transport
from tests.conftest import state_rows, tweaked

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "integrations"


def example(name: str) -> tuple[Path, Path]:
    return EXAMPLES / name / "integration.yaml", EXAMPLES / name / "values.yaml"


def list_members(dest) -> list[str]:
    lists = dest.state()["lists"]
    assert len(lists) == 1, lists  # one cohort, one list: never a second list
    return sorted(m["key"] for m in lists[0]["members"])


def cohort_file(tmp_path: Path, ids: list[str], name: str = "cohort.csv") -> Path:
    """An Amplitude cohort export: quoted amplitude_id,user_id."""
    path = tmp_path / name
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
        writer.writerow(["amplitude_id", "user_id"])
        writer.writerows([1000 + i, u] for i, u in enumerate(ids))
    return path


def run_sync(definition: Path, values: Path, cohort: Path, state: Path, url: str, *extra: str):
    return CliRunner().invoke(main, ["sync", str(definition), "--values", str(values), "--cohort-file", str(cohort),
                                     "--state", str(state), "--base-url", url, "--format", "json",
                                     "--backoff-base", "0.01", *extra])


def report(result) -> dict:
    assert "Traceback" not in result.output
    return json.loads(result.stdout)


def test_first_changed_and_unchanged_syncs_keep_the_destination_equal_to_the_cohort(tmp_path):
    definition, values = example("infobip")
    state = tmp_path / "state.db"
    first = [f"user-{i}" for i in range(30)] + ['o"reilly', "zoë@example.com", "a/b?c#d"]
    with running_destination(definition, values) as dest:
        result = run_sync(definition, values, cohort_file(tmp_path, first), state, dest.url)
        assert result.exit_code == 0, result.output
        assert report(result)["created_list"] and list_members(dest) == sorted(first)
        assert len(dest.requests()) == 2  # create_list + one add batch

        changed = first[10:] + ["late-1", "late-2"]
        result = run_sync(definition, values, cohort_file(tmp_path, changed, "c2.csv"), state, dest.url)
        r = report(result)
        assert (r["entering"], r["leaving"], r["created_list"]) == (2, 10, False)
        assert list_members(dest) == sorted(changed)
        assert len(dest.requests()) == 4  # + one add, one remove

        result = run_sync(definition, values, cohort_file(tmp_path, changed, "c3.csv"), state, dest.url)
        assert report(result)["outcome"] == "unchanged" and len(dest.requests()) == 4


def test_property_based_traits_follow_the_cohort(tmp_path):
    definition, values = example("segment-identify")
    state = tmp_path / "state.db"
    with running_destination(definition, values) as dest:
        run_sync(definition, values, cohort_file(tmp_path, ["a", "b", "c"]), state, dest.url)
        result = run_sync(definition, values, cohort_file(tmp_path, ["b", "c", "d"], "c2.csv"), state, dest.url)
        assert result.exit_code == 0, result.output
        users = dest.state()["users"]
        in_cohort = {u["key"]: all(u["traits"].values()) for u in users}
        assert in_cohort == {"a": False, "b": True, "c": True, "d": True}


def test_injected_failures_are_retried_until_everyone_is_delivered(tmp_path):
    _, values = example("flagsmith")
    small = tweaked(tmp_path, "flagsmith", "item_template: '\"$user_id_field_amplitude\"'",
                    "item_template: '\"$user_id_field_amplitude\"'\n    batch_size: 7")
    ids = [f"u{i:03d}" for i in range(100)]
    with running_destination(small, values, fail_rate=0.3, fail_status=500, seed=3) as dest:
        result = run_sync(small, values, cohort_file(tmp_path, ids), tmp_path / "s.db", dest.url)
        r = report(result)
        assert result.exit_code == 0 and r["outcome"] == "succeeded" and r["retries"] > 0
        assert r["requests_ok"] == 1 + 15  # create_list and 100 users in batches of 7
        # requests counts attempts: every retry was one more request, answered with a failure
        assert r["requests"] == r["requests_ok"] + r["requests_failed"] == 16 + r["retries"]
        assert list_members(dest) == sorted(ids)


def test_429_with_retry_after_is_waited_out(tmp_path):
    definition, values = example("infobip")
    with running_destination(definition, values, fail_rate=0.5, fail_status=429, retry_after=0, seed=1) as dest:
        result = run_sync(definition, values, cohort_file(tmp_path, ["x", "y"]), tmp_path / "s.db", dest.url)
        assert report(result)["outcome"] == "succeeded"
        assert list_members(dest) == ["x", "y"]


def test_wrong_token_is_a_classified_failure_and_nothing_is_recorded(tmp_path):
    definition, values = example("infobip")
    wrong = tmp_path / "values.yaml"
    wrong.write_text(values.read_text().replace("test-key-123", "wrong-key"))
    with running_destination(definition, values) as dest:
        result = run_sync(definition, wrong, cohort_file(tmp_path, ["x"]), tmp_path / "s.db", dest.url)
        r = report(result)
        assert result.exit_code == 1 and r["outcome"] == "failed" and r["list_id"] is None
        assert "invalid or has been revoked" in r["errors"][0]  # the definition's 401 message
        assert "wrong-key" not in result.output


def test_dry_run_sends_nothing(tmp_path):
    definition, values = example("infobip")
    with running_destination(definition, values) as dest:
        result = run_sync(definition, values, cohort_file(tmp_path, ["x", "y"]), tmp_path / "s.db", dest.url,
                          "--dry-run")
        r = report(result)
        assert r["outcome"] == "dry-run" and r["plan"]["add_users"]["users"] == 2
        assert dest.requests() == [] and dest.state()["lists"] == []
    assert state_rows(tmp_path / "s.db") == {"syncs": 0, "members": 0, "runs": 0}  # nothing recorded
    # and a real sync afterwards is the first: it creates the list and is the only run
    with running_destination(definition, values) as dest:
        r = report(run_sync(definition, values, cohort_file(tmp_path, ["x", "y"]), tmp_path / "s.db", dest.url))
        assert r["outcome"] == "succeeded" and len(dest.state()["lists"]) == 1
    assert state_rows(tmp_path / "s.db") == {"syncs": 1, "members": 2, "runs": 1}


def test_a_sync_killed_mid_run_loses_nobody(tmp_path):
    _, values = example("infobip")
    small = tweaked(tmp_path, "infobip", "item_template: '\"$user_id_field_amplitude\"'",
                    "item_template: '\"$user_id_field_amplitude\"'\n    batch_size: 5")
    ids = [f"member-{i:04d}" for i in range(400)]
    cohort, state = cohort_file(tmp_path, ids), tmp_path / "state.db"
    # Each request takes 40 ms at the destination: 80 batches, one at a time, take over 3 s,
    # and the kill comes after 20 of them — seconds of margin on a slow machine.
    with running_destination(small, values, latency_ms=40) as dest:
        command = [sys.executable, "-m", "portalspec", "sync", str(small), "--values", str(values),
                   "--cohort-file", str(cohort), "--state", str(state), "--base-url", dest.url,
                   "--concurrency", "1", "--format", "json"]
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # bounded: wait until some, not all, are delivered
            lists = dest.state()["lists"]
            if lists and lists[0]["size"] >= 100:
                break
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL
        delivered_before = dest.state()["lists"][0]["size"]
        assert 100 <= delivered_before < len(ids)  # killed mid-sync, not before or after

        result = run_sync(small, values, cohort, state, dest.url, "--concurrency", "4")
        r = report(result)
        assert result.exit_code == 0 and r["outcome"] == "succeeded" and not r["created_list"]
        # Everything still owed was sent; at most the one batch in flight was sent twice.
        assert r["entering"] <= len(ids) - delivered_before + 5
        assert list_members(dest) == sorted(ids)
    # The history says what happened: the killed run, then the one that finished its work.
    assert [outcome for (outcome,) in _runs(state)] == ["abandoned", "succeeded"]


def _runs(path: Path) -> list[tuple[str]]:
    import sqlite3
    with sqlite3.connect(path) as db:
        return db.execute("SELECT outcome FROM runs ORDER BY id").fetchall()


def test_sync_pulls_the_cohort_from_amplitude(tmp_path):
    from tests.fake_amplitude import API_KEY, SECRET_KEY, FakeAmplitude

    definition, values = example("infobip")
    # The values file names no cohort: its id and name come from Amplitude.
    bare = tmp_path / "values.yaml"
    bare.write_text("fields: {api_key: test-key-123}\nmappings: {user_id_field_amplitude: user_id}\n")
    with FakeAmplitude(polls=1) as amplitude, running_destination(definition, values) as dest:
        result = CliRunner().invoke(main, [
            "sync", str(definition), "--values", str(bare), "--amplitude-cohort", "26umsb5",
            "--amplitude-url", amplitude.url, "--amplitude-api-key", API_KEY, "--amplitude-secret-key", SECRET_KEY,
            "--amplitude-poll-interval", "0",
            "--state", str(tmp_path / "s.db"), "--base-url", dest.url, "--format", "json"])
        r = report(result)
        assert result.exit_code == 0, result.output
        assert r["cohort_id"] == "26umsb5" and r["entering"] == 2
        # The user without a user_id is named, never sent with an empty id.
        assert "1 user(s) in the cohort have no value" in result.stderr and "356893815359" in result.stderr
        assert list_members(dest) == sorted(["alice@example.com", 'bob "the builder", jr'])
        assert dest.state()["lists"][0]["request"]["name"] == "[Amplitude] Loyal buyers: 26umsb5"
        assert API_KEY not in result.output and SECRET_KEY not in result.output


def test_sync_with_amplitude_needs_its_credentials(tmp_path, monkeypatch):
    monkeypatch.delenv("AMPLITUDE_API_KEY", raising=False)
    monkeypatch.delenv("AMPLITUDE_SECRET_KEY", raising=False)
    definition, values = example("infobip")
    result = CliRunner().invoke(main, ["sync", str(definition), "--values", str(values),
                                       "--amplitude-cohort", "1234", "--state", str(tmp_path / "s.db")])
    assert result.exit_code == 1 and "needs Amplitude credentials" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("url", ["http://[::1", "not-a-url", "ftp://host", "http://host:port"])
@pytest.mark.parametrize("command", ["sync", "test"])
def test_a_bad_base_url_is_a_usage_error(tmp_path, url, command):
    definition, values = example("infobip")
    args = [command, str(definition), "--values", str(values), "--base-url", url]
    if command == "sync":
        args += ["--cohort-file", str(cohort_file(tmp_path, ["x"])), "--state", str(tmp_path / "s.db")]
    else:
        args += ["--users", str(EXAMPLES / "infobip" / "users.csv")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "--base-url" in result.output and "Traceback" not in result.output


def test_a_user_whose_other_mapped_value_changed_is_updated_not_removed(tmp_path):
    """nested-audiences maps two variables (external id, email); the id is the user. When the
    email changes the user is re-added with the new email — and never removed, although the
    old (id, email) pair has left the cohort."""
    definition, values = example("nested-audiences")
    state = tmp_path / "state.db"

    def export(rows: list[tuple[str, str]], name: str) -> Path:
        path = tmp_path / name
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
            writer.writerow(["amplitude_id", "user_id", "email"])
            writer.writerows([str(i), uid, email] for i, (uid, email) in enumerate(rows))
        return path

    with running_destination(definition, values) as dest:  # (its values map email_field to email)
        first = run_sync(definition, values, export([("u1", "a@x"), ("u2", "b@x")], "c1.csv"), state, dest.url)
        assert report(first)["outcome"] == "succeeded", first.output
        second = run_sync(definition, values, export([("u1", "a2@x"), ("u2", "b@x")], "c2.csv"), state, dest.url)
        r = report(second)
        assert (r["entering"], r["leaving"]) == (1, 0)
        members = {m["key"]: m["values"]["email_field"] for m in dest.state()["lists"][0]["members"]}
        assert members == {"u1": "a2@x", "u2": "b@x"}
        third = run_sync(definition, values, export([("u1", "a2@x"), ("u2", "b@x")], "c3.csv"), state, dest.url)
        assert report(third)["outcome"] == "unchanged"  # the stored key moved with the add


@pytest.mark.parametrize("name", sorted(p.parent.name for p in EXAMPLES.glob("*/integration.yaml")))
def test_every_example_syncs_into_serve_and_a_later_sync_sends_only_the_change(name: str):
    """Each example's cohort (the test CSV's entering users) synced into ``portalspec serve``:
    serve holds exactly them; then one user leaves and one comes back, and the second run sends
    only that change (with the first's state: no second list)."""
    definition, values_file = example(name)
    integration = portalspec.compile(portalspec.load(definition))
    values = portalspec.load_values(values_file)
    source = portalspec.read_users(EXAMPLES / name / "users.csv", integration.definition, values)
    cohort = [u for u in source if u.operation == "add"]
    values = portalspec.Values(values.fields, values.mappings, values.cohort or source.cohort, None)
    assert len(cohort) >= 2
    with running_destination(definition, values_file) as dest, Transport(base_url=dest.url) as transport, \
            State(":memory:") as state:
        first = sync(integration, values, cohort, state=state, transport=transport)
        held_first = _held(dest.state(), integration)
        second = sync(integration, values, cohort[1:], state=state, transport=transport)
        held_second = _held(dest.state(), integration)
        last = dest.requests()[-1]
    assert first.ok and second.ok, (first.errors, second.errors)
    assert (first.entering, first.leaving) == (len(cohort), 0)
    assert (second.entering, second.leaving) == (0, 1) and not second.created_list
    assert len(held_first) == len(cohort)
    remove = integration.batch_endpoint("remove")
    if integration.definition.type == "list" and not remove.item.names & integration.batch_endpoint("add").item.names:
        # The destination's own id (SendGrid's contact id) removes the user: serve never saw it
        # on an add, so it cannot tell whom it names. The right request went out, with it.
        leaving = cohort[0].values
        assert last["endpoint"] == "remove_users" and all(str(leaving[n]) in last["query"] for n in remove.item.names)
        assert held_second == held_first
    else:
        assert held_second < held_first and len(held_second) == len(cohort) - 1


def _held(state: dict, integration: portalspec.Integration) -> set[str]:
    """The users serve holds in the cohort: a list's members, or the users whose trait is true."""
    if integration.definition.type == "property":
        return {u["key"] for u in state["users"] if any(v is True for v in u["traits"].values())}
    [only] = state["lists"]
    return {m["key"] for m in only["members"]}

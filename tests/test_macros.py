"""Pre-defined macros: $amplitude_cohort_name, $now_iso, $now_epoch, $request_id, and `portalspec macros`."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from portalspec import MacroContext, slugify
from portalspec.macros import SLUG_MAX, macro_table, parse_now

from .render_helpers import KITCHEN, NOW, adds, body, cli, compile_text, context, kitchen_values, removes

# --- $amplitude_cohort_name ---------------------------------------------------------------

@pytest.mark.parametrize("name, slug", [
    ("Saturday's cohort & héllo", "Saturday-s-cohort-he-llo"),
    ("Beta users", "Beta-users"),
    ("snake_case_kept", "snake_case_kept"),
    ("a  --  b", "a-b"),
    ("ﬁle ①", "file-1"),  # NFKD folds compatibility characters
    ("日本語", "-"),
    ("", ""),
    ("!lead and trail!", "-lead-and-trail-"),
])
def test_slugify(name, slug):
    assert slugify(name) == slug


def test_slugify_keeps_at_most_100_characters():
    assert SLUG_MAX == 100
    assert slugify("a" * 250) == "a" * 100
    assert slugify("ab " * 60) == ("ab-" * 34)[:100]


def test_amplitude_cohort_name_is_the_slug_in_the_request():
    integration = compile_text(KITCHEN)
    create = next(integration.render(kitchen_values("Saturday's cohort & héllo"), context=context()))
    assert body(create)["slug"] == "Saturday-s-cohort-he-llo"
    assert body(create)["name"] == "Saturday's cohort & héllo"


# --- $now_iso, $now_epoch ---------------------------------------------------------------------

def test_now_macros_come_from_the_context():
    assert context().constants() == {"now_iso": "2026-01-01T00:00:00Z", "now_epoch": 1767225600}
    integration = compile_text(KITCHEN)
    add = list(integration.render(kitchen_values(), adds("u"), context=context()))[1]
    assert body(add)["at"] == "2026-01-01T00:00:00Z"
    assert body(add)["epoch"] == 1767225600


def test_now_in_another_zone_is_shown_in_utc():
    paris = timezone(timedelta(hours=1))
    ctx = MacroContext(now=datetime(2026, 1, 1, 1, 0, 0, 123456, tzinfo=paris))
    assert ctx.constants() == {"now_iso": "2026-01-01T00:00:00Z", "now_epoch": 1767225600}


@pytest.mark.parametrize("text", ["2026-01-01T00:00:00Z", "2026-01-01T00:00:00+00:00", "2026-01-01T01:00:00+01:00",
                                  "2026-01-01T00:00:00", "1767225600", "1767225600.0"])
def test_parse_now(text):
    assert parse_now(text) == NOW


@pytest.mark.parametrize("text", ["garbage", "2026-13-01", "", "nan", "inf", "1e20", "-1e20"])
def test_parse_now_refuses_what_is_not_a_time_with_value_error(text):
    with pytest.raises(ValueError):
        parse_now(text)


# --- $request_id ----------------------------------------------------------------------------

def _request_ids(seed):
    integration = compile_text(KITCHEN)
    requests = list(integration.render(kitchen_values(), adds(*"abcd") + removes("x"), context=context(seed)))
    return [r.header("X-Request-Id") for r in requests]


def test_request_id_is_a_fresh_uuid4_per_request():
    ids = _request_ids(7)
    assert len(ids) == 4  # create_list, two add batches, one remove batch
    assert len(set(ids)) == len(ids)
    for value in ids:
        assert uuid.UUID(value).version == 4
        assert str(uuid.UUID(value)) == value


def test_same_seed_same_request_ids_other_seed_other_ids():
    assert _request_ids(7) == _request_ids(7)
    assert set(_request_ids(7)).isdisjoint(_request_ids(8))


def test_without_a_seed_request_ids_differ_between_renders():
    assert set(_request_ids(None)).isdisjoint(_request_ids(None))


def test_request_id_changes_with_each_call_of_one_context():
    ctx = context()
    assert ctx.per_request() != ctx.per_request()


# --- portalspec macros ----------------------------------------------------------------------

def test_macro_table_lists_every_macro_with_an_example():
    rows = {m.name: m for m in macro_table()}
    assert set(rows) == {"amplitude_cohort_name", "now_iso", "now_epoch", "request_id", "amp_message_id"}
    assert rows["amplitude_cohort_name"].example == "Saturday-s-cohort-he-llo"
    assert rows["now_iso"].example == "2026-01-01T00:00:00Z"
    assert rows["now_epoch"].example == "1767225600"
    assert uuid.UUID(rows["request_id"].example).version == 4
    assert all(m.description for m in rows.values())


def test_macros_command_text():
    result = cli("macros")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    names = [line.split()[0] for line in lines if line.startswith("$")]
    assert names == ["$amplitude_cohort_name", "$now_iso", "$now_epoch", "$request_id", "$amp_message_id"]
    assert "e.g. Saturday-s-cohort-he-llo" in result.output
    assert "e.g. 2026-01-01T00:00:00Z" in result.output


def test_macros_command_json():
    result = cli("macros", "--format", "json")
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert [r["name"] for r in rows] == ["$amplitude_cohort_name", "$now_iso", "$now_epoch", "$request_id",
                                         "$amp_message_id"]
    assert all(set(r) == {"name", "description", "example"} for r in rows)
    assert rows[0]["example"] == "Saturday-s-cohort-he-llo"
    assert rows[2]["example"] == "1767225600"

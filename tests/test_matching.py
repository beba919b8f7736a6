"""Reading bodies back through payload templates: captures, and mismatches that say where."""

from __future__ import annotations

import json

import pytest

from portalspec.diagnostics import PayloadMismatch
from portalspec.matching import PayloadMatcher, json_equal, match_text
from portalspec.template import Kind, Template

CONTEXT = {"integration": {"name": "Amplitude Cohort Sync", "version": "1.0.0"}}


def matcher(payload: str, item: str | None = None, mapping: tuple[str, ...] = ("uid",),
            secrets: frozenset[str] = frozenset()) -> PayloadMatcher:
    return PayloadMatcher.compile(Template.compile(payload, Kind.JSON, "payload"),
                                  Template.compile(item, Kind.JSON, "item") if item is not None else None,
                                  item_variables=frozenset(mapping), secrets=secrets)


def mismatch(m: PayloadMatcher, document: object, **kwargs: object) -> PayloadMismatch:
    with pytest.raises(PayloadMismatch) as info:
        m.match(document, **kwargs)  # type: ignore[arg-type]
    return info.value


INFOBIP = matcher('{"userIds": $items, "context": {"integration": {"name": "Amplitude Cohort Sync", '
                  '"version": "1.0.0"}}}', '"$uid"')


def test_items_are_read_per_user():
    captured = INFOBIP.match({"userIds": ["a", "b\"c", "é/ü"], "context": CONTEXT})
    assert [item["uid"] for item in captured.items] == ["a", "b\"c", "é/ü"]


def test_a_wrong_item_names_its_index():
    err = mismatch(INFOBIP, {"userIds": ["a", "b", "c", 4], "context": CONTEXT})
    assert err.path == "$.userIds[3]"
    assert "$uid" in err.expected and err.got == "4"


def test_items_must_be_an_array():
    err = mismatch(INFOBIP, {"userIds": "a", "context": CONTEXT})
    assert (err.path, err.expected) == ("$.userIds", "an array of items ($items)")


def test_a_literal_that_differs_is_named_with_what_was_expected():
    body = {"userIds": [], "context": {"integration": {"name": "Amplitude Cohort Sync", "version": "2.0"}}}
    err = mismatch(INFOBIP, body)
    assert err.path == "$.context.integration.version"
    assert (err.expected, err.got) == ('"1.0.0"', '"2.0"')


def test_a_missing_key_and_an_extra_key_are_mismatches():
    missing = mismatch(INFOBIP, {"userIds": []})
    assert missing.path == "$.context" and "missing" in missing.got
    extra = mismatch(INFOBIP, {"userIds": [], "context": CONTEXT, "debug": True})
    assert extra.path == "$.debug" and "no such key" in extra.expected


def test_literals_compare_as_json_values():
    m = matcher('{"n": 1, "flag": true, "items": $items}', '"$uid"')
    assert m.match({"n": 1.0, "flag": True, "items": []}).items == ()
    assert mismatch(m, {"n": True, "flag": True, "items": []}).path == "$.n"  # true is not 1
    assert mismatch(m, {"n": 1, "flag": 1, "items": []}).path == "$.flag"
    assert json_equal({"a": [1, {"b": None}]}, {"a": [1.0, {"b": None}]})
    assert not json_equal([1], [1, 1])


SEGMENT = matcher('{"batch": $items}',
                  '{"type": "identify", "userId": "$uid", '
                  '"traits": {"[Amplitude] $amp_cohort_name: $amp_cohort_id": $amp_in_cohort}}')


def identify(uid: str, key: str, value: object) -> dict:
    return {"type": "identify", "userId": uid, "traits": {key: value}}


def test_a_key_holding_variables_is_matched_by_pattern():
    captured = SEGMENT.match({"batch": [identify("u1", "[Amplitude] Trial: 3456", True),
                                        identify("u2", "[Amplitude] Trial: 3456", False)]})
    assert captured.values["amp_cohort_id"] == "3456" and captured.values["amp_cohort_name"] == "Trial"
    assert [(i["uid"], i["amp_in_cohort"]) for i in captured.items] == [("u1", True), ("u2", False)]


def test_amp_in_cohort_must_be_a_boolean():
    err = mismatch(SEGMENT, {"batch": [identify("u1", "[Amplitude] Trial: 3456", "true")]})
    assert err.path == "$.batch[0].traits['[Amplitude] Trial: 3456']"
    assert "true or false" in err.expected


def test_a_request_level_variable_must_agree_across_items():
    err = mismatch(SEGMENT, {"batch": [identify("u1", "[Amplitude] Trial: 3456", True),
                                       identify("u2", "[Amplitude] Trial: 9999", True)]})
    assert err.path == "$.batch[1].traits['[Amplitude] Trial: 9999']"
    assert '$amp_cohort_id = "3456"' in err.expected


def test_hints_settle_an_ambiguous_split_without_being_required():
    body = {"batch": [identify("u1", "[Amplitude] Q3: churn risk: 3456", True)]}
    hinted = SEGMENT.match(body, hints={"amp_cohort_name": "Q3: churn risk", "amp_cohort_id": "3456"})
    assert hinted.values["amp_cohort_id"] == "3456"
    unhinted = SEGMENT.match(body)  # the shortest name that fits: ambiguous, but still a match
    assert unhinted.values["amp_cohort_name"] == "Q3"
    other = SEGMENT.match({"batch": [identify("u1", "[Amplitude] Other: 77", True)]},
                          hints={"amp_cohort_name": "Q3: churn risk", "amp_cohort_id": "3456"})
    assert other.values["amp_cohort_id"] == "77"


def test_a_value_seen_whole_pins_an_ambiguous_string():
    m = matcher('{"name": "[Amplitude] $amp_cohort_name: $amp_cohort_id", "cohort": "$amp_cohort_id", '
                '"ids": $items}', '"$uid"')
    captured = m.match({"name": "[Amplitude] A: B: 42", "cohort": "42", "ids": []})
    assert captured.values["amp_cohort_name"] == "A: B"


def test_known_values_must_be_carried():
    m = matcher('{"platform": "$platform", "region": "eu-$region", "ids": $items}', '"$uid"')
    known = {"platform": "ios", "region": "west"}
    assert m.match({"platform": "ios", "region": "eu-west", "ids": ["x"]}, known).items == ({"uid": "x"},)
    err = mismatch(m, {"platform": "android", "region": "eu-west", "ids": []}, known=known)
    assert err.path == "$.platform" and '"ios"' in err.expected
    err = mismatch(m, {"platform": "ios", "region": "eu-east", "ids": []}, known=known)
    assert err.path == "$.region" and '$region = "west"' in err.expected


def test_a_secret_mismatch_is_flagged_and_shows_no_values():
    m = matcher('{"key": "$api_key", "ids": $items}', '"$uid"', secrets=frozenset({"api_key"}))
    err = mismatch(m, {"key": "guess", "ids": []}, known={"api_key": "s3cret"})
    assert err.secret
    assert "s3cret" not in str(err) and "guess" not in str(err)


def test_a_repeated_variable_in_one_string_must_repeat():
    m = matcher('{"pair": "$uid=$uid"}')
    assert m.match({"pair": "ab=ab"}).values["uid"] == "ab"
    assert mismatch(m, {"pair": "ab=cd"}).path == "$.pair"


def test_json_value_slots_keep_their_type():
    m = matcher('{"ids": $items}', '{"id": $uid, "op": "$amp_operation"}')
    captured = m.match({"ids": [{"id": 7, "op": "add"}, {"id": "8", "op": "add"}]})
    assert [i["uid"] for i in captured.items] == [7, "8"]


def test_a_matcher_accepts_what_rendering_produces():
    # Round trip: whatever rendering writes for an item, matching reads back exactly.
    template = Template.compile('{"ids": $items}', Kind.JSON, "payload")
    item = Template.compile('{"id": "$uid", "note": "x\\"$uid\\"y"}', Kind.JSON, "item")
    m = PayloadMatcher.compile(template, item, item_variables=frozenset({"uid"}))
    hostile = ['quo"te', "back\\slash", "sl/ash", "ünï\u2028cödé", "x" * 5000, "", "a\nb"]
    body = '{"ids": [' + ",".join(item.render({"uid": h}) for h in hostile) + "]}"
    assert [i["uid"] for i in m.match(json.loads(body)).items] == hostile


def test_match_text_reads_header_values():
    template = Template.compile("App $api_key", Kind.HEADER, "header")
    assert match_text(template, "App k-1") == {"api_key": "k-1"}
    assert match_text(template, "App k-1", {"api_key": "k-1"}) == {}
    assert match_text(template, "App k-2", {"api_key": "k-1"}) is None
    assert match_text(template, "Bearer k-1") is None


def test_a_mismatch_masks_what_it_quotes_before_cutting_it():
    secret = "sk-live-0123456789abcdef"
    m = matcher('{"name": "x"}')
    problem = mismatch(m, {"name": "a" * 50 + secret}, redact=lambda text: text.replace(secret, "********"))
    assert problem.got == '"' + "a" * 50 + '********"'
    assert not any(secret[:i] in str(problem) for i in range(6, len(secret)))

"""portalspec.contract.samples: what a check renders with when values are not given."""

from __future__ import annotations

from jsonschema_path import SchemaPath

from portalspec.contract.samples import HOSTILE, SamplePlan
from portalspec.validate import load_string
from portalspec.values import Cohort, Values

from .conftest import MINIMAL, edit

ANY = SchemaPath.from_dict({"type": "string"})
UUID = SchemaPath.from_dict({"type": "string", "format": "uuid"})


def test_markers_name_their_variable_and_survive_as_plain_text():
    plan = SamplePlan(load_string(MINIMAL))
    marked = plan.marked()
    assert marked.values.cohort is not None
    name = marked.values.cohort.name
    assert name.isalnum() and name.islower() and plan.variable_of(name) == "amp_cohort_name"
    users = list(marked.users)
    assert [u.operation for u in users] == ["add", "add", "remove", "remove"]
    assert {plan.variable_of(u.values["user_id"]) for u in users} == {"user_id"}
    assert len({u.values["user_id"] for u in users}) == 2  # users differ (uniqueItems)


def test_generated_values_come_from_the_schema_where_they_land_and_are_known_as_generated():
    plan = SamplePlan(load_string(MINIMAL))
    [first, *rest] = plan.samples({"user_id": [([UUID], True)]})
    ids = [u.values["user_id"] for u in first.users]
    assert ids[:2] == ["0f8fad5b-d9cb-469f-a165-70867728950e", "7c9e6679-7425-40de-944b-e07fc1f90ae7"]
    assert set(ids) <= first.generated and "Sample cohort" in first.generated
    assert first.values.fields["region"] == "us" and first.values.fields["bearer_token"] in first.generated
    # The region select's other option is a sample of its own; no hostile user ids (a uuid).
    assert [s.label for s in rest] == ["option 'Europe' of $region"]


def test_hostile_samples_only_for_variables_whose_every_place_takes_any_string():
    plan = SamplePlan(load_string(MINIMAL))
    located = {"amp_cohort_name": [([ANY], False)], "user_id": [([ANY], True), ([UUID], True)]}
    hostile = [s for s in plan.samples(located) if s.hostile]
    assert [s.label for s in hostile] == [f"{what} in $amp_cohort_name" for what, _ in HOSTILE]
    quotes = hostile[0]
    assert quotes.values.cohort is not None and quotes.values.cohort.name == HOSTILE[0][1]
    assert HOSTILE[0][1] in quotes.generated


def test_given_values_are_kept_and_a_base_url_field_takes_the_descriptions_server():
    text = edit(MINIMAL, "    default: us\n", "    default: us\n  - {variable: base, display_name: Base, type: origin}\n")
    definition = load_string(text)
    given = Values({"bearer_token": "real"}, {"user_id": "uid"}, Cohort("c1", "Real cohort"))
    plan = SamplePlan(definition, given, servers=["/relative", "https://api.acme.example/v2"])
    [first, *_] = plan.samples({})
    assert first.values.fields["bearer_token"] == "real" and first.values.cohort == Cohort("c1", "Real cohort")
    assert first.values.fields["base"] == "https://api.acme.example"
    assert "real" not in first.generated and "Real cohort" not in first.generated

"""portalspec.contract.schemas: where a path leads in a schema, samples, skeletons."""

from __future__ import annotations

from jsonschema_path import SchemaPath

from portalspec.contract import schemas
from portalspec.jsonpath import find_list_id

ROOT = SchemaPath.from_dict({
    "components": {"schemas": {
        "Member": {"type": "object", "properties": {
            "email": {"type": "string", "format": "email"},
            "tier": {"type": "string", "enum": [None, "gold", "silver"]}}},
        "Tagged": {"allOf": [{"$ref": "#/components/schemas/Member"},
                             {"properties": {"tag": {"type": "string", "example": "vip"}}}]},
    }},
    "body": {"type": "object", "properties": {
        "members": {"type": "array", "maxItems": 5, "items": {"$ref": "#/components/schemas/Tagged"}},
        "extra": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 3}},
        "pair": {"type": "array", "prefixItems": [{"type": "string", "const": "a"}, {"type": "boolean"}]}}},
})
BODY = ROOT / "body"


def test_at_follows_properties_items_refs_all_of_additional_and_prefix_items():
    [email] = schemas.at(BODY, ("members", 3, "email"))
    assert email.read_value() == {"type": "string", "format": "email"}
    [tag] = schemas.at(BODY, ("members", 0, "tag"))
    assert schemas.sample(tag) == "vip"
    [extra] = schemas.at(BODY, ("extra", "anything"))
    assert schemas.sample(extra) == 3 and schemas.sample(extra, 1) == 4
    [first] = schemas.at(BODY, ("pair", 0))
    assert schemas.sample(first) == "a"
    assert schemas.at(BODY, ("nope",)) == [] and schemas.at(BODY, ("members", "x")) == []


def test_sample_prefers_what_the_schema_itself_offers_and_a_second_value_when_asked():
    [email] = schemas.at(BODY, ("members", 0, "email"))
    assert (schemas.sample(email), schemas.sample(email, 1)) == schemas.FORMAT_SAMPLES["email"]
    [tier] = schemas.at(BODY, ("members", 0, "tier"))
    assert (schemas.sample(tier), schemas.sample(tier, 1)) == ("gold", "silver")  # null is no sample
    assert schemas.sample(SchemaPath.from_dict({"type": "string"})) is None


def test_accepts_any_string_only_without_content_rules():
    assert schemas.accepts_any_string(SchemaPath.from_dict({"type": "string", "minLength": 1}))
    assert schemas.accepts_any_string(SchemaPath.from_dict({}))
    assert schemas.accepts_any_string(SchemaPath.from_dict(True))
    for rule in ({"enum": ["a"]}, {"pattern": "^a$"}, {"format": "uuid"}, {"maxLength": 9}, {"type": "integer"},
                 {"allOf": [{"maxLength": 3}]}, {"oneOf": [{"type": "string"}]}):
        assert not schemas.accepts_any_string(SchemaPath.from_dict(rule)), rule


def test_a_skeleton_holds_every_declared_member_for_reading_a_path_through():
    document = schemas.skeleton(BODY)
    assert find_list_id("members[0].tag", document) == "string"
    assert set(schemas.leaves(document)) >= {"members[0].email", "members[0].tier", "members[0].tag"}
    recursive = SchemaPath.from_dict({"node": {"type": "object", "properties": {"child": {"$ref": "#/node"}}}}) / "node"
    assert schemas.skeleton(recursive) is not None  # a recursive schema ends


def test_a_pointer_escapes_slashes_and_tildes():
    assert schemas.pointer(ROOT / "body", ("a/b", "c~d", 0)) == "#/body/a~1b/c~0d/0"
    assert schemas.pointer(None, ("paths", "/lists")) == "#/paths/~1lists"

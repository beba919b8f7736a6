"""portalspec.contract.limits: limits a description states in words or vendor extensions."""

from __future__ import annotations

from jsonschema_path import SchemaPath

from portalspec.contract.limits import statements


def found(operation: dict, path_item: dict | None = None, root: dict | None = None) -> dict[str, str]:
    spec = SchemaPath.from_dict({"op": operation, "item": path_item or {}})
    return {s.kind.name: f"{s.where}: {s.text}" for s in statements(spec / "op", spec / "item", root or {})}


def test_rate_and_size_limits_stated_in_words_are_found_with_their_sentence():
    said = found({"description": "Adds members. You may send 100 requests per minute. Bodies up to 2 MB."})
    assert said == {"rate": "the operation's description: You may send 100 requests per minute.",
                    "size": "the operation's description: Bodies up to 2 MB."}
    assert found({"summary": "Throttled to 5 calls/second"})["rate"].startswith("the operation's summary")


def test_vendor_extensions_state_limits_on_the_operation_its_path_item_or_the_root():
    assert found({"x-rateLimit": {"requests": 10}})["rate"].startswith("x-rateLimit: ")
    assert found({}, {"x-throttling-tier": "gold"})["rate"] == "x-throttling-tier: gold"
    assert found({}, root={"x-max-body-size": 1048576})["size"] == "x-max-body-size: 1048576"


def test_plain_descriptions_state_no_limit():
    assert found({"description": "Creates a list of up to 100 characters. Rated best by users."}) == {}

"""Compiling: a checked Definition → a frozen, picklable Integration of compiled templates."""

from __future__ import annotations

import dataclasses
import pickle
from concurrent.futures import ThreadPoolExecutor

import pytest

import portalspec
from portalspec import DefinitionError, Integration, read_users
from portalspec.compiler import CompiledEndpoint
from portalspec.template import Position, Slot

from .render_helpers import (EXAMPLES, INTEGRATIONS, KITCHEN, adds, compile_text, context, example, kitchen_values,
                             render_example)


def slots(template) -> list[tuple[str, Position]]:
    return [(p.name, p.position) for p in template.parts if isinstance(p, Slot)]


def test_compile_of_load_gives_an_integration_with_endpoints_in_lifecycle_order():
    integration = portalspec.compile(portalspec.load(INTEGRATIONS / "infobip" / "integration.yaml"))
    assert isinstance(integration, Integration)
    assert integration.name == "infobip"
    assert [e.name for e in integration.endpoints] == ["create_list", "add_users", "remove_users"]
    assert all(isinstance(e, CompiledEndpoint) for e in integration.endpoints)
    assert integration.endpoint("add_users").method == "POST"
    assert integration.endpoint("update_users") is None


def test_templates_are_compiled_with_positions():
    integration = compile_text(KITCHEN)
    create = integration.endpoint("create_list")
    assert slots(create.url) == [("sub", Position.URL_HOST), ("segment", Position.URL_PATH),
                                 ("query", Position.URL_QUERY), ("plan", Position.URL_QUERY)]
    assert slots(create.payload)[:3] == [("amp_cohort_name", Position.JSON_STRING), ("label", Position.JSON_STRING),
                                         ("amount", Position.JSON_VALUE)]
    add = integration.endpoint("add_users")
    assert slots(add.item) == [("user_id", Position.JSON_STRING)]
    assert ("items", Position.JSON_VALUE) in slots(add.payload)
    assert add.batch_size == 3
    assert create.item is None
    assert {"sub", "segment", "query", "plan", "tag", "request_id", "amp_cohort_name"} <= create.names


def test_shared_headers_come_first_and_an_endpoint_header_replaces_one_of_the_same_name():
    text = KITCHEN.replace("  X-Tag: $tag\n", "  X-Tag: $tag\n  X-Shared: s\n", 1).replace(
        "headers: {X-Request-Id: $request_id}\n    payload: |",
        "headers: {X-Request-Id: $request_id, x-shared: mine}\n    payload: |")
    create = compile_text(text).endpoint("create_list")
    assert [name for name, _ in create.headers] == ["X-Tag", "x-shared", "X-Request-Id"]
    assert create.headers[1][1].render({}) == "mine"
    assert create.headers[0][1].where == "header X-Tag (headers.X-Tag)"
    assert slots(create.headers[2][1]) == [("request_id", Position.HEADER)]


def test_an_integration_is_frozen():
    integration = compile_text(KITCHEN)
    with pytest.raises(dataclasses.FrozenInstanceError):
        integration.endpoints = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        integration.endpoints[0].url = None  # type: ignore[misc]
    assert isinstance(integration.endpoints, tuple)
    assert all(isinstance(e.headers, tuple) and isinstance(e.url.parts, tuple) for e in integration.endpoints)


@pytest.mark.parametrize("name", EXAMPLES)
def test_pickle_round_trip_renders_the_same(name):
    integration, values, _ = example(name)
    clone = pickle.loads(pickle.dumps(integration))
    assert clone == integration
    users = INTEGRATIONS / name / "users.csv"
    before = list(integration.render(values, read_users(users, integration.definition, values), context=context()))
    after = list(clone.render(values, read_users(users, clone.definition, values), context=context()))
    assert before == after and before


def test_rendering_twice_and_concurrently_gives_the_same_requests():
    integration = compile_text(KITCHEN)

    def run(_):
        return list(integration.render(kitchen_values(), adds(*map(str, range(50))), context=context()))

    first = run(0)
    with ThreadPoolExecutor(4) as pool:
        assert all(r == first for r in pool.map(run, range(8)))


def test_render_of_the_integration_is_the_library_render():
    from portalspec.render import render
    integration, values, _ = example("flagsmith")
    users = adds("a", "b", variable="user_id_field_amplitude")
    assert list(integration.render(values, users, context=context())) == \
        list(render(integration, values, users, context=context()))


def test_an_invalid_definition_does_not_load():
    with pytest.raises(DefinitionError) as info:
        portalspec.load(KITCHEN.replace("X-Tag: $tag", "X-Tag: $tga"))
    assert "PS201" in [d.code for d in info.value.diagnostics]


def test_examples_all_compile_and_render():
    for name in EXAMPLES:
        assert render_example(name), name

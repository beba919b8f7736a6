"""Property tests: whatever a definition is mutated into, validate returns diagnostics, never raises."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import portalspec
from portalspec import Diagnostic

from .conftest import EXAMPLES, MINIMAL, PROPERTY

TEXTS = [MINIMAL, PROPERTY] + [p.read_text(encoding="utf-8") for p in EXAMPLES]
DATA = [yaml.safe_load(t) for t in TEXTS]

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                    st.text(max_size=20))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=6)
template_bits = st.sampled_from(["$", "${", "$$", "${}", "$items", "$list_id", "${amp_cohort_id}", "$amp_in_cohort",
                                 "$5", "}", '"', "{", "[", "\n", "://", "#", "?", " ", "\u2028", "é", "\x00"])


def _paths(node: Any, path: tuple = ()) -> list[tuple]:
    """Every path into the data (the root excluded)."""
    out = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append(path + (key,))
            out += _paths(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.append(path + (i,))
            out += _paths(value, path + (i,))
    return out


def _get(node: Any, path: tuple) -> Any:
    for element in path:
        node = node[element]
    return node


@st.composite
def mutated_data(draw) -> Any:
    data = copy.deepcopy(draw(st.sampled_from(DATA)))
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(data)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, last = _get(data, path[:-1]), path[-1]
        current = parent[last]
        action = draw(st.sampled_from(["delete", "replace", "retype", "insert_text", "template", "shuffle", "add_key"]))
        if action == "delete":
            del parent[last]
        elif action == "replace":
            parent[last] = draw(values)
        elif action == "retype":
            parent[last] = draw(st.sampled_from([None, [], {}, [current], {"x": current}, 0, True, 1.5, "text"]))
        elif action in ("insert_text", "template") and isinstance(current, str):
            bit = draw(st.text(max_size=10)) if action == "insert_text" else draw(template_bits)
            at = draw(st.integers(0, len(current)))
            parent[last] = current[:at] + bit + current[at:]
        elif action == "shuffle" and isinstance(current, (list, dict)):
            items = list(current.items()) if isinstance(current, dict) else list(current)
            order = draw(st.permutations(range(len(items))))
            shuffled = [items[i] for i in order]
            parent[last] = dict(shuffled) if isinstance(current, dict) else shuffled
        elif action == "add_key" and isinstance(current, dict):
            current[draw(st.text(max_size=12))] = draw(values)
    return data


def _check(text: str) -> None:
    # A str with a newline is YAML text, not a path.
    diagnostics = portalspec.validate(text if "\n" in text else text + "\n")
    assert isinstance(diagnostics, list)
    assert all(isinstance(d, Diagnostic) for d in diagnostics)
    for d in diagnostics:
        d.format()
        d.to_dict()


@SETTINGS
@given(mutated_data())
def test_mutated_data_never_raises(data):
    _check(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


@SETTINGS
@given(mutated_data())
def test_mutated_data_in_flow_style_never_raises(data):
    _check(yaml.safe_dump(data, default_flow_style=True, allow_unicode=False, width=60))


@st.composite
def mutated_text(draw) -> str:
    text = draw(st.sampled_from(TEXTS))
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "template"]))
        if action == "insert":
            text = text[:at] + draw(st.text(max_size=8)) + text[at:]
        elif action == "template":
            text = text[:at] + draw(template_bits) + text[at:]
        else:
            text = text[:at] + text[at + draw(st.integers(1, 20)):]
    return text


@SETTINGS
@given(mutated_text())
def test_mutated_text_never_raises(text):
    _check(text)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_as_a_file_never_raise(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("fuzz") / "integration.yaml"
    path.write_bytes(content)
    assert all(isinstance(d, Diagnostic) for d in portalspec.validate(path))

"""Every example in integrations/ is a clean, loadable definition."""

from __future__ import annotations

import pytest

import portalspec
from portalspec import Definition

from .conftest import EXAMPLES


def test_there_are_examples_of_both_types():
    assert len(EXAMPLES) >= 2
    types = {portalspec.load(path).type for path in EXAMPLES}
    assert types == {"list", "property"}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.parent.name for p in EXAMPLES])
def test_example_validates_with_zero_diagnostics(path):
    assert portalspec.validate(path) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.parent.name for p in EXAMPLES])
def test_example_loads_and_is_named_after_its_directory(path):
    definition = portalspec.load(path)
    assert isinstance(definition, Definition)
    assert definition.name == path.parent.name
    assert definition.file == str(path)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.parent.name for p in EXAMPLES])
def test_example_points_editors_at_the_schema(path):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../schemas/integration.schema.json"

"""Stage 3, compiling: a checked :class:`Definition` → immutable compiled endpoints.

Every template is lexed and compiled once here; rendering only joins. A
:class:`CompiledDefinition` is a frozen tree of tuples and strings, so it is thread-safe and
picklable. :class:`portalspec.Integration` (``integration.py``) is the public face of it,
adding the way to bind it to values and build requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from .kinds import KINDS, EndpointKind, endpoint_for
from .model import Definition, Endpoint
from .template import Kind, Template, lex, stands_alone, without_members


@dataclass(frozen=True)
class CompiledEndpoint:
    name: str
    method: str
    url: Template
    headers: tuple[tuple[str, Template], ...]  # shared headers, then the endpoint's (which win)
    payload: Template | None  # None: a request without a body
    item: Template | None
    batch_size: int
    spec: Endpoint
    # The item template without the members of missing optional identifiers, by which are
    # missing (only the combinations that can occur: each optional variable it uses).
    item_without: tuple[tuple[frozenset[str], Template], ...] = ()
    # find_list: the JSONPath naming the list in its answer, variables in its quoted strings
    list_path: Template | None = None

    @property
    def kind(self) -> EndpointKind:
        return KINDS[self.name]

    @property
    def items_in_url(self) -> bool:
        """``$items`` stands in the URL's query (each item text, percent-encoded, joined)."""
        return "items" in self.url.names

    @property
    def header_names(self) -> frozenset[str]:
        """The names of the definition's headers for this endpoint, lowercased."""
        return frozenset(name.lower() for name, _ in self.headers)

    @property
    def names(self) -> frozenset[str]:
        """Every variable the request itself uses (URL, headers, payload)."""
        payload = self.payload.names if self.payload is not None else frozenset()
        return self.url.names | payload | frozenset().union(*(t.names for _, t in self.headers))

    @property
    def optional(self) -> frozenset[str]:
        """The optional identifiers its item template uses."""
        return frozenset().union(*(missing for missing, _ in self.item_without))


@dataclass(frozen=True)
class CompiledDefinition:
    """A compiled definition: its endpoints' templates, ready to render."""

    definition: Definition
    endpoints: tuple[CompiledEndpoint, ...]

    @property
    def name(self) -> str:
        return self.definition.name

    def endpoint(self, name: str) -> CompiledEndpoint | None:
        return next((e for e in self.endpoints if e.name == name), None)

    def batch_endpoint(self, operation: str) -> CompiledEndpoint:
        """Where users entering (``add``) or leaving (``remove``) the cohort are sent."""
        name = endpoint_for(self.definition.type, operation)
        endpoint = self.endpoint(name)
        assert endpoint is not None, name  # the checks guarantee the endpoints of each type
        return endpoint


def compile_endpoint(definition: Definition, spec: Endpoint) -> CompiledEndpoint:
    where = f"endpoints.{spec.name}"
    merged: dict[str, tuple[str, str, str]] = {}
    for scope, pairs in (("headers", definition.headers), (f"{where}.headers", spec.headers)):
        for name, value in pairs:
            merged[name.lower()] = (name, value, f"{scope}.{name}")
    headers = tuple((name, Template.compile(value, Kind.HEADER, f"header {name} ({origin})"))
                    for name, value, origin in merged.values())
    # White space around an item is no part of it: a `|` block's final newline would
    # otherwise stand between every two items of the array.
    item_text = spec.item_template.strip() if spec.item_template is not None else None
    items_in_url = any(p.name == "items" for p in lex(spec.url, Kind.URL).placeholders)
    optional = [m.variable for m in definition.mapping_fields
                if not m.required and item_text is not None and stands_alone(item_text, m.variable)]
    without = tuple((frozenset(missing), Template.compile(without_members(item_text or "", missing), Kind.JSON,
                                                          f"{where}.item_template"))
                    for size in range(1, len(optional) + 1) for missing in combinations(optional, size))
    return CompiledEndpoint(
        name=spec.name,
        method=spec.method,
        url=Template.compile(spec.url, Kind.URL, f"{where}.url"),
        headers=headers,
        payload=Template.compile(spec.payload, Kind.JSON, f"{where}.payload") if spec.payload is not None else None,
        # Items in a URL are text (each percent-encoded as a whole), not JSON.
        item=Template.compile(item_text, Kind.TEXT if items_in_url else Kind.JSON, f"{where}.item_template")
        if item_text is not None else None,
        batch_size=spec.batch_size,
        spec=spec,
        item_without=without,
        list_path=Template.compile(spec.list_id.path, Kind.JSONPATH, f"{where}.list_id.path")
        if spec.kind.answer == "find" and spec.list_id is not None else None,
    )


def compile_endpoints(definition: Definition) -> tuple[CompiledEndpoint, ...]:
    return tuple(compile_endpoint(definition, e) for e in definition.endpoints)

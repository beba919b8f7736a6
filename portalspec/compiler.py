"""Stage 3, compiling: a checked :class:`Definition` → an immutable :class:`Integration`.

Every template is lexed and compiled once here; rendering only joins. An ``Integration`` is
a frozen tree of tuples and strings, so it is thread-safe and picklable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from .model import Definition, Endpoint
from .template import Kind, Template


@dataclass(frozen=True)
class CompiledEndpoint:
    name: str
    method: str
    url: Template
    headers: tuple[tuple[str, Template], ...]  # shared headers, then the endpoint's (which win)
    payload: Template
    item: Template | None
    batch_size: int
    spec: Endpoint

    @property
    def names(self) -> frozenset[str]:
        """Every variable the request itself uses (URL, headers, payload)."""
        return self.url.names | self.payload.names | frozenset().union(*(t.names for _, t in self.headers))


@dataclass(frozen=True)
class Integration:
    """A compiled definition, ready to render requests for any values and users."""

    definition: Definition
    endpoints: tuple[CompiledEndpoint, ...]

    @property
    def name(self) -> str:
        return self.definition.name

    def endpoint(self, name: str) -> CompiledEndpoint | None:
        return next((e for e in self.endpoints if e.name == name), None)

    def batch_endpoint(self, operation: str) -> CompiledEndpoint:
        """Where users entering (``add``) or leaving (``remove``) the cohort are sent."""
        name = "update_users" if self.definition.type == "property" else (
            "add_users" if operation == "add" else "remove_users")
        endpoint = self.endpoint(name)
        assert endpoint is not None, name  # the checks guarantee the endpoints of each type
        return endpoint

    def render(self, values: Any, users: Iterable[Any] = (), endpoint: str | None = None,
               list_id: str | int | None = None, **options: Any) -> Iterator[Any]:
        """The requests Amplitude would send, in order: create_list (list-based), every entering
        batch, then every leaving batch. See :func:`portalspec.render.render` for ``options``."""
        from .render import render
        return render(self, values, users, endpoint=endpoint, list_id=list_id, **options)


def _compile_endpoint(definition: Definition, spec: Endpoint) -> CompiledEndpoint:
    where = f"endpoints.{spec.name}"
    merged: dict[str, tuple[str, str, str]] = {}
    for scope, pairs in (("headers", definition.headers), (f"{where}.headers", spec.headers)):
        for name, value in pairs:
            merged[name.lower()] = (name, value, f"{scope}.{name}")
    headers = tuple((name, Template.compile(value, Kind.HEADER, f"header {name} ({origin})"))
                    for name, value, origin in merged.values())
    return CompiledEndpoint(
        name=spec.name,
        method=spec.method,
        url=Template.compile(spec.url, Kind.URL, f"{where}.url"),
        headers=headers,
        payload=Template.compile(spec.payload, Kind.JSON, f"{where}.payload"),
        # White space around an item is no part of it: a `|` block's final newline would
        # otherwise stand between every two items of the array.
        item=Template.compile(spec.item_template.strip(), Kind.JSON, f"{where}.item_template")
        if spec.item_template is not None else None,
        batch_size=spec.batch_size,
        spec=spec,
    )


def compile(definition: Definition) -> Integration:  # noqa: A001 - the stage's name
    """Compile a checked definition (from :func:`portalspec.load`) into renderers."""
    return Integration(definition, tuple(_compile_endpoint(definition, e) for e in definition.endpoints))

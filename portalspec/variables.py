"""Variables: what is pre-defined, what a definition declares, and where each is used.

This is the portal's variable tracker (DECLARED / USED / PRE-DEFINED) as data. The semantic
checks, ``portalspec vars`` and the compiler all read it from here, so the three agree.
It works on the raw loaded data (after or without schema validation) and never raises on
malformed input: what is not of the expected type is simply not a template.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any, Iterable, Iterator, Mapping

from .auth import AUTH_METHODS
from .diagnostics import Path
from .kinds import BATCH_ENDPOINTS, ENDPOINTS, KINDS, LIST_SCOPED, spoken
from .rawdata import as_dict as _dict
from .rawdata import as_list as _list
from .template import Kind, Lexed, lex


class Scope(str, Enum):
    """Where a variable may be used."""

    ANYWHERE = "anywhere"
    LIST_ENDPOINTS = spoken(LIST_SCOPED)  # $list_id
    ITEMS_PAYLOAD = f"the payload of {spoken(BATCH_ENDPOINTS)}"  # $items
    ITEM_TEMPLATE = "item templates"  # mapping variables, $amp_in_cohort, $amp_operation
    ITEM_PAYLOAD = "the payload of a per-user endpoint (batch_size: 1)"  # $item
    REQUEST = "a request's URL, headers and payload, not in item templates"  # one value per request


class Origin(str, Enum):
    PREDEFINED = "pre-defined"
    MACRO = "macro"
    AUTH = "auth"
    CUSTOM_FIELD = "custom field"
    MAPPING_FIELD = "mapping field"


def _schema(**keywords: Any) -> Mapping[str, Any]:
    return MappingProxyType(keywords)


_TEXT = _schema(type="string")


def env_name(prefix: str, variable: str) -> str:
    """The environment variable that holds ``variable`` of the integration named ``prefix``
    (``ACME_BEARER_TOKEN``): what curl previews export, and where a rotating secret may be read."""
    name = re.sub(r"[^A-Za-z0-9]+", "_", f"{prefix}_{variable}" if prefix else variable).strip("_").upper()
    return "_" + name if name[:1].isdigit() else name  # a shell name cannot start with a digit (8x8)


@dataclass(frozen=True)
class VariableInfo:
    name: str
    origin: Origin
    scope: Scope
    description: str
    secret: bool = False
    # The JSON Schema of its value where it stands as a JSON value (the OpenAPI export's
    # request schemas). $list_id, $items and $item take theirs from the definition instead.
    value_schema: Mapping[str, Any] = field(default_factory=lambda: _TEXT, hash=False, compare=False)


PREDEFINED: Mapping[str, VariableInfo] = {v.name: v for v in (
    VariableInfo("amp_cohort_name", Origin.PREDEFINED, Scope.ANYWHERE, "the cohort's name"),
    VariableInfo("amp_cohort_id", Origin.PREDEFINED, Scope.ANYWHERE, "the cohort's id"),
    VariableInfo("amp_cohort_url", Origin.PREDEFINED, Scope.ANYWHERE, "the cohort's page in Amplitude",
                 value_schema=_schema(type="string", format="uri")),
    VariableInfo("amplitude_cohort_name", Origin.MACRO, Scope.ANYWHERE,
                 "the cohort name slugified: NFKD, runs outside A-Za-z0-9_ become '-', at most 100 characters"),
    VariableInfo("list_id", Origin.PREDEFINED, Scope.LIST_ENDPOINTS,
                 "the list id found in create_list's response"),
    VariableInfo("items", Origin.PREDEFINED, Scope.ITEMS_PAYLOAD,
                 "the JSON array of rendered item templates, one per user in the batch"),
    VariableInfo("item", Origin.PREDEFINED, Scope.ITEM_PAYLOAD,
                 "the one rendered item of a per-user endpoint (batch_size: 1), instead of an array of one"),
    VariableInfo("amp_in_cohort", Origin.PREDEFINED, Scope.ITEM_TEMPLATE,
                 "true for a user entering the cohort, false for one leaving", value_schema=_schema(type="boolean")),
    VariableInfo("amp_operation", Origin.PREDEFINED, Scope.ITEM_TEMPLATE, "'add' or 'remove'",
                 value_schema=_schema(type="string", enum=("add", "remove"))),
    VariableInfo("now_iso", Origin.MACRO, Scope.ANYWHERE, "the time of rendering, ISO 8601 in UTC",
                 value_schema=_schema(type="string", format="date-time")),
    VariableInfo("now_epoch", Origin.MACRO, Scope.ANYWHERE, "the time of rendering, seconds since 1970",
                 value_schema=_schema(type="integer", minimum=0)),
    VariableInfo("request_id", Origin.MACRO, Scope.REQUEST, "a fresh UUID for each request",
                 value_schema=_schema(type="string", format="uuid")),
    VariableInfo("amp_message_id", Origin.MACRO, Scope.REQUEST,
                 "a UUID derived from the request's content: the same across retries and re-runs of the "
                 "same batch, so a destination can de-duplicate (like the cohort webhook's message_id)",
                 value_schema=_schema(type="string", format="uuid")),
)}


@dataclass(frozen=True)
class Declaration:
    name: str
    origin: Origin
    display_name: str
    path: Path  # where it is declared (the `variable:` value, or the auth method)
    secret: bool
    required: bool = True


@dataclass(frozen=True)
class TemplateSite:
    """One template in a definition: its text, what kind it is, and where it stands."""

    path: Path
    kind: Kind
    text: str
    endpoint: str | None  # None for the definition-wide headers
    role: str  # "url", "header", "payload", "item_template" or "list_id" (find_list's JSONPath)

    @property
    def lexed(self) -> Lexed:
        return lex(self.text, self.kind)

    def describe(self) -> str:
        if self.role == "header":
            return f"{self.endpoint} header {self.path[-1]}" if self.endpoint else f"header {self.path[-1]} (every call)"
        return f"{self.endpoint}.list_id.path" if self.role == "list_id" else f"{self.endpoint}.{self.role}"


def template_sites(data: Any) -> Iterator[TemplateSite]:
    """Every template in the definition, in reading order."""
    data = _dict(data)
    for name, value in _dict(data.get("headers")).items():
        if isinstance(value, str):
            yield TemplateSite(("headers", name), Kind.HEADER, value, None, "header")
    endpoints = _dict(data.get("endpoints"))
    for endpoint in ENDPOINTS:
        spec = _dict(endpoints.get(endpoint))
        base: Path = ("endpoints", endpoint)
        if isinstance(spec.get("url"), str):
            yield TemplateSite(base + ("url",), Kind.URL, spec["url"], endpoint, "url")
        for name, value in _dict(spec.get("headers")).items():
            if isinstance(value, str):
                yield TemplateSite(base + ("headers", name), Kind.HEADER, value, endpoint, "header")
        for role in ("payload", "item_template"):
            if isinstance(spec.get(role), str):
                yield TemplateSite(base + (role,), Kind.JSON, spec[role], endpoint, role)
        path = _dict(spec.get("list_id")).get("path")
        if KINDS[endpoint].answer == "find" and isinstance(path, str):
            # (create_list's path is no template: its `$` is only ever JSONPath's root)
            yield TemplateSite(base + ("list_id", "path"), Kind.JSONPATH, path, endpoint, "list_id")


def declarations(data: Any) -> list[Declaration]:
    """Every declared variable, in order (duplicates kept: the checks report them)."""
    data = _dict(data)
    out: list[Declaration] = []
    auth = _dict(data.get("auth"))
    method = auth.get("method")
    if isinstance(method, str) and method in AUTH_METHODS:
        for v in AUTH_METHODS[method].declared(auth):
            out.append(Declaration(v.name, Origin.AUTH, v.display_name, ("auth", "method"), True, v.required))
    for origin, key in ((Origin.CUSTOM_FIELD, "custom_fields"), (Origin.MAPPING_FIELD, "mapping_fields")):
        for i, spec in enumerate(_list(data.get(key))):
            spec = _dict(spec)
            if isinstance(spec.get("variable"), str):
                shown = spec.get("display_name") if origin is Origin.CUSTOM_FIELD else spec.get("mapping_display_name")
                out.append(Declaration(
                    spec["variable"], origin, str(shown or spec["variable"]), (key, i, "variable"),
                    secret=spec.get("secret") is True,
                    required=origin is Origin.MAPPING_FIELD or "default" not in spec))
    return out


def auth_uses(data: Any) -> Iterator[tuple[str, str, Path]]:
    """(custom field, endpoint, where) for each credential an endpoint's own auth reads from a field."""
    endpoints = _dict(_dict(data).get("endpoints"))
    for endpoint in ENDPOINTS:
        for variable, field in _dict(_dict(_dict(endpoints.get(endpoint)).get("auth")).get("fields")).items():
            if isinstance(field, str):
                yield field, endpoint, ("endpoints", endpoint, "auth", "fields", variable)


@dataclass(frozen=True)
class Usage:
    name: str
    site: TemplateSite
    offset: int


def usages(data: Any) -> list[Usage]:
    return [Usage(p.name, site, p.start) for site in template_sites(data) for p in site.lexed.placeholders]


@dataclass(frozen=True)
class VariableRow:
    """A row of the portal's variable table."""

    name: str
    declared: bool
    predefined: bool
    origin: str
    used_in: tuple[str, ...]  # e.g. "add_users.url", "headers Authorization"
    extensions: tuple[str, ...] = ()  # codes (PS5xx) of the constructs beyond the portal's form it is declared with

    @property
    def used(self) -> bool:
        return bool(self.used_in)

    def to_dict(self) -> dict[str, object]:
        return {"variable": self.name, "declared": self.declared, "used": self.used,
                "predefined": self.predefined, "origin": self.origin, "used_in": list(self.used_in),
                "extensions": list(self.extensions)}


def variable_table(data: Any, marks: Iterable[tuple[Path, str]] = ()) -> list[VariableRow]:
    """DECLARED / USED / PRE-DEFINED for every variable declared, pre-defined-and-used, or used.

    ``marks``: (path, code) of each construct beyond the portal's form (``extensions``); a
    declared variable carries the codes found in what declares it (its field, or ``auth``)."""
    marks = list(marks)

    def codes(path: Path) -> tuple[str, ...]:
        owner = path[:-1]
        return tuple(sorted({code for where, code in marks if where[:len(owner)] == owner}))

    declared = {d.name: d for d in reversed(declarations(data))}  # first declaration wins
    used: dict[str, list[str]] = {}
    for decl in declarations(data):
        if decl.origin is Origin.AUTH:  # sent by the auth method itself
            used.setdefault(decl.name, ["auth"])
    for field, endpoint, _ in auth_uses(data):  # an endpoint's own auth sends it
        used.setdefault(field, []).append(f"{endpoint} auth")
    for usage in usages(data):
        places = used.setdefault(usage.name, [])
        if usage.site.describe() not in places:
            places.append(usage.site.describe())
    rows = []
    names = list(dict.fromkeys([d.name for d in declarations(data)] + list(used)))
    for name in names:
        info = PREDEFINED.get(name)
        declaration = declared.get(name)
        origin = declaration.origin.value if declaration else (info.origin.value if info else "undeclared")
        rows.append(VariableRow(name, declaration is not None, info is not None, origin, tuple(used.get(name, ())),
                                codes(declaration.path) if declaration else ()))
    return rows

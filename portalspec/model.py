"""The checked definition as immutable values.

Only data that passed the schema and the semantic checks becomes a :class:`Definition`, so
the constructors here trust types and fill defaults; nothing downstream sees a raw dict.
Free-form JSON (``example_response``, ``sub_error_code``) is kept as JSON text so every
object stays hashable and immutable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .auth import Auth
from .kinds import ENDPOINTS, KINDS, EndpointKind
from .loader import SourceMap
from .schema import default, schema

# Defaults are written once, in the JSON Schema; the dataclasses' own defaults (for values
# built directly, not from a file) are read from it too.
DEFAULT_BATCH_SIZE: int = default("batch_endpoint", "batch_size")
_DEFAULT_SECRET: bool = default("custom_field", "secret")
_DEFAULT_MAPPING_TYPE: str = default("mapping_field", "type")
_DEFAULT_REQUIRED: bool = default("mapping_field", "required")
_DEFAULT_SEPARATOR: str = default("batch_endpoint", "items_separator")
_DEFAULT_MAX_URL: int = default("batch_endpoint", "max_url_bytes")
_AUTH_SETTINGS: dict[str, Any] = schema()["properties"]["auth"]["properties"]  # (auth is not under $defs)

Scalar = Any  # a field's value: text, or a number or boolean for typed fields


@dataclass(frozen=True)
class FieldOption:
    label: str
    value: Scalar


@dataclass(frozen=True)
class CustomField:
    variable: str
    display_name: str
    type: str
    options: tuple[FieldOption, ...] = ()
    default: Scalar | None = None
    secret: bool = _DEFAULT_SECRET
    description: str | None = None
    transform: tuple[str, ...] = ()

    @property
    def origin(self) -> bool:
        """Its value is a base URL (``scheme://host[:port]``) that may start a URL."""
        return self.type == "origin" or bool(self.options) and all(
            isinstance(o.value, str) and "://" in o.value for o in self.options)


@dataclass(frozen=True)
class MappingField:
    variable: str
    mapping_display_name: str
    display_name: str
    type: str = _DEFAULT_MAPPING_TYPE
    options: tuple[FieldOption, ...] = ()
    description: str | None = None
    required: bool = _DEFAULT_REQUIRED
    transform: tuple[str, ...] = ()


@dataclass(frozen=True)
class RateLimit:
    requests: int  # allowed in each window
    per_seconds: float  # the window


@dataclass(frozen=True)
class ErrorClassification:
    status: int
    message: str
    reason: str | None = None
    sub_error_code_json: str | None = None

    @property
    def sub_error_code(self) -> Any:
        return None if self.sub_error_code_json is None else json.loads(self.sub_error_code_json)


@dataclass(frozen=True)
class ListIdSpec:
    source: str  # response_body | response_header | request_body
    path: str


@dataclass(frozen=True)
class Endpoint:
    name: str  # a key of kinds.KINDS
    method: str
    url: str
    payload: str | None  # None: a request without a body
    headers: tuple[tuple[str, str], ...] = ()
    item_template: str | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    errors: tuple[ErrorClassification, ...] = ()
    list_id: ListIdSpec | None = None  # create_list and find_list (whose path is a template)
    example_response_json: str | None = None  # create_list only
    rate_limit: RateLimit | None = None
    exists_on: tuple[int, ...] = ()  # create_list: statuses meaning "the list is there already"
    items_separator: str = _DEFAULT_SEPARATOR  # $items as a URL query value
    max_url_bytes: int = _DEFAULT_MAX_URL
    max_body_bytes: int | None = None
    auth: Auth | None = None  # its own auth (beyond the portal's form); None: the definition's

    @property
    def kind(self) -> EndpointKind:
        return KINDS[self.name]

    @property
    def is_batch(self) -> bool:
        return self.kind.batch

    @property
    def example_response(self) -> Any:
        return None if self.example_response_json is None else json.loads(self.example_response_json)


@dataclass(frozen=True)
class Definition:
    """A valid integration definition. ``source`` points back into the YAML it came from."""

    name: str
    display_name: str
    type: str  # list | property
    auth: Auth
    endpoints: tuple[Endpoint, ...]
    headers: tuple[tuple[str, str], ...] = ()
    custom_fields: tuple[CustomField, ...] = ()
    mapping_fields: tuple[MappingField, ...] = ()
    rate_limit: RateLimit | None = None  # for every endpoint without its own
    category: str | None = None
    summary: str | None = None
    description: str | None = None
    logo: str | None = None
    file: str | None = None
    source: SourceMap | None = field(default=None, compare=False, repr=False)

    def endpoint(self, name: str) -> Endpoint | None:
        return next((e for e in self.endpoints if e.name == name), None)

    @property
    def auths(self) -> tuple[Auth, ...]:
        """The definition's auth, then each endpoint's own."""
        return (self.auth,) + tuple(e.auth for e in self.endpoints if e.auth is not None)

    def auth_of(self, endpoint: Endpoint) -> Auth:
        """The auth ``endpoint`` sends: its own, else the definition's."""
        return endpoint.auth if endpoint.auth is not None else self.auth

    @property
    def secret_variables(self) -> frozenset[str]:
        return frozenset().union(*(a.variables for a in self.auths)) | {f.variable for f in self.custom_fields if f.secret}


def _options(spec: dict) -> tuple[FieldOption, ...]:
    return tuple(FieldOption(str(o["label"]), o["value"]) for o in spec.get("options", ()))



def _rate_limit(spec: Any) -> RateLimit | None:
    return RateLimit(int(spec["requests"]), float(spec["per_seconds"])) if isinstance(spec, dict) else None


def _headers(spec: dict, owner: str | None) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), str(v)) for k, v in (spec.get("headers") or default(owner, "headers")).items())


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


def _auth(spec: dict) -> Auth:
    """The definition's auth, or an endpoint's own (which names the fields it reads instead)."""
    return Auth(spec["method"], spec.get("header_name"), spec.get("grant"), spec.get("token_url"),
                tuple(spec.get("scopes", _AUTH_SETTINGS["scopes"]["default"])),
                spec.get("client_auth", _AUTH_SETTINGS["client_auth"]["default"]),
                fields=tuple((str(k), str(v)) for k, v in spec.get("fields", {}).items()))


def _endpoint(name: str, spec: dict) -> Endpoint:
    list_id = spec.get("list_id")
    owner = name if name in ("create_list", "find_list") else "batch_endpoint"  # its schema under $defs
    return Endpoint(
        name=name,
        method=spec["method"] if "method" in spec else default(owner, "method"),
        url=spec["url"],
        payload=spec.get("payload"),
        headers=_headers(spec, owner),
        item_template=spec.get("item_template"),
        batch_size=int(spec.get("batch_size", default("batch_endpoint", "batch_size"))),
        errors=tuple(ErrorClassification(int(e["status"]), e["message"], e.get("reason"),
                                         _json(e.get("sub_error_code")))
                     for e in spec.get("errors", default(owner, "errors"))),
        list_id=ListIdSpec(list_id.get("from", default("list_id", "from")), list_id["path"]) if list_id else None,
        example_response_json=_json(spec.get("example_response")),
        rate_limit=_rate_limit(spec.get("rate_limit")),
        exists_on=tuple(int(status) for status in spec.get("exists_on", ())),
        items_separator=spec.get("items_separator", _DEFAULT_SEPARATOR),
        max_url_bytes=int(spec.get("max_url_bytes", _DEFAULT_MAX_URL)),
        max_body_bytes=int(spec["max_body_bytes"]) if spec.get("max_body_bytes") is not None else None,
        auth=_auth(spec["auth"]) if isinstance(spec.get("auth"), dict) else None,
    )


def definition_from_data(data: dict, source: SourceMap | None = None) -> Definition:
    """Build the immutable model from data that passed validation."""
    return Definition(
        name=data["name"],
        display_name=data["display_name"],
        type=data["type"],
        auth=_auth(data["auth"]),
        endpoints=tuple(_endpoint(n, data["endpoints"][n]) for n in ENDPOINTS if n in data["endpoints"]),
        headers=_headers(data, None),
        custom_fields=tuple(
            CustomField(f["variable"], f["display_name"], f["type"], _options(f), f.get("default"),
                        bool(f.get("secret", default("custom_field", "secret"))), f.get("description"),
                        tuple(f.get("transform", ())))
            for f in data.get("custom_fields", default(None, "custom_fields"))),
        mapping_fields=tuple(
            MappingField(f["variable"], f["mapping_display_name"], f["display_name"],
                         f.get("type", default("mapping_field", "type")), _options(f), f.get("description"),
                         bool(f.get("required", default("mapping_field", "required"))),
                         tuple(f.get("transform", ())))
            for f in data.get("mapping_fields", default(None, "mapping_fields"))),
        rate_limit=_rate_limit(data.get("rate_limit")),
        category=data.get("category"),
        summary=data.get("summary"),
        description=data.get("description"),
        logo=data.get("logo"),
        file=source.file if source else None,
        source=source,
    )

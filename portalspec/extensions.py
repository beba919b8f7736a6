"""Constructs beyond the Developer Portal's form, and the two targets.

Under the ``portalspec`` target every construct below is accepted and listed as a note with
its stable code; under ``portal`` each is an error that says the Developer Portal cannot
express it and names the nearest portal-compatible way. One table entry per construct: its
code, what it is, the nearest portal way, and a finder over the raw loaded data (like the
checks, it survives data the schema rejected). docs/extensions.md lists the same table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from .diagnostics import Diagnostic, Path, Severity
from .kinds import BATCH_ENDPOINTS
from .rawdata import as_dict as _dict
from .rawdata import as_list as _list
from .rawdata import endpoints as _endpoints
from .rawdata import fields as _fields
from .template import Position
from .variables import template_sites

TARGETS = ("portalspec", "portal")
PORTAL_MACROS = frozenset({"request_id", "now_iso", "now_epoch", "amp_message_id", "amp_in_cohort", "amp_operation"})
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")

Where = tuple[Path, "int | None"]  # a path in the definition, and an offset inside a template


@dataclass(frozen=True)
class Extension:
    code: str
    title: str
    nearest: str | None
    find: Callable[[dict[str, Any]], Iterator[Where]]
    at_key: bool = False  # point at the key (a headers map, a header name), not its value


def _braces(data: dict[str, Any]) -> Iterator[Where]:
    for site in template_sites(data):
        for placeholder in site.lexed.placeholders:
            if site.text.startswith("${", placeholder.start):
                yield site.path, placeholder.start


def _macros(data: dict[str, Any]) -> Iterator[Where]:
    for site in template_sites(data):
        for placeholder in site.lexed.placeholders:
            if placeholder.name in PORTAL_MACROS:
                yield site.path, placeholder.start


def _endpoint_headers(data: dict[str, Any]) -> Iterator[Where]:
    for name, spec in _endpoints(data):
        if _dict(spec.get("headers")):
            yield ("endpoints", name, "headers"), None


def _header_list_id(data: dict[str, Any]) -> Iterator[Where]:
    spec = _dict(_dict(_dict(data.get("endpoints")).get("create_list")).get("list_id"))
    if spec.get("from") == "response_header":
        yield ("endpoints", "create_list", "list_id", "from"), None


def _jsonpath_list_id(data: dict[str, Any]) -> Iterator[Where]:
    spec = _dict(_dict(_dict(data.get("endpoints")).get("create_list")).get("list_id"))
    path = spec.get("path")
    if spec.get("from", "response_body") != "response_header" and isinstance(path, str) \
            and not _DOTTED.fullmatch(path):
        yield ("endpoints", "create_list", "list_id", "path"), None


def _put_create(data: dict[str, Any]) -> Iterator[Where]:
    create = _dict(_dict(data.get("endpoints")).get("create_list"))
    if create.get("method") == "PUT":
        yield ("endpoints", "create_list", "method"), None


def _content_type(data: dict[str, Any]) -> Iterator[Where]:
    maps: list[tuple[Path, Any]] = [(("headers",), data.get("headers"))]
    maps += [(("endpoints", name, "headers"), spec.get("headers")) for name, spec in _endpoints(data)]
    for path, headers in maps:
        for name in _dict(headers):
            if str(name).lower() == "content-type":
                yield path + (name,), None


def _typed_fields(data: dict[str, Any]) -> Iterator[Where]:
    for i, spec in _fields(data, "custom_fields"):
        if spec.get("type") in ("boolean", "number"):
            yield ("custom_fields", i, "type"), None
        for j, option in enumerate(_list(spec.get("options"))):
            if isinstance(option, dict) and not isinstance(option.get("value"), str):
                yield ("custom_fields", i, "options", j, "value"), None


def _transforms(data: dict[str, Any]) -> Iterator[Where]:
    for key in ("custom_fields", "mapping_fields"):
        for i, spec in _fields(data, key):
            if "transform" in spec:
                yield (key, i, "transform"), None


def _optional(data: dict[str, Any]) -> Iterator[Where]:
    for i, spec in _fields(data, "mapping_fields"):
        if spec.get("required") is False:
            yield ("mapping_fields", i, "required"), None


def _origins(data: dict[str, Any]) -> Iterator[Where]:
    for i, spec in _fields(data, "custom_fields"):
        if spec.get("type") == "origin":
            yield ("custom_fields", i, "type"), None
    for site in template_sites(data):
        for placeholder in site.lexed.placeholders:
            if placeholder.position is Position.URL_ORIGIN:
                yield site.path, placeholder.start


def _per_user(data: dict[str, Any]) -> Iterator[Where]:
    mapping = {spec.get("variable") for _, spec in _fields(data, "mapping_fields")}
    for site in template_sites(data):
        for placeholder in site.lexed.placeholders:
            if placeholder.name == "item" or (site.role == "url" and placeholder.name in mapping):
                yield site.path, placeholder.start


def _no_body(data: dict[str, Any]) -> Iterator[Where]:
    for name, spec in _endpoints(data):
        if name in BATCH_ENDPOINTS and "payload" not in spec:  # (create_list needs one; find_list is a GET)
            yield ("endpoints", name), None


def _query_items(data: dict[str, Any]) -> Iterator[Where]:
    for site in template_sites(data):
        if site.role == "url":
            for placeholder in site.lexed.placeholders:
                if placeholder.name == "items":
                    yield site.path, placeholder.start
    for name, spec in _endpoints(data):
        for key in ("items_separator", "max_url_bytes"):
            if key in spec:
                yield ("endpoints", name, key), None


def _oauth2(data: dict[str, Any]) -> Iterator[Where]:
    if _dict(data.get("auth")).get("method") == "oauth2":
        yield ("auth", "method"), None


def _body_limits(data: dict[str, Any]) -> Iterator[Where]:
    for name, spec in _endpoints(data):
        if "max_body_bytes" in spec:
            yield ("endpoints", name, "max_body_bytes"), None


def _exists_on(data: dict[str, Any]) -> Iterator[Where]:
    if "exists_on" in _dict(_dict(data.get("endpoints")).get("create_list")):
        yield ("endpoints", "create_list", "exists_on"), None


def _find_list(data: dict[str, Any]) -> Iterator[Where]:
    if "find_list" in _dict(data.get("endpoints")):
        yield ("endpoints", "find_list"), None


def _endpoint_auth(data: dict[str, Any]) -> Iterator[Where]:
    for name, spec in _endpoints(data):
        if "auth" in spec:
            yield ("endpoints", name, "auth"), None


def _rate_limits(data: dict[str, Any]) -> Iterator[Where]:
    if "rate_limit" in data:
        yield ("rate_limit",), None
    for name, spec in _endpoints(data):
        if "rate_limit" in spec:
            yield ("endpoints", name, "rate_limit"), None


EXTENSIONS: tuple[Extension, ...] = (
    Extension("PS501", "'${name}' (braces) is portalspec syntax",
              "write $name, followed by a character that cannot continue a name", _braces),
    Extension("PS502", "this macro is portalspec's, not the portal's", "a custom field holding a constant", _macros),
    Extension("PS503", "headers of one endpoint", "the top-level headers, sent with every call", _endpoint_headers,
              at_key=True),
    Extension("PS504", "a list id read from a response header", "list_id.from: response_body", _header_list_id),
    Extension("PS505", "a list id path beyond a dotted path", "a dotted path such as response.data.id",
              _jsonpath_list_id),
    Extension("PS506", "create_list with PUT", "POST or PATCH", _put_create),
    Extension("PS507", "a Content-Type header", None, _content_type, at_key=True),
    Extension("PS508", "a typed custom field (boolean, number, or options with typed values)",
              "a string or select field whose value is text", _typed_fields),
    Extension("PS509", "a value transform", None, _transforms),
    Extension("PS510", "an optional identifier (required: false)", "a required mapping field", _optional),
    Extension("PS511", "a base URL (an origin) starting a URL",
              "a single_select of host labels in the host: https://$region.api.example", _origins),
    Extension("PS512", "a per-user endpoint ($item, or a user's value in the URL)", "a batch endpoint with $items",
              _per_user),
    Extension("PS513", "a request without a body", "a payload holding $items", _no_body, at_key=True),
    Extension("PS514", "$items in the URL's query string", "$items in the payload", _query_items),
    Extension("PS515", "OAuth2 (an access token fetched from a token endpoint)", "bearer with a long-lived token",
              _oauth2),
    Extension("PS516", "statuses meaning the list exists already (exists_on)", None, _exists_on, at_key=True),
    Extension("PS517", "a find_list endpoint (finding a list that exists already)", None, _find_list, at_key=True),
    Extension("PS518", "a rate limit", "none: Amplitude retries after a 429", _rate_limits, at_key=True),
    Extension("PS519", "a body-size limit that splits batches", "a smaller batch_size", _body_limits),
    Extension("PS520", "an endpoint's own auth (a second credential)",
              "none: the portal has one auth method for every call", _endpoint_auth, at_key=True),
)


def extension_diagnostics(data: Any, target: str) -> Iterator[tuple[Diagnostic, int | None, bool]]:
    """(diagnostic, offset in its template, at its key) for each construct beyond the
    portal's form: a note under ``portalspec``, an error under ``portal``."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    if not isinstance(data, dict):
        return
    for extension in EXTENSIONS:
        for path, offset in extension.find(data):
            if target == "portal":
                yield Diagnostic(extension.code, f"the Developer Portal cannot express this: {extension.title}",
                                 Severity.ERROR, path,
                                 hint=f"nearest portal way: {extension.nearest}" if extension.nearest else None), \
                    offset, extension.at_key
            else:
                yield Diagnostic(extension.code, f"beyond the portal's form: {extension.title}", Severity.NOTE, path,
                                 hint=f"for the portal: {extension.nearest}" if extension.nearest else None), \
                    offset, extension.at_key


def extension_marks(data: Any) -> Iterator[tuple[Path, str]]:
    """(path, code) of each construct beyond the portal's form (``vars`` marks what they declare)."""
    if isinstance(data, dict):
        for extension in EXTENSIONS:
            for path, _ in extension.find(data):
                yield path, extension.code


__all__ = ["EXTENSIONS", "TARGETS", "Extension", "extension_diagnostics", "extension_marks"]

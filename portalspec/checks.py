"""Stage 2b, semantic checks: what the schema cannot say.

Each check is a generator of :class:`Diagnostic` s over the raw loaded data. They are written
to survive data the schema already rejected (a list where a mapping belongs, say): a check
looks only at values of the type it expects, so one run reports every problem and never
raises. Offsets inside templates ride along so the loader's source map can point at the
exact character (``offsets``), even inside a block scalar.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

from .auth import AUTH_METHODS
from .diagnostics import Diagnostic, Path, Severity, did_you_mean, format_path
from .headers import is_json_type
from .jsonpath import JSONPathError, deprecated_syntax, find_list_id, regex_operands
from .kinds import BATCH_ENDPOINTS, KINDS, LIST_SCOPED, TYPES, endpoints_of
from .rawdata import as_dict as _dict
from .rawdata import as_list as _list
from .rawdata import endpoints, fields
from .schema import HEADER_TOKEN, default
from .template import ENCODERS, Kind, Position, SubstitutionError, stands_alone
from .variables import (PREDEFINED, Declaration, Origin, Scope, TemplateSite, auth_uses, declarations, template_sites,
                        usages)

HEADER_NAME = re.compile(HEADER_TOKEN)
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")  # every control character but the tab
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Found:
    """A diagnostic and, for a problem inside a template string, the offset within it."""

    diagnostic: Diagnostic
    offset: int | None = None
    at_key: bool = False


def _d(code: str, message: str, path: Path, offset: int | None = None, *,
       warning: bool = False, hint: str | None = None, at_key: bool = False) -> Found:
    severity = Severity.WARNING if warning else Severity.ERROR
    return Found(Diagnostic(code, message, severity, path, hint=hint), offset, at_key)


# --- structure ------------------------------------------------------------------------

def check_endpoints_for_type(data: dict, base_dir: FsPath | None) -> Iterator[Found]:
    kind = data.get("type")
    endpoints = data.get("endpoints")
    if kind not in TYPES or not isinstance(endpoints, dict):
        return
    for name in endpoints_of(kind):
        if name not in endpoints:
            yield _d("PS301", f"missing endpoint '{name}': a {kind}-based integration needs it", ("endpoints",),
                     at_key=True)
    for name, other in KINDS.items():
        if name in endpoints and other.type != kind:
            yield _d("PS302", f"endpoint '{name}' is only for {other.type}-based integrations (type: {kind})",
                     ("endpoints", name), at_key=True)


def check_fields(data: dict, base_dir: FsPath | None) -> Iterator[Found]:
    for key in ("custom_fields", "mapping_fields"):
        for i, spec in enumerate(_list(data.get(key))):
            spec = _dict(spec)
            path: Path = (key, i)
            # (a custom field's type is required; the schema reports it missing)
            kind = spec.get("type", default("mapping_field", "type") if key == "mapping_fields" else None)
            options = spec.get("options")
            values = [o.get("value") for o in _list(options) if isinstance(o, dict)]
            if kind in ("single_select", "button_group") and not values and "options" not in spec:
                yield _d("PS306", f"a {kind} field needs options (a list of label and value)", path + ("type",))
            if kind == "string" and "options" in spec:
                yield _d("PS306", "options are only for single_select and button_group fields",
                         path + ("options",), warning=True)
            seen: list[Any] = []  # (a list: a value the schema rejects may be unhashable)
            for j, value in enumerate(values):
                if value in seen:
                    yield _d("PS308", f"option value '{value}' appears twice", path + ("options", j, "value"))
                seen.append(value)
            if "default" in spec and values and spec["default"] not in values:
                yield _d("PS307", f"default '{spec['default']}' is not one of the option values",
                         path + ("default",), hint=did_you_mean(str(spec["default"]), [str(v) for v in values])
                         or "allowed: " + ", ".join(map(str, values)))


def check_headers(data: dict, base_dir: FsPath | None) -> Iterator[Found]:
    maps: list[tuple[Path, Any]] = [(("headers",), data.get("headers"))]
    endpoints = _dict(data.get("endpoints"))
    maps += [(("endpoints", e, "headers"), _dict(endpoints.get(e)).get("headers")) for e in endpoints]
    top = _auth_header(data.get("auth"))
    own = {e: _auth_header(spec["auth"]) for e, spec in endpoints.items() if isinstance(spec, dict) and "auth" in spec}
    for path, headers in maps:
        # A top-level header goes with every call, so it replaces every endpoint's auth header.
        auth_headers = {top, *own.values()} if len(path) == 1 else {own.get(path[1], top)}
        auth_headers.discard("")
        for name, value in _dict(headers).items():
            bad = _CONTROL.search(value) if isinstance(value, str) else None
            if bad:  # a raw line break would split the header, or end the request's head
                yield _d("PS315", f"the header value holds a control character (U+{ord(bad.group()):04X}); "
                                  "HTTP header values cannot carry one", path + (name,), bad.start())
        for name in _dict(headers):  # (the schema checks that names are HTTP tokens)
            if name.lower() == "content-type":
                value = _dict(headers).get(name)
                if not (isinstance(value, str) and is_json_type(value)):  # a JSON type is sent as it is (PS507)
                    yield _d("PS314", "Content-Type is application/json unless a JSON type (application/json, "
                                      "application/*+json) is given; this header is ignored", path + (name,),
                             warning=True, at_key=True)
            elif name.lower() in auth_headers:
                yield _d("PS314", f"the auth method already sends {name}; this header would replace it",
                         path + (name,), warning=True, at_key=True)


def _auth_header(spec: Any) -> str:
    """The header an ``auth`` (the definition's or an endpoint's) sends, lowercased; "" for none."""
    auth = _dict(spec)
    method = AUTH_METHODS.get(str(auth.get("method")))
    header_name = auth.get("header_name")
    return (method.header(header_name if isinstance(header_name, str) else None) or "").lower() if method else ""


def check_endpoint_auth(data: dict, base_dir: FsPath | None) -> Iterator[Found]:
    """An endpoint's own auth reads each of its method's variables from a secret custom field."""
    custom = {spec["variable"]: spec for _, spec in _fields(data, "custom_fields")}
    for name, spec in endpoints(data):
        auth = _dict(spec.get("auth"))
        method = AUTH_METHODS.get(str(auth.get("method")))
        if method is None:
            continue  # (none given, or one the schema reports)
        base: Path = ("endpoints", name, "auth")
        known = [v.name for v in method.variables]
        fields = _dict(auth.get("fields"))
        for variable, field in fields.items():
            where = base + ("fields", variable)
            if variable not in known:
                yield _d("PS318", f"'{variable}' is not a variable of the {method.name} method", where, at_key=True,
                         hint=f"it has {', '.join(known)}" if known else "it has none: leave fields out")
            elif isinstance(field, str) and field not in custom:
                yield _d("PS318", f"no custom field declares '{field}': an endpoint's credential comes from a secret "
                                  "custom field", where, hint=did_you_mean(field, custom))
            elif isinstance(field, str) and custom[field].get("secret") is not True:
                yield _d("PS318", f"custom field '{field}' holds a credential: mark it secret: true", where)
        for v in method.variables:
            if v.required and v.name not in fields:
                yield _d("PS318", f"the {method.name} method needs ${v.name}: name the secret custom field that holds "
                                  f"it (fields: {{{v.name}: <field>}})", base + ("method",))


def check_urls(data: dict, base_dir: FsPath | None) -> Iterator[Found]:
    for site in template_sites(data):
        if site.kind is not Kind.URL:
            continue
        lexed = site.lexed
        # Stand-in values that are valid anywhere, to see the URL's shape.
        sample = "".join(p if isinstance(p, str) else
                         "https://origin.example" if p.position is Position.URL_ORIGIN else "x" for p in lexed.parts)
        has_scheme = "://" in site.text
        for p in lexed.placeholders:
            if p.position is Position.URL_SCHEME and has_scheme:
                yield _d("PS304", f"${p.name} stands in the URL's scheme; the scheme must be written out (https://)",
                         site.path, p.start)
        try:
            parts = urlsplit(sample)
        except ValueError as exc:
            yield _d("PS304", f"invalid URL: {exc}", site.path)
            continue
        if has_scheme and any(p.position is Position.URL_SCHEME for p in lexed.placeholders):
            continue
        if parts.scheme not in ("http", "https"):
            yield _d("PS304", "the URL must be absolute and start with https:// (or http://)", site.path, 0)
        elif not parts.hostname:
            yield _d("PS304", "the URL has no host", site.path, 0)
        elif any(c.isspace() for c in sample):
            at = next(i for i, c in enumerate(site.text) if c.isspace())
            yield _d("PS304", "the URL contains white space; percent-encode it (%20)", site.path, at)


def _json_probe(site: TemplateSite) -> str:
    """The template with every JSON-value placeholder replaced by an equally long ` 0   `.

    Same length, so a JSON error's offset is an offset into the template as written; the
    leading space keeps the stand-in from gluing onto a neighbouring token (``1$x``).
    """
    text = list(site.text)
    for p in site.lexed.placeholders:
        if p.position is Position.JSON_VALUE:
            text[p.start:p.end] = list((" 0" + " " * (p.end - p.start))[: p.end - p.start])
    return "".join(text)


class _NotJSON(ValueError):
    pass


def _not_json(constant: str) -> Any:
    raise _NotJSON(constant)


def check_json_templates(data: dict, base_dir: FsPath | None) -> Iterator[Found]:
    for site in template_sites(data):
        if site.kind is not Kind.JSON:
            continue
        what = "payload" if site.role == "payload" else "item template"
        if not site.text.strip():
            yield _d("PS303", f"the {what} is empty; it must be a JSON document", site.path)
            continue
        probe = _json_probe(site)
        try:
            # Numbers stay text (no int() of a 5000-digit literal); NaN and Infinity are not JSON.
            json.loads(probe, parse_int=str, parse_float=str, parse_constant=_not_json)
        except json.JSONDecodeError as exc:
            yield _d("PS303", f"the {what} is not valid JSON once variables are substituted: {exc.msg}",
                     site.path, min(exc.pos, max(len(site.text) - 1, 0)))
        except _NotJSON as exc:
            yield _d("PS303", f"the {what} is not valid JSON once variables are substituted: "
                              f"{exc.args[0]} is not a JSON value", site.path, max(probe.find(exc.args[0]), 0))
        except RecursionError:
            yield _d("PS303", f"the {what} is nested too deeply to be checked as JSON", site.path)


def check_template_syntax(data: dict, base_dir: FsPath | None) -> Iterator[Found]:
    for site in template_sites(data):
        for err in site.lexed.errors:
            yield _d("PS210", err.message, site.path, err.offset)


# --- variables ------------------------------------------------------------------------

def _declared(data: dict) -> dict[str, Declaration]:
    out: dict[str, Declaration] = {}
    for d in declarations(data):
        out.setdefault(d.name, d)
    return out


def check_declarations(data: dict, base_dir: FsPath | None) -> Iterator[Found]:
    first: dict[str, Declaration] = {}
    for d in declarations(data):
        if d.name in PREDEFINED:
            yield _d("PS204", f"'{d.name}' is a pre-defined variable; choose another name", d.path)
        elif d.name in first:
            prior = first[d.name]
            already = "by the auth method" if prior.origin is Origin.AUTH else f"at {format_path(prior.path)}"
            yield _d("PS203", f"variable '{d.name}' is declared twice (already {already})", d.path)
        else:
            first[d.name] = d


def _per_user(data: dict) -> frozenset[str]:
    """Batch endpoints that send one request per user (``batch_size: 1``)."""
    endpoints = _dict(data.get("endpoints"))
    return frozenset(name for name in BATCH_ENDPOINTS if _dict(endpoints.get(name)).get("batch_size") == 1)


def _allowed(name: str, site: TemplateSite, declared: dict[str, Declaration],
             per_user: frozenset[str] = frozenset()) -> str | None:
    """None if ``name`` may stand at ``site``; otherwise where it may stand."""
    decl = declared.get(name)
    if decl is not None and decl.origin is Origin.MAPPING_FIELD:
        if site.role == "url" and site.endpoint in per_user:
            return None  # one request per user: the user's value may stand in its URL
        scope = Scope.ITEM_TEMPLATE
    elif name in PREDEFINED:
        scope = PREDEFINED[name].scope
    else:
        return None
    if scope is Scope.ANYWHERE:
        return None
    if scope is Scope.ITEM_TEMPLATE:
        return None if site.role == "item_template" else "only in item templates"
    if scope is Scope.REQUEST:  # one value per request: an item has none of its own
        return None if site.role != "item_template" else f"in {scope.value}"
    if scope is Scope.ITEMS_PAYLOAD:  # (or its URL's query, checked with the items: PS207)
        ok = site.role in ("payload", "url") and site.endpoint in BATCH_ENDPOINTS
        return None if ok else f"only in {scope.value}"
    if scope is Scope.ITEM_PAYLOAD:
        return None if site.role == "payload" and site.endpoint in per_user else f"only in {scope.value}"
    ok = site.endpoint in LIST_SCOPED  # $list_id
    return None if ok else f"only in {scope.value} (create_list makes the list it names)"


def check_variable_uses(data: dict, base_dir: FsPath | None) -> Iterator[Found]:
    declared = _declared(data)
    per_user = _per_user(data)
    known = set(declared) | set(PREDEFINED)
    for use in usages(data):
        if use.name not in known:
            hint = did_you_mean(use.name, known)
            yield _d("PS201", f"unknown variable ${use.name}: declare it as a custom field, or use a pre-defined one",
                     use.site.path, use.offset, hint=hint)
            continue
        where = _allowed(use.name, use.site, declared, per_user)
        if where:
            yield _d("PS205", f"${use.name} cannot be used in {use.site.describe()}: it may stand {where}",
                     use.site.path, use.offset)


def check_unused(data: dict, base_dir: FsPath | None) -> Iterator[Found]:
    used = {u.name for u in usages(data)} | {field for field, _, _ in auth_uses(data)}
    for d in _declared(data).values():
        # Auth variables are used by the auth method itself (the Authorization header).
        if d.origin is not Origin.AUTH and d.name not in used and d.name not in PREDEFINED:
            yield _d("PS202", f"variable '{d.name}' is declared but never used", d.path, warning=True)


def check_items(data: dict, base_dir: FsPath | None) -> Iterator[Found]:
    endpoints = _dict(data.get("endpoints"))
    sites = {(s.endpoint, s.role): s for s in template_sites(data)}
    for endpoint in BATCH_ENDPOINTS:
        if not isinstance(endpoints.get(endpoint), dict):
            continue
        payload = sites.get((endpoint, "payload"))
        item = sites.get((endpoint, "item_template"))
        url = sites.get((endpoint, "url"))
        in_url = [p for p in url.lexed.placeholders if p.name == "items"] if url is not None else []
        for p in in_url:  # one whole query value: ?ids=$items&…
            assert url is not None
            before, after = url.text[:p.start], url.text[p.end:]
            if p.position is not Position.URL_QUERY or not re.search(r"[?&][^=&]+=$", before) \
                    or not re.match(r"(&|#|$)", after):
                yield _d("PS207", "$items in a URL must be one whole query value: ?name=$items", url.path, p.start)
        if payload is None:
            users_in_url = url is not None and endpoint in _per_user(data) and bool(url.lexed.names())
            if not in_url and not users_in_url and "payload" not in _dict(endpoints.get(endpoint)):
                yield _d("PS206", f"{endpoint} has no payload: its users must go in the URL ($items as a query "
                                  "value, or a user's values with batch_size: 1)", ("endpoints", endpoint), at_key=True)
            if in_url and item is None:
                yield _d("PS208", f"{endpoint} uses $items but has no item_template (e.g. '$user_id')",
                         ("endpoints", endpoint), at_key=True)
            continue
        items = [p for p in payload.lexed.placeholders if p.name in ("items", "item")]
        if items and in_url:
            yield _d("PS206", "$items stands in both the URL and the payload; the users go in one place",
                     url.path if url is not None else payload.path, in_url[0].start)
        if not items and not in_url:
            one = " (or $item: batch_size is 1)" if endpoint in _per_user(data) else ""
            yield _d("PS206", f"the {endpoint} payload must contain $items{one} (where the batch of users goes)",
                     payload.path, 0)
        for extra in items[1:]:
            yield _d("PS206", f"${extra.name} may appear only once in a payload", payload.path, extra.start)
        for p in items:
            if p.position is not Position.JSON_VALUE:
                yield _d("PS207", f"${p.name} must stand as a JSON value (unquoted), not inside a string",
                         payload.path, p.start)
        if (items or in_url) and item is None:
            yield _d("PS208", f"{endpoint} uses ${items[0].name} but has no item_template "
                              "(e.g. '\"$user_id_field_amplitude\"')", ("endpoints", endpoint), at_key=True)


def check_list_id_used(data: dict, base_dir: FsPath | None) -> Iterator[Found]:
    endpoints = _dict(data.get("endpoints"))
    used_in = {u.site.endpoint for u in usages(data) if u.name == "list_id"}
    for endpoint in LIST_SCOPED:
        if KINDS[endpoint].type != data.get("type"):
            continue
        if isinstance(endpoints.get(endpoint), dict) and endpoint not in used_in:
            yield _d("PS209", f"{endpoint} does not use $list_id (in its URL or payload): "
                              "every cohort would go to the same list", ("endpoints", endpoint), warning=True, at_key=True)


# --- list id, example response, logo ---------------------------------------------------

def check_list_id(data: dict, base_dir: FsPath | None) -> Iterator[Found]:
    create = _dict(_dict(data.get("endpoints")).get("create_list"))
    spec = _dict(create.get("list_id"))
    path = spec.get("path")
    source = spec.get("from", default("list_id", "from"))
    if not isinstance(path, str) or not path:
        return
    base: Path = ("endpoints", "create_list", "list_id")
    if source == "response_header":
        if not HEADER_NAME.match(path):
            yield _d("PS305", f"'{path}' is not a valid HTTP header name", base + ("path",))
        example = create.get("example_response")
        if isinstance(example, dict):
            names = {str(k).lower(): v for k, v in example.items()}
            value = names.get(path.lower())
            if not isinstance(value, (str, int)) or isinstance(value, bool):
                yield _d("PS310", f"example_response has no header '{path}' with a string or number value",
                         ("endpoints", "create_list", "example_response"))
        return
    try:
        if "example_response" in create and source == "response_body":
            find_list_id(path, create["example_response"])
        else:
            find_list_id(path, None)
    except JSONPathError as exc:
        target = ("example_response",) if exc.about_document else ("list_id", "path")
        yield _d("PS309" if not exc.about_document else "PS310", str(exc), ("endpoints", "create_list") + target)
    yield from _deprecated_path(path, ("endpoints", "create_list", "list_id", "path"))


def _deprecated_path(path: str, where: Path) -> Iterator[Found]:
    for message in deprecated_syntax(path):
        yield _d("PS319", f"the JSONPath uses syntax jsonpath-ng deprecates: {message}", where, warning=True,
                 hint="write `&&` between filter conditions")


def check_exists_on(data: dict, base_dir: FsPath | None) -> Iterator[Found]:
    """How an existing list is found again: the list the request names (list_id.from:
    request_body), or else find_list. exists_on without either could only create a second
    list or fail; find_list beside a list the request names would never be needed."""
    endpoints = _dict(data.get("endpoints"))
    create = _dict(endpoints.get("create_list"))
    named = _dict(create.get("list_id")).get("from") == "request_body"
    finds = isinstance(endpoints.get("find_list"), dict)
    if "exists_on" in create and not named and not finds:
        yield _d("PS317", "exists_on with a list id the destination chooses needs find_list, to find the list that "
                          "exists (or list_id.from: request_body, to use the list the request names)",
                 ("endpoints", "create_list", "exists_on"), at_key=True)
    if finds and named:
        yield _d("PS317", "find_list is for a list id the destination chooses; with list_id.from: request_body the "
                          "request names the list, and exists_on uses it as it is", ("endpoints", "find_list"),
                 at_key=True)


_STAND_IN = "\ue000"  # a private-use character: no path spells it


def check_find_list_path(data: dict, base_dir: FsPath | None) -> Iterator[Found]:
    """find_list's JSONPath: variables only inside its quoted strings (where they are escaped,
    so no value changes the path), never in a regular expression, and a valid path."""
    for site in template_sites(data):
        if site.role != "list_id":
            continue
        placeholders = site.lexed.placeholders
        outside = [p for p in placeholders if p.position is not Position.JSONPATH_STRING]
        for p in outside:
            yield _d("PS309", f"${p.name} stands outside a quoted string of the JSONPath; a variable may stand only "
                              "inside one ('…'), where its value is escaped", site.path, p.start)
        if site.lexed.errors or outside:
            continue
        sample = "".join(p if isinstance(p, str) else _STAND_IN for p in site.lexed.parts)
        try:
            find_list_id(sample, None)
        except JSONPathError as exc:
            yield _d("PS309", str(exc).replace(sample, site.text), site.path)
            continue
        yield from _deprecated_path(sample, site.path)
        if any(_STAND_IN in pattern for pattern in regex_operands(sample)):
            yield _d("PS309", "a variable stands in a regular expression (=~), where its value would be read as a "
                              "pattern; compare with == instead", site.path,
                     next(p.start for p in placeholders))


def check_logo(data: dict, base_dir: FsPath | None) -> Iterator[Found]:
    logo = data.get("logo")
    if not isinstance(logo, str) or base_dir is None:
        return
    path = base_dir / logo
    try:
        if path.is_file():
            with path.open("rb") as handle:  # the signature only, not the whole file
                head = handle.read(8)
        else:
            head = None
    except (OSError, ValueError):
        head = None
    if head is None:
        yield _d("PS311", f"logo file '{logo}' does not exist (paths are relative to the definition)", ("logo",))
    elif head != PNG_SIGNATURE:
        yield _d("PS312", f"logo '{logo}' is not a PNG image (its first bytes are not the PNG signature)", ("logo",))


# --- typed fields, origins, optional identifiers ---------------------------------------

def _fields(data: dict, key: str) -> Iterator[tuple[int, dict]]:
    """The fields that declare a variable (one whose name is text)."""
    return ((i, spec) for i, spec in fields(data, key) if isinstance(spec.get("variable"), str))


def _is_origin_field(spec: dict) -> bool:
    values = [o.get("value") for o in _list(spec.get("options")) if isinstance(o, dict)]
    return spec.get("type") == "origin" or bool(values) and all(isinstance(v, str) and "://" in v for v in values)


def check_field_positions(data: dict, base_dir: FsPath | None) -> Iterator[Found]:
    """A base URL stands only at the very start of a URL, and only a base-URL field does; a
    select's every option must be able to stand where its variable is used (PS316)."""
    custom = {spec["variable"]: (i, spec) for i, spec in _fields(data, "custom_fields")}
    positions: dict[tuple[Path, int], Position] = {}  # one pass per template, not one per use
    for site in template_sites(data):
        for placeholder in site.lexed.placeholders:
            positions[(site.path, placeholder.start)] = placeholder.position
    for use in usages(data):
        field = custom.get(use.name)
        origin_field = field is not None and _is_origin_field(field[1])
        position = positions[(use.site.path, use.offset)]
        if position is Position.URL_ORIGIN and not origin_field:
            yield _d("PS304", f"${use.name} starts the URL, where only a base-URL field may stand (type: origin, or "
                              "a select whose options are origins like https://api.eu.example); write the scheme "
                              "and host out otherwise", use.site.path, use.offset)
        elif origin_field and position is not Position.URL_ORIGIN:
            yield _d("PS304", f"${use.name} is a base URL (scheme://host[:port]); it may stand only at the very "
                              "start of a URL", use.site.path, use.offset)
        if field is None or position in (Position.JSON_VALUE, Position.JSON_STRING, Position.JSONPATH):
            continue
        i, spec = field
        for j, option in enumerate(_list(spec.get("options"))):
            value = _dict(option).get("value")
            try:
                ENCODERS[position](value)
            except SubstitutionError as exc:
                yield _d("PS316", f"option value {value!r} can never stand where ${use.name} is used "
                                  f"({use.site.describe()}, the {position.value}): {exc}",
                         ("custom_fields", i, "options", j, "value"))


def check_optional_identifiers(data: dict, base_dir: FsPath | None) -> Iterator[Found]:
    """An optional identifier may stand only as the whole value of a JSON object member of an
    item template, which is left out of the item of a user who lacks it."""
    optional = {spec["variable"] for _, spec in _fields(data, "mapping_fields") if spec.get("required") is False}
    for use in usages(data):
        if use.name not in optional:
            continue
        if use.site.role != "item_template" or not stands_alone(use.site.text, use.name):
            yield _d("PS211", f"${use.name} is optional (required: false): it may stand only as the whole value of "
                              'a JSON object member in an item template ("key": "$name"), which is left out for a '
                              "user who lacks it", use.site.path, use.offset)


CHECKS: tuple[Callable[[dict, FsPath | None], Iterator[Found]], ...] = (
    check_endpoints_for_type,
    check_fields,
    check_headers,
    check_endpoint_auth,
    check_urls,
    check_template_syntax,
    check_json_templates,
    check_declarations,
    check_variable_uses,
    check_unused,
    check_items,
    check_list_id_used,
    check_list_id,
    check_logo,
    check_field_positions,
    check_exists_on,
    check_find_list_path,
    check_optional_identifiers,
)


def run_checks(data: Any, base_dir: FsPath | None) -> Iterator[Found]:
    if not isinstance(data, dict):
        return
    for check in CHECKS:
        yield from check(data, base_dir)


__all__ = ["CHECKS", "Found", "run_checks"]

"""``portalspec init --from-openapi``: a definition drafted from a partner's OpenAPI description.

The author names the operations (``--create``, ``--add``, ``--remove``, or ``--update``) by
their operation ids; the draft takes from the description:

- the auth method from the operations' security scheme (``auth.auth_for_scheme``);
- the URLs from the servers and paths; several servers become a base-URL select (an origin
  select, PS511), a server variable a field; path parameters become ``$list_id`` where they
  name the list, fields otherwise;
- required header and query parameters: constants where the description fixes them, fields
  where the customer must give them; a required array in the query becomes ``$items``;
- the payload skeleton from the request schema (required members, the list's id, ``$items`` at
  the users' array), the item template from the array's item schema with a mapping variable
  for each required value, ``batch_size`` from its ``maxItems``;
- ``list_id.path`` from create's success response schema, ``example_response`` from its example.

Where the description does not say and a person must choose, the draft carries a
``# DECIDE:`` comment above the line; :attr:`Draft.decisions` lists the same, by definition
path, so a test (or a tool) can tell the draft's own open questions from other findings.

It reads a description loaded by :func:`.load.load_description` (local files only), through its
``SchemaPath``, which follows ``$ref`` across those files as it walks.
"""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import TYPE_CHECKING, Any, Iterator

from ..auth import AUTH_METHODS, auth_for_scheme
from ..diagnostics import InputError, Path
from ..headers import is_json_type
from ..kinds import KINDS, endpoints_of
from ..variables import PREDEFINED
from .limits import statements
from .schemas import FORMAT_SAMPLES

if TYPE_CHECKING:
    from jsonschema_path import SchemaPath

    from .load import Description

JSON_TYPE = "application/json"
DECIDE = "DECIDE:"
COHORT_NAME = "[Amplitude] $amp_cohort_name: $amp_cohort_id"
# Names an API gives the list's id, and the array of users, most likely first.
_LIST_ID = re.compile(r"^(id|(list|segment|audience|cohort|group|tag)s?[_-]?ids?|(list|segment|audience|cohort|group)"
                      r"[_-]?(key|uuid))$", re.IGNORECASE)
_LIST_NAME = re.compile(r"^(name|title|label|list_?name|display_?name)$", re.IGNORECASE)
_USERS = ("contacts", "users", "members", "subscribers", "profiles", "identities", "people", "recipients",
          "user_ids", "ids", "emails", "external_ids", "attributes", "records", "batch", "data", "items")
_ID_KEYS = ("id", "list_id", "listId", "uuid", "key")
# Limits an operation's description states in words: "10 requests per second", "6MB of data".
_RATE = re.compile(r"(\d[\d,]*)\s+(?:requests?|calls?)\s+(?:per|every|each|an?|/)\s*(\d+\s*)?"
                   r"(second|sec|minute|min|hour|day)s?\b", re.IGNORECASE)
_SECONDS = {"second": 1, "sec": 1, "minute": 60, "min": 60, "hour": 3600, "day": 86400}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(KB|MB|KiB|MiB)\b")
_BYTES = {"kb": 1000, "mb": 1000 * 1000, "kib": 1024, "mib": 1024 * 1024}
# What a customer reads when the destination answers with one of these statuses.
_MESSAGES = {
    400: ("Invalid request", "{title} rejected the request."),
    401: ("Unauthorized", "{title} refused the credentials; update them in the destination settings."),
    403: ("Forbidden", "{title} does not allow this call with these credentials."),
    404: ("Not found", "{title} does not know this list; disable and re-enable the sync to recreate it."),
    409: ("Conflict", "{title} reports a conflict with an existing resource."),
    413: ("Too large", "{title} refused a batch as too large."),
    422: ("Invalid data", "{title} could not process the data sent."),
    429: ("Rate limited", "{title} rate limit reached; the sync will be retried."),
}


@dataclass(frozen=True)
class Operations:
    """The operation ids to draft from: create, add and remove (a list), or update (a property)."""

    create: str | None = None
    add: str | None = None
    remove: str | None = None
    update: str | None = None

    def by_endpoint(self) -> dict[str, str]:
        """{endpoint: operation id}, checked: one complete set of the kinds of one type."""
        given = {name: op for name, op in (("create_list", self.create), ("add_users", self.add),
                                           ("remove_users", self.remove), ("update_users", self.update)) if op}
        types = {KINDS[name].type for name in given}
        if len(types) != 1 or set(given) != set(endpoints_of(types.pop())):
            raise InputError("name the operations of one kind of definition: --create, --add and --remove "
                             "(a list), or --update alone (a property)")
        return given


@dataclass(frozen=True)
class Decision:
    """Something the description does not settle: where it is in the draft, and what to decide."""

    path: Path
    note: str


@dataclass(frozen=True)
class Draft:
    definition: str  # integration.yaml, with a # DECIDE: comment above each decision
    values: str  # values.yaml: example values for the fields and the cohort
    users: str  # users.csv: the portal's test users
    decisions: tuple[Decision, ...]


@dataclass(frozen=True)
class Raw:
    """Template text standing as it is in a JSON template (``$items``, ``$list_id``)."""

    text: str


@dataclass(frozen=True)
class Text:
    """A JSON string whose content is template text (variables in it, ``$`` as ``$$``)."""

    text: str


# --- reading the description ------------------------------------------------------------------

def _read(node: SchemaPath, key: str, default: Any = None) -> Any:
    child = node / key
    return child.read_value() if key in node else default


def _children(node: SchemaPath, key: str) -> Iterator[tuple[str, SchemaPath]]:
    if key in node:
        container = node / key
        for name in container.keys():
            yield str(name), container / name


def _list(node: SchemaPath, key: str) -> list[SchemaPath]:
    if key not in node:
        return []
    container = node / key
    return [container / i for i in range(len(container.read_value()))]


@dataclass
class _Schema:
    """One schema with ``allOf`` folded in and the first branch of ``oneOf``/``anyOf`` taken."""

    node: SchemaPath | None
    properties: dict[str, SchemaPath] = field(default_factory=dict)
    required: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)  # type, enum, const, default, maxItems …
    branched: bool = False  # a oneOf/anyOf: the draft took its first branch

    @property
    def type(self) -> str | None:
        kind = self.facts.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), None)
        if kind is None and self.properties:
            return "object"
        if kind is None and "items" in self.facts:
            return "array"
        return kind if isinstance(kind, str) else None

    def items(self) -> _Schema:
        return schema_of(self.facts["items"]) if "items" in self.facts else _Schema(None)

    def example(self) -> Any:
        for key in ("const", "default", "example"):
            if key in self.facts:
                return self.facts[key]
        if self.facts.get("examples"):
            return self.facts["examples"][0]
        if self.facts.get("enum"):
            return self.facts["enum"][0]
        return None


_FACTS = ("type", "enum", "const", "default", "example", "examples", "maxItems", "minItems", "format",
          "maxLength", "minLength", "additionalProperties", "description", "pattern", "minimum")


def schema_of(node: SchemaPath | None) -> _Schema:
    out = _Schema(node)
    if node is None:
        return out
    for key in _FACTS:
        if key in node and key != "additionalProperties":
            value = _read(node, key)
            out.facts[key] = value
    if "additionalProperties" in node:
        out.facts["additionalProperties"] = _read(node, "additionalProperties") is not False
    if "items" in node:
        out.facts["items"] = node / "items"
    for name, child in _children(node, "properties"):
        out.properties[name] = child
    out.required = [str(r) for r in _read(node, "required", [])]
    for part in _list(node, "allOf"):
        inner = schema_of(part)
        out.properties.update(inner.properties)
        out.required += [r for r in inner.required if r not in out.required]
        out.facts = {**inner.facts, **out.facts}
        out.branched = out.branched or inner.branched
    for key in ("oneOf", "anyOf"):
        branches = _list(node, key)
        if branches:
            inner = schema_of(branches[0])
            out.properties = {**inner.properties, **out.properties}
            out.required += [r for r in inner.required if r not in out.required]
            out.facts = {**inner.facts, **out.facts}
            out.branched = out.branched or len(branches) > 1
    return out


@dataclass(frozen=True)
class _Operation:
    id: str
    path: str
    method: str
    node: SchemaPath
    item: SchemaPath  # its path item
    parameters: tuple[SchemaPath, ...]
    servers: tuple[tuple[str, str], ...]  # (URL as the description writes it, its description)
    server_variables: tuple[tuple[str, SchemaPath], ...]


def _operation(description: Description, operation_id: str) -> _Operation:
    found = description.operation(operation_id)
    if found is None:
        known = [op.operation_id for op in description.operations() if op.operation_id]
        close = get_close_matches(operation_id, known, n=3)
        raise InputError(f"no operation {operation_id!r} in the description"
                         + (f"; did you mean {', '.join(repr(c) for c in close)}?" if close else
                            f" ({len(known)} operation ids; `portalspec init --from-openapi SPEC` lists them)"))
    item = description.spec / "paths" / found.path
    parameters = {}
    for p in _list(item, "parameters") + _list(found.node, "parameters"):  # the operation's own win
        parameters[(_read(p, "in"), _read(p, "name"))] = p
    servers = _list(found.node, "servers") or _list(item, "servers") or _list(description.spec, "servers")
    variables = tuple((name, v) for s in servers[:1] for name, v in _children(s, "variables"))
    return _Operation(operation_id, found.path, found.method, found.node, item, tuple(parameters.values()),
                      tuple((str(_read(s, "url")), str(_read(s, "description", "") or "")) for s in servers),
                      variables)


def _media(node: SchemaPath) -> tuple[str, SchemaPath] | None:
    """The JSON media type of a request body or response, and its node."""
    found = dict(_children(node, "content"))
    for media_type in sorted(found, key=lambda t: (t.split(";")[0].strip() != JSON_TYPE, t)):
        if is_json_type(media_type):
            return media_type, found[media_type]
    return None


# --- writing the draft --------------------------------------------------------------------------

def _snake(name: str) -> str:
    text = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    text = re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_").lower()
    return text if re.match(r"[a-z_]", text or "0") else f"v_{text}"


def _singular(name: str) -> str:
    words = _snake(name).split("_")
    for i in range(len(words) - 1, -1, -1):
        if words[i].endswith("s") and len(words[i]) > 2:
            words[i] = words[i][:-1]
            return "_".join(words[: i + 1])
    return "_".join(words)


def _literal(text: str) -> str:
    return text.replace("$", "$$")


def _put(template: str, name: str, variable: str) -> str:
    """``template`` with OpenAPI's ``{name}`` as ``$variable`` (``${variable}`` where a name
    character follows, which would otherwise continue the name)."""
    return re.sub(r"\{" + re.escape(name) + r"\}(?=([A-Za-z0-9_])?)",
                  lambda m: f"${{{variable}}}" if m.group(1) else f"${variable}", template)


def _template(value: Any) -> str:
    """A JSON template from a value tree of plain JSON, :class:`Raw` and :class:`Text`."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Text):
        return '"' + value.text + '"'
    if isinstance(value, str):
        return _literal(json.dumps(value, ensure_ascii=False))
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_template(k)}: {_template(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_template(v) for v in value) + "]"
    return json.dumps(value)


class _Drafter:
    def __init__(self, description: Description, operations: Operations, name: str | None,
                 display_name: str | None, schema_path: str):
        self.spec = description.spec
        self.root = description.data
        self.schema_path = schema_path
        self.chosen = {endpoint: _operation(description, op) for endpoint, op in operations.by_endpoint().items()}
        self.source = description.file
        self.title = display_name or description.title
        slug = re.sub(r"[^a-z0-9_-]+", "-", (name or self.title).lower()).strip("-_")[:63]
        self.name = slug or "my-integration"
        self.decisions: list[Decision] = []
        self.custom_fields: dict[str, dict[str, Any]] = {}
        self.mapping_fields: dict[str, dict[str, Any]] = {}
        self.examples: dict[str, Any] = {}  # a mapping variable's example value, for users.csv
        self.headers_by_endpoint: dict[str, dict[str, str]] = {}
        self.query_auth: tuple[str, str] | None = None  # (parameter, variable) for an API key in the query
        self.auth_method = "none"
        self.auth_settings: dict[str, Any] = {}

    def decide(self, path: Path, note: str) -> None:
        self.decisions.append(Decision(path, note))

    # --- fields --------------------------------------------------------------------------------

    def custom_field(self, variable: str, display_name: str, schema: _Schema, *, secret: bool = False,
                     description: str | None = None) -> str:
        variable = self._free(variable)
        if variable in self.custom_fields:
            return variable
        spec: dict[str, Any] = {"variable": variable, "display_name": display_name}
        options = schema.facts.get("enum")
        if options and all(isinstance(o, str) for o in options):
            spec["type"] = "single_select"
            spec["options"] = [{"label": str(o), "value": o} for o in options]
            if schema.facts.get("default") in options:
                spec["default"] = schema.facts["default"]
        else:
            spec["type"] = "string"
        if secret:
            spec["secret"] = True
        text = description or schema.facts.get("description")
        if isinstance(text, str) and text.strip():
            spec["description"] = " ".join(text.split())[:300]
        self.custom_fields[variable] = spec
        return variable

    def mapping_field(self, variable: str, display_name: str, schema: _Schema) -> str:
        variable = self._free(variable)
        if variable not in self.mapping_fields:
            shown = display_name.replace("_", " ")
            self.mapping_fields[variable] = {"variable": variable,
                                             "mapping_display_name": f"{shown[:1].upper()}{shown[1:]} Mapping",
                                             "display_name": display_name}
            self.examples[variable] = _example_text(schema)
        return variable

    def _free(self, variable: str) -> str:
        """A declarable name: not a pre-defined variable nor one of the auth method's."""
        variable = _snake(variable) or "value"
        taken = set(PREDEFINED) | {v.name for v in AUTH_METHODS[self.auth_method].variables}  # (all its grants')
        return f"{variable}_value" if variable in taken else variable

    # --- auth -----------------------------------------------------------------------------------

    def auth(self) -> dict[str, Any]:
        names: list[str] = []
        for op in self.chosen.values():
            requirements = _list(op.node, "security") if "security" in op.node else _list(self.spec, "security")
            for requirement in requirements:
                names += [str(n) for n in requirement.keys() if str(n) not in names]
        schemes = dict(_children(self.spec / "components", "securitySchemes")) if "components" in self.spec else {}
        for scheme_name in names:
            if scheme_name not in schemes:
                continue
            scheme = schemes[scheme_name].read_value()
            found = auth_for_scheme(scheme)
            if found is not None:
                self.auth_method, self.auth_settings = found.method, found.settings
                out = {k: v for k, v in found.settings.items() if v and k != "client_auth"}
                if found.method == "header" and (found.header_name or "").lower() == "authorization":
                    self.decide(("auth",), "the description puts an API key in the Authorization header without "
                                "saying how it is written: if it is `Bearer <key>`, use `method: bearer`")
                if found.method == "oauth2":
                    self.decide(("auth",), "does the token endpoint take the client's id and secret as form fields "
                                "(client_auth: body, the default) or as HTTP Basic (client_auth: basic)?"
                                + (" The customer brings a refresh token from the authorization code flow."
                                   if found.grant == "refresh_token" else ""))
                if len(names) > 1:
                    self.decide(("auth",), f"the description offers {', '.join(names)}; this draft uses "
                                f"{scheme_name}")
                return out
            if scheme.get("type") == "apiKey" and scheme.get("in") == "query" and scheme.get("name"):
                variable = self.custom_field("api_key", "API Key", _Schema(None), secret=True)
                self.query_auth = (str(scheme["name"]), variable)
                self.decide(("auth",), f"the API key travels in the query parameter {scheme['name']}: no auth "
                            "method sends it there, so it is a secret field written into every URL")
                return {"method": "none"}
        if names:
            self.decide(("auth",), f"no auth method sends {', '.join(names)}; write the header under `headers:`")
        return {"method": "none"}

    # --- URLs -----------------------------------------------------------------------------------

    def base_url(self, endpoint: str, op: _Operation) -> str:
        """The start of the endpoint's URLs: its server, or a select of its servers."""
        if len(op.servers) > 1:
            urls = [(self._server_default(op, url), label) for url, label in op.servers]
            found = [(re.match(r"(https?://[^/?#]+)(.*)", url), label) for url, label in urls]
            split = [(m.group(1), m.group(2).rstrip("/"), label) for m, label in found if m is not None]
            if split:
                options: dict[str, str] = {}
                for origin, _, label in split:  # (the first server of an origin names it)
                    options.setdefault(origin, label or origin.split("://", 1)[1])
                variable = self.custom_field("base_url", "Data center", _Schema(None))
                self.custom_fields[variable].update(
                    type="single_select", options=[{"label": label, "value": origin} for origin, label in options.items()],
                    default=split[0][0])
                self.decide(("custom_fields",), "the description lists several servers: the customer picks one "
                            "(an origin select, PS511); check the labels")
                if len({rest for _, rest, _ in split}) > 1 or len(split) < len(urls):
                    self.decide(("endpoints", endpoint, "url"), "the servers differ in more than their origin; "
                                "this URL follows the first")
                return f"${variable}" + split[0][1]
        url = _literal(op.servers[0][0]) if op.servers else "/"
        if not re.match(r"https?://", url):
            self.decide(("endpoints", endpoint, "url"), f"the description's server is {url!r}, not an absolute "
                        "URL: write the API's host")
            return "https://api.example.com" + url.rstrip("/")
        for name, node in op.server_variables:
            schema = schema_of(node)
            default = schema.facts.get("default")
            if isinstance(default, str) and re.fullmatch(r"[A-Za-z0-9-]{1,63}", default) \
                    and re.search(r"://[^/]*\{" + re.escape(name) + r"\}", url):
                variable = self.custom_field(name, name.replace("_", " ").capitalize(), schema)
                url = _put(url, name, variable)
            else:
                url = url.replace("{" + name + "}", str(default or ""))
        return url.rstrip("/")

    @staticmethod
    def _server_default(op: _Operation, url: str) -> str:
        defaults = {name: str(_read(node, "default", "")) for name, node in op.server_variables}
        return re.sub(r"\{([^}]*)\}", lambda m: defaults.get(m.group(1), ""), url)

    def url(self, endpoint: str, op: _Operation) -> tuple[str, bool, tuple[str, _Schema] | None]:
        """The endpoint's URL, whether it carries the list's id, and the query parameter that
        carries the users' ids (``$items``), if one does."""
        path = _literal(op.path)
        scoped = KINDS[endpoint].list_scoped
        path_parameters = [(str(_read(p, "name")), p) for p in op.parameters if _read(p, "in") == "path"]
        list_name = next((n for n, _ in path_parameters if _LIST_ID.match(n)), None) if scoped else None
        if scoped and list_name is None and len(path_parameters) == 1:
            list_name = path_parameters[0][0]
            self.decide(("endpoints", endpoint, "url"), f"the path parameter {list_name} is taken for the list's id")
        list_id = list_name is not None
        for name, p in path_parameters:
            if name == list_name:
                path = _put(path, name, "list_id")
                continue
            variable = self.custom_field(name, name.replace("_", " ").capitalize(), _parameter_schema(p),
                                         description=_read(p, "description"))
            path = _put(path, name, variable)
            self.decide(("custom_fields",), f"the path parameter {name} of {op.id} is a field the customer fills "
                        "in; check that it is not something Amplitude knows")
        query: list[str] = []
        items: tuple[str, _Schema] | None = None
        for p in op.parameters:
            if _read(p, "in") != "query" or not _read(p, "required", False):
                continue
            name = str(_read(p, "name"))
            schema = _parameter_schema(p)
            if scoped and not list_id and _LIST_ID.match(name):
                query.append(f"{name}=$list_id")
                list_id = True
            elif KINDS[endpoint].batch and items is None and (schema.type == "array" or re.search(
                    r"comma|separated|list of", str(_read(p, "description", "")), re.IGNORECASE)):
                query.append(f"{name}=$items")
                items = (name, schema)
            elif schema.example() is not None and not isinstance(schema.example(), (dict, list)):
                query.append(f"{name}={_literal(_text_of(schema.example()))}")
                if "const" not in schema.facts and len(schema.facts.get("enum") or ()) != 1:
                    self.decide(("endpoints", endpoint, "url"), f"the query parameter {name} is set to the "
                                "description's example or first value")
            else:
                variable = self.custom_field(name, name.replace("_", " ").capitalize(), schema,
                                             description=_read(p, "description"))
                query.append(f"{name}=${variable}")
        if self.query_auth:
            query.append(f"{self.query_auth[0]}=${self.query_auth[1]}")
        return self.base_url(endpoint, op) + path + ("?" + "&".join(query) if query else ""), list_id, items

    # --- headers --------------------------------------------------------------------------------

    def headers(self, endpoint: str, op: _Operation, media_type: str | None) -> dict[str, str]:
        out: dict[str, str] = {}
        for p in op.parameters:
            if _read(p, "in") != "header" or not _read(p, "required", False):
                continue
            name = str(_read(p, "name"))
            if name.lower() in ("content-type", "accept", "authorization"):
                continue
            schema = _parameter_schema(p)
            fixed = schema.example()
            if fixed is not None and not isinstance(fixed, (dict, list)):
                out[name] = _literal(_text_of(fixed))
                if "const" not in schema.facts and len(schema.facts.get("enum") or ()) != 1:
                    self.decide(("headers",), f"the header {name} is set to the description's example or default")
            else:
                variable = self.custom_field(name, name, schema, description=_read(p, "description"))
                out[name] = f"${variable}"
        if media_type is not None and media_type.split(";")[0].strip().lower() != JSON_TYPE:
            out["Content-Type"] = media_type
        return out

    # --- bodies ---------------------------------------------------------------------------------

    def payload(self, endpoint: str, op: _Operation, list_id_in_url: bool, query_items: tuple[str, _Schema] | None
                ) -> tuple[str | None, str | None, int | None, str | None]:
        """(payload, item template, batch size, media type) of an endpoint."""
        body = op.node / "requestBody" if "requestBody" in op.node else None
        media = _media(body) if body is not None else None
        where: Path = ("endpoints", endpoint, "payload")
        batch = KINDS[endpoint].batch
        if media is None:
            if body is not None:
                self.decide(where, f"{op.id} takes no JSON body; portalspec sends JSON")
            if batch and query_items is not None:
                name, schema = query_items
                item = schema.items() if schema.type == "array" else _Schema(None)
                variable = self.mapping_field(_singular(name), _singular(name), item)
                return None, f"${variable}", schema.facts.get("maxItems"), None
            if batch:
                variable = self.mapping_field("user_id", "User ID", _Schema(None))
                self.decide(where, f"{op.id} has no body nor a list of ids in its query: where do the users go?")
                return '{"users": $items}', f'"${variable}"', None, None
            return None, None, None, None
        schema = schema_of(media[1] / "schema" if "schema" in media[1] else None)
        state = _BodyState(endpoint, list_id_in_url)
        value = self.value(schema, (), state, create=endpoint == "create_list")
        if batch and state.items is None:
            self.decide(where, "no array of users found in the request schema: put $items where the users go")
        if KINDS[endpoint].list_scoped and not state.list_id and not list_id_in_url:
            self.decide(where, "the list's id is not in the URL nor found in the body: put $list_id where it goes")
        if schema.branched:
            self.decide(where, "the request schema offers several shapes (oneOf/anyOf); the draft follows the first")
        return _template(value), state.item, state.batch_size, media[0]

    def value(self, schema: _Schema, at: tuple[str, ...], state: _BodyState, *, create: bool = False) -> Any:
        where: Path = ("endpoints", state.endpoint, "payload")
        if "const" in schema.facts:
            return schema.facts["const"]
        kind = schema.type
        if kind == "object":
            out: dict[str, Any] = {}
            users = self._users_array(schema, state)
            for name, node in schema.properties.items():
                child = schema_of(node)
                if name == users:
                    out[name] = self.items(child, name, state)
                elif KINDS[state.endpoint].list_scoped and not state.list_id and not state.in_url \
                        and _LIST_ID.match(name):
                    state.list_id = True
                    out[name] = [Text("$list_id")] if child.type == "array" else \
                        Raw("$list_id") if child.type in ("integer", "number") else Text("$list_id")
                elif name in schema.required:
                    out[name] = self.value(child, at + (name,), state, create=create)
            return out
        if kind == "array":
            example = schema.example()
            return example if isinstance(example, list) else []
        if kind == "string" and create and at and _LIST_NAME.match(at[-1]):
            max_length = schema.facts.get("maxLength")
            if isinstance(max_length, int) and max_length < 100:
                self.decide(where, f"{'.'.join(at)} is at most {max_length} characters: a long cohort name is "
                            "refused")
            return Text(COHORT_NAME)
        example = schema.example()
        if example is not None:
            if "const" not in schema.facts and len(schema.facts.get("enum") or ()) != 1:
                self.decide(where, f"{'.'.join(at) or 'the body'} is set to the description's "
                            f"{'first allowed value' if schema.facts.get('enum') else 'example'}: {example!r}")
            return example
        if kind == "string":
            variable = self.custom_field(at[-1] if at else "value", (at[-1] if at else "Value").replace("_", " "),
                                         schema)
            self.decide(("custom_fields",), f"{'.'.join(at)} is required and has no example: a field the customer "
                        "fills in, or a constant?")
            return Text(f"${variable}")
        self.decide(where, f"{'.'.join(at) or 'the body'} is required ({kind or 'any type'}) and has no example")
        return {"integer": 0, "number": 0, "boolean": False}.get(kind or "", None)

    def _users_array(self, schema: _Schema, state: _BodyState) -> str | None:
        if not KINDS[state.endpoint].batch or state.items is not None:
            return None
        arrays = [n for n, node in schema.properties.items()
                  if schema_of(node).type == "array" and not _LIST_ID.match(n)]
        if not arrays:
            return None
        ranked = sorted(arrays, key=lambda n: (n not in schema.required,
                                               _USERS.index(n.lower()) if n.lower() in _USERS else len(_USERS)))
        if len(arrays) > 1:
            self.decide(("endpoints", state.endpoint, "payload"), f"$items is put at {ranked[0]}; the other arrays "
                        f"({', '.join(ranked[1:])}) could hold the users too")
        return ranked[0]

    def items(self, array: _Schema, name: str, state: _BodyState) -> Raw:
        item = array.items()
        state.batch_size = array.facts.get("maxItems")
        where: Path = ("endpoints", state.endpoint, "item_template")
        if item.type == "object":
            template: dict[Any, Any] = {}
            # The members the item must have; when it requires none, the first (most often the id).
            keys = [k for k in item.properties if k in item.required] or list(item.properties)[:1]
            for key in keys:
                child = schema_of(item.properties[key])
                if child.type in ("string", None) and "const" not in child.facts and not child.facts.get("enum"):
                    variable = self.mapping_field(key, key, child)
                    template[key] = Text(f"${variable}")
                else:
                    template[key] = self.value(child, (name, key), _BodyState(state.endpoint, True, items=""))
            if state.endpoint == "update_users":
                trait = next((k for k, n in item.properties.items()
                              if schema_of(n).type == "object" and schema_of(n).facts.get("additionalProperties",
                                                                                         True)), None)
                if trait is not None:
                    template[trait] = {Text("[Amplitude] $amp_cohort_name"): Raw("$amp_in_cohort")}
                else:
                    self.decide(where, "where does the cohort's true/false ($amp_in_cohort) go in the item?")
            if not template:
                variable = self.mapping_field("user_id", "User ID", _Schema(None))
                template = {"id": Text(f"${variable}")}
                self.decide(where, "the item schema requires nothing: which member identifies the user?")
            state.item = _template(template)
        elif item.type in ("integer", "number"):
            variable = self.mapping_field(_singular(name), _singular(name), item)
            state.item = f"${variable}"
            self.decide(where, f"{name} holds numbers: the mapped property must hold numbers too")
        else:
            variable = self.mapping_field(_singular(name), _singular(name), item)
            state.item = f'"${variable}"'
        state.items = name
        return Raw("$items")

    # --- create's response ------------------------------------------------------------------------

    def list_id(self, op: _Operation, payload: Any) -> tuple[dict[str, Any], Any]:
        where: Path = ("endpoints", "create_list", "list_id")
        for status, response in sorted(_children(op.node, "responses"), key=lambda r: r[0]):
            if not status.startswith("2") and status != "default":
                continue
            media = _media(response)
            if media is None:
                continue
            schema = schema_of(media[1] / "schema" if "schema" in media[1] else None)
            path = _find_id(schema, ())
            example = _read(media[1], "example")
            if example is None:
                example = next((_read(e, "value") for _, e in _children(media[1], "examples")), None)
            if path is None:
                self.decide(where, f"no id found in the {status} response schema: write its JSONPath")
                return {"path": "id"}, example
            if _dig(example, path) is None:
                example = example_of(schema)
            return {"path": ".".join(path)}, example
        self.decide(where, "the description gives no JSON success response: where is the new list's id?")
        return {"path": "id"}, None

    def limits(self, endpoint: str, op: _Operation, spec: dict[str, Any]) -> None:
        """The rate and size limits the description states for the operation, found as ``check``
        finds them (:func:`.limits.statements`): declared where a number can be read from its
        words, else left to a person."""
        for statement in statements(op.node, op.item, self.root):
            rate = _RATE.search(statement.text) if statement.kind.name == "rate" else None
            size = _SIZE.search(statement.text) if statement.kind.name == "size" else None
            if rate:
                per = int(rate.group(2) or 1) * _SECONDS[rate.group(3).lower()]
                spec["rate_limit"] = {"requests": int(rate.group(1).replace(",", "")), "per_seconds": per}
                self.decide(("endpoints", endpoint, "rate_limit"), f"read from the description's words "
                            f"\"{rate.group(0)}\"; is the limit per customer, per key or shared?")
            elif size and KINDS[endpoint].batch:
                unit = _BYTES[size.group(2).lower()]
                spec["max_body_bytes"] = int(float(size.group(1)) * unit)
                self.decide(("endpoints", endpoint, "max_body_bytes"), f"read from the description's words "
                            f"\"{size.group(0)}\"; {size.group(2)} is taken as {unit:,} bytes")
            else:
                self.decide(("endpoints", endpoint), f"the description states a {statement.kind.name} limit "
                            f"({statement.where}: \"{statement.text}\"); declare it with "
                            f"{statement.kind.declared_by} if it applies")

    def errors(self, endpoint: str, op: _Operation) -> list[dict[str, Any]]:
        out = []
        for status, _ in sorted(_children(op.node, "responses"), key=lambda r: r[0]):
            if status.isdigit() and int(status) in _MESSAGES:
                reason, message = _MESSAGES[int(status)]
                out.append({"status": int(status), "reason": reason, "message": message.format(title=self.title)})
        if out:
            self.decide(("endpoints", endpoint, "errors"), "the customer reads these messages: say what to do")
        return out

    # --- the whole draft ------------------------------------------------------------------------

    def draft(self) -> Draft:
        auth = self.auth()
        endpoints: dict[str, dict[str, Any]] = {}
        example_response: Any = None
        for endpoint, op in self.chosen.items():
            url, list_id_in_url, query_items = self.url(endpoint, op)
            payload, item, batch_size, media_type = self.payload(endpoint, op, list_id_in_url, query_items)
            spec: dict[str, Any] = {"method": op.method.upper(), "url": url}
            headers = self.headers(endpoint, op, media_type)
            if headers:
                self.headers_by_endpoint[endpoint] = headers
            if payload is not None:
                spec["payload"] = payload
            if item is not None:
                spec["item_template"] = item
            if isinstance(batch_size, int) and batch_size >= 1:
                spec["batch_size"] = min(batch_size, 100000)
            elif KINDS[endpoint].batch:
                self.decide(("endpoints", endpoint), f"{op.id} states no maximum number of users per call; "
                            "the default batch_size is 10000")
            self.limits(endpoint, op, spec)
            if endpoint == "create_list":
                spec["list_id"], example_response = self.list_id(op, payload)
                if example_response is not None:
                    spec["example_response"] = example_response
            errors = self.errors(endpoint, op)
            if errors:
                spec["errors"] = errors
            endpoints[endpoint] = spec
        shared = _shared_headers(self.headers_by_endpoint, list(endpoints))
        for endpoint, headers in self.headers_by_endpoint.items():
            own = {k: v for k, v in headers.items() if k not in shared}
            if own:
                endpoints[endpoint]["headers"] = own
        data: dict[str, Any] = {
            "portalspec": 1, "name": self.name, "display_name": self.title, "category": "Messaging",
            "summary": f"Sync Amplitude cohorts to {self.title}.",
            "type": KINDS[next(iter(self.chosen))].type, "auth": auth,
        }
        self.decide(("category",), "the portal's category for this destination")
        if shared:
            data["headers"] = shared
        if self.custom_fields:
            data["custom_fields"] = list(self.custom_fields.values())
        if not self.mapping_fields:
            self.mapping_field("user_id", "User ID", _Schema(None))
        data["mapping_fields"] = list(self.mapping_fields.values())
        data["endpoints"] = endpoints
        header = [f"Drafted by `portalspec init --from-openapi` from {self.source}, operations "
                  + ", ".join(f"{op.id} ({e})" for e, op in self.chosen.items()) + ".",
                  f"Every `# {DECIDE}` comment marks a choice the description does not settle: settle each, "
                  "delete the comment, then run `portalspec validate` and `portalspec check --openapi`."]
        text = _emit(data, self.decisions, header, self.schema_path)
        return Draft(text, self._values(), self._users(), tuple(dict.fromkeys(self.decisions)))

    def _values(self) -> str:
        lines = ["# Example values for previews and checks (not real credentials).", "fields:"]
        fields: dict[str, Any] = {}
        for v in AUTH_METHODS[self.auth_method].declared(self.auth_settings):
            fields[v.name] = f"test-{v.name.replace('_', '-')}"
        for variable, spec in self.custom_fields.items():
            options = spec.get("options")
            fields[variable] = spec.get("default", options[0]["value"] if options else f"example-{variable}")
        lines += [f"  {k}: {json.dumps(v, ensure_ascii=False)}" for k, v in fields.items()] or ["  {}"]
        if lines[-1] == "  {}":
            lines[-2:] = ["fields: {}"]
        lines.append("mappings:")
        lines += [f"  {v}: {v}" for v in self.mapping_fields]
        lines.append('cohort: {id: "1234", name: "Beta users", url: "https://app.amplitude.com/analytics/demo/cohort/1234"}')
        return "\n".join(lines) + "\n"

    def _users(self) -> str:
        variables = list(self.mapping_fields)
        rows = [",".join(["operation", *variables, "amp_cohort_name", "amp_cohort_id"])]
        for i, operation in enumerate(("add", "add", "add", "remove")):
            n = min(i, 2) + 1
            rows.append(",".join([operation, *(_nth(self.examples.get(v, "user"), n) for v in variables),
                                  "Beta users", "1234"]))
        return "\n".join(rows) + "\n"


@dataclass
class _BodyState:
    endpoint: str
    in_url: bool  # the list's id is in the URL already
    items: str | None = None  # where $items went
    item: str | None = None  # the item template
    batch_size: int | None = None
    list_id: bool = False


def _parameter_schema(parameter: SchemaPath) -> _Schema:
    return schema_of(parameter / "schema" if "schema" in parameter else None)


def _text_of(value: Any) -> str:
    """A constant as text in a URL or header: JSON's spelling for booleans."""
    return json.dumps(value) if isinstance(value, bool) or value is None else str(value)


def _nth(example: str, n: int) -> str:
    """The n-th example user's value, still of the first's kind: ``ada@example.com`` →
    ``ada2@example.com``, a UUID's last digit n, ``user`` → ``user2``."""
    if "@" in example:
        local, _, domain = example.partition("@")
        return f"{local}{n}@{domain}"
    digits = [m.start() for m in re.finditer(r"[0-9]", example)]
    if digits:
        return example[:digits[-1]] + str(n % 10) + example[digits[-1] + 1:]
    return f"{example}{n}"


def _example_text(schema: _Schema) -> str:
    """The first example user's value of a mapping variable (users.csv)."""
    if schema.facts.get("format") in FORMAT_SAMPLES or schema.type in ("integer", "number"):
        return _text_of(example_of(schema))
    if "email" in str(schema.facts.get("description", "")).lower():
        return FORMAT_SAMPLES["email"][0]
    return "user"


def example_of(schema: _Schema, depth: int = 0) -> Any:
    """A value the schema accepts: its own example, else one made from its type and format
    (an object with its required members)."""
    given = schema.example()
    if given is not None or depth > 8:
        return given
    kind = schema.type
    if kind == "object":
        return {k: example_of(schema_of(schema.properties[k]), depth + 1)
                for k in schema.properties if k in schema.required}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        low = schema.facts.get("minimum")
        return low if isinstance(low, (int, float)) and not isinstance(low, bool) else 1
    if kind == "boolean":
        return True
    if kind == "string" or kind is None:
        fmt = schema.facts.get("format")
        text = FORMAT_SAMPLES[fmt][0] if isinstance(fmt, str) and fmt in FORMAT_SAMPLES else "example"
        low = schema.facts.get("minLength")
        return text + "x" * (low - len(text)) if isinstance(low, int) and low > len(text) else text
    return None


def _find_id(schema: _Schema, at: tuple[str, ...], depth: int = 0) -> tuple[str, ...] | None:
    """Where a response schema holds the new resource's id: ``id`` (or ``list_id``, ``key`` …)
    at the top, else the nearest one inside an object member."""
    for key in _ID_KEYS:
        if key in schema.properties and schema_of(schema.properties[key]).type in ("string", "integer", None):
            return at + (key,)
    for key, node in schema.properties.items():
        if re.search(r"(^|_)id$|Id$", key) and schema_of(node).type in ("string", "integer"):
            return at + (key,)
    if depth < 3:
        for key, node in schema.properties.items():
            inner = schema_of(node)
            if inner.type == "object":
                found = _find_id(inner, at + (key,), depth + 1)
                if found:
                    return found
    return None


def _dig(document: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(document, dict) or key not in document:
            return None
        document = document[key]
    return document if isinstance(document, (str, int, float)) and not isinstance(document, bool) else None


def _shared_headers(by_endpoint: dict[str, dict[str, str]], endpoints: list[str]) -> dict[str, str]:
    """The headers every endpoint sends alike: written once, at the top."""
    if not by_endpoint or set(by_endpoint) != set(endpoints):
        return {}
    first = next(iter(by_endpoint.values()))
    return {k: v for k, v in first.items() if all(h.get(k) == v for h in by_endpoint.values())}


# --- YAML with comments ---------------------------------------------------------------------------

def _scalar(value: Any) -> str:
    import yaml

    if isinstance(value, str) and value and "\n" not in value and ": " not in value and " #" not in value \
            and value == value.strip() and not value.startswith(("'", '"', "{", "[", "&", "*", "!", "|", ">", "%", "@",
                                                                   "`", "#", "-", "?", ",")):
        try:
            if yaml.safe_load(value) == value:
                return value
        except yaml.YAMLError:
            pass
    return json.dumps(value, ensure_ascii=False)


def _comment(lines: list[str], indent: int, text: str) -> None:
    for line in textwrap.wrap(text, width=max(40, 100 - indent), break_on_hyphens=False):
        lines.append(" " * indent + "# " + line)


def _emit(data: dict[str, Any], decisions: list[Decision], header: list[str], schema_path: str) -> str:
    notes: dict[Path, list[str]] = {}
    for d in decisions:
        notes.setdefault(d.path, []).append(d.note)
    lines = [f"# yaml-language-server: $schema={schema_path}"]
    for text in header:
        _comment(lines, 0, text)

    def mapping(value: dict[str, Any], indent: int, path: Path, first_prefix: str | None = None) -> None:
        for i, (key, child) in enumerate(value.items()):
            here = path + (key,)
            pad = " " * indent
            lead = first_prefix if first_prefix is not None and i == 0 else pad
            for note in dict.fromkeys(notes.get(here, ())):
                _comment(lines, indent, f"{DECIDE} {note}")
            name = _scalar(key)
            if isinstance(child, str) and key in ("payload", "item_template") and child.strip().startswith(("{", "[", '"')):
                lines.append(f"{lead}{name}: |")
                lines.append(pad + "  " + child)
            elif isinstance(child, dict) and child and key not in ("example_response",):
                lines.append(f"{lead}{name}:")
                mapping(child, indent + 2, here)
            elif isinstance(child, list) and child and all(isinstance(c, dict) for c in child) \
                    and key not in ("options", "errors"):
                lines.append(f"{lead}{name}:")
                for j, entry in enumerate(child):
                    mapping(entry, indent + 4, here + (j,), first_prefix=pad + "  - ")
            elif isinstance(child, list) and child and key in ("options", "errors"):
                lines.append(f"{lead}{name}:")
                lines.extend(f"{pad}  - {_flow(entry)}" for entry in child)
            elif isinstance(child, (dict, list)):
                lines.append(f"{lead}{name}: {json.dumps(child, ensure_ascii=False)}")
            else:
                lines.append(f"{lead}{name}: {_scalar(child)}")

    mapping(data, 0, ())
    return "\n".join(lines) + "\n"


def _flow(entry: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in entry.items()) + "}"


def draft(description: Description, operations: Operations, *, schema_path: str, name: str | None = None,
          display_name: str | None = None) -> Draft:
    """Draft a definition from a loaded description's ``operations``; ``schema_path`` is where
    the definition's modeline points. Raises :class:`InputError` for an operation the
    description does not have, or a set of operations that makes no definition."""
    return _Drafter(description, operations, name, display_name, schema_path).draft()

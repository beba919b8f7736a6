"""``portalspec openapi``: the OpenAPI 3.1 description of what a destination must implement.

A definition says exactly which requests Amplitude sends; this module writes that down as the
contract a partner's API team builds against, readable by any OpenAPI tool:

- one operation per method and path (endpoints that share both, as add and remove often do,
  share an operation whose body is any of theirs), named by the endpoints;
- servers from the URLs' origins: a base-URL select lists its options, a variable in the host
  is a server variable;
- path parameters from the variables in the path, query parameters from the query (fixed
  parts as constants, ``$items`` as a comma-separated array), the definition's headers as
  header parameters, the auth method as the security scheme (``AuthMethod.security_scheme``);
- request bodies from the payload templates: the JSON structure as written, fixed values as
  constants, each variable as the schema of its value (``VariableInfo.value_schema``, a
  field's type, mapping variables as strings), ``$items`` as an array of the item schema with
  ``maxItems: batch_size``;
- create_list's success response with the list id at ``list_id.path``, and each endpoint's
  error classifications as responses.

The output depends only on the definition, so it is the same on every run. Validation uses
``openapi-spec-validator``, imported only when asked (:func:`problems`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping
from urllib.parse import unquote

from ..compiler import CompiledEndpoint, compile_endpoints
from ..headers import is_json_type
from ..kinds import KINDS
from ..model import CustomField, Definition, ErrorClassification, FieldOption, RateLimit
from ..jsonpath import path_steps
from ..template import Position, Slot, Template, as_text
from ..variables import PREDEFINED

OPENAPI = "3.1.0"
JSON_TYPE = "application/json"
Schema = dict[str, Any]

# A template's variables are replaced by markers before its text is read as JSON (or split as
# a URL), so the structure comes from the JSON parser and each marker says which variable
# stood there. Private-use characters: no definition's literal text holds them.
_VALUE, _TEXT, _END = "\ue000", "\ue001", "\ue002"
_WHOLE_VALUE = re.compile(f"{_VALUE}(\\d+){_END}")
_IN_TEXT = re.compile(f"{_TEXT}(\\d+){_END}")
_URL_START = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/?#]*)(.*)", re.DOTALL)
# Header parameters OpenAPI ignores ("SHALL be ignored"): the body's media type and the
# credential are described by requestBody and the security scheme instead.
_CONTENT_TYPE, _AUTHORIZATION, _ACCEPT = "content-type", "authorization", "accept"
_ANY_ID: Schema = {"type": ["string", "integer"]}


def _plain(value: Any) -> Any:
    """A JSON-ready copy (the variable table's schemas are read-only mappings of tuples)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _json_type(values: Iterable[Any]) -> str | None:
    types = {"boolean" if isinstance(v, bool) else "number" if isinstance(v, (int, float)) else
             "string" if isinstance(v, str) else "other" for v in values}
    return types.pop() if len(types) == 1 and "other" not in types else None


def _options_schema(options: tuple[FieldOption, ...]) -> Schema:
    values = list(dict.fromkeys(o.value for o in options))
    kind = _json_type(values)
    return {**({"type": kind} if kind else {}), "enum": values}


_FIELD_TYPES: Mapping[str, Schema] = {
    "boolean": {"type": "boolean"},
    "number": {"type": "number"},
    "origin": {"type": "string", "format": "uri"},
}


def _field_schema(field: CustomField) -> Schema:
    if field.options:
        return _options_schema(field.options)
    return dict(_FIELD_TYPES.get(field.type, {"type": "string"}))


def _const(value: Any) -> Schema:
    kind = "boolean" if isinstance(value, bool) else "integer" if isinstance(value, int) else \
        "number" if isinstance(value, float) else "string" if isinstance(value, str) else "null"
    return {"type": kind} if value is None else {"type": kind, "const": value}


def _subset(value: Any) -> Schema:
    """A body that holds ``value`` as a subset, as an error classification's sub_error_code matches."""
    if isinstance(value, dict):
        return {"type": "object", "properties": {k: _subset(v) for k, v in value.items()}, "required": list(value)}
    return {"const": value}


def _text(schema: Schema) -> Schema:
    """The schema of a value written as text (in a JSON string, a URL or a header)."""
    if "enum" in schema or schema.get("type") == "boolean":
        values = schema.get("enum", (True, False))
        return {"type": "string", "enum": list(dict.fromkeys(as_text(v) for v in values))}
    return schema if schema.get("type") == "string" else {"type": "string"}


def _marked(template: Template, value_marks: bool = True) -> tuple[str, list[Slot]]:
    pieces: list[str] = []
    slots: list[Slot] = []
    for part in template.parts:
        if isinstance(part, str):
            pieces.append(part)
            continue
        mark = f"{len(slots)}{_END}"
        pieces.append(f'"{_VALUE}{mark}"' if value_marks and part.position is Position.JSON_VALUE else _TEXT + mark)
        slots.append(part)
    return "".join(pieces), slots


def _template(text: str, slots: list[Slot]) -> str:
    """Marked text with each variable as an OpenAPI template expression, ``{name}`` (a literal
    brace percent-encoded, as it is on the wire: it would read as one)."""
    literal = text.replace("{", "%7B").replace("}", "%7D")
    return _IN_TEXT.sub(lambda m: "{" + slots[int(m.group(1))].name + "}", literal)


@dataclass(frozen=True)
class _Operation:
    endpoint: CompiledEndpoint
    method: str
    path: str
    servers: tuple[Schema, ...]
    parameters: tuple[Schema, ...]
    body: Schema | None  # the request body's schema; None without a payload
    media_type: str
    security: tuple[tuple[str, Schema], ...]  # (scheme name, scheme), empty for none


class _Describer:
    """Turns one definition's compiled endpoints into OpenAPI objects."""

    def __init__(self, definition: Definition):
        self.definition = definition
        self.fields = {f.variable: f for f in definition.custom_fields}
        self.mappings = {m.variable: m for m in definition.mapping_fields}
        self.auth_variables = set(definition.auth.variables)
        self.endpoints = compile_endpoints(definition)
        self.list_id = self._list_id_schema()

    # --- values ---------------------------------------------------------------------------

    def _list_id_schema(self) -> Schema:
        create = self.definition.endpoint("create_list")
        if create is None or create.list_id is None:
            return dict(_ANY_ID)
        if create.list_id.source == "response_header":
            return {"type": "string"}
        if create.list_id.source == "response_body" and create.example_response is not None:
            steps = path_steps(create.list_id.path)
            found: Any = create.example_response
            for step in steps or ():
                try:
                    found = found[step]
                except (KeyError, IndexError, TypeError):
                    return dict(_ANY_ID)
            if steps is not None and not isinstance(found, bool) and isinstance(found, (str, int, float)):
                return {"type": _const(found)["type"]}
        return dict(_ANY_ID)

    def value(self, name: str, endpoint: CompiledEndpoint) -> Schema:
        """The schema of variable ``name``'s value standing as a JSON value."""
        if name == "items":
            return {"type": "array", "items": self.item(endpoint), "maxItems": endpoint.batch_size}
        if name == "item":
            return self.item(endpoint)
        if name == "list_id":
            return dict(self.list_id)
        if name in self.fields:
            return _field_schema(self.fields[name])
        if name in self.mappings:
            mapping = self.mappings[name]
            return _text(_options_schema(mapping.options)) if mapping.options else {"type": "string"}
        if name in self.auth_variables:
            return {"type": "string"}
        if name in PREDEFINED:
            return _plain(PREDEFINED[name].value_schema)
        return {}

    def text_value(self, name: str, endpoint: CompiledEndpoint) -> Schema:
        return _text(self.value(name, endpoint))

    def item(self, endpoint: CompiledEndpoint) -> Schema:
        if endpoint.item is None:
            return {}
        if endpoint.items_in_url:
            return self.text(endpoint.item, endpoint)
        return self.json(endpoint.item, endpoint)

    def text(self, template: Template, endpoint: CompiledEndpoint) -> Schema:
        """A template read as text (a header value, an item in a URL)."""
        slots = [p for p in template.parts if isinstance(p, Slot)]
        literal = "".join(p for p in template.parts if isinstance(p, str))
        if not slots:
            return _const(literal)
        if len(slots) == 1 and not literal:
            return self.text_value(slots[0].name, endpoint)
        return {"type": "string"}

    def json(self, template: Template, endpoint: CompiledEndpoint) -> Schema:
        """A JSON template's structure, each variable as the schema of its value."""
        marked, slots = _marked(template)
        try:
            document = json.loads(marked)
        except ValueError:  # (the checks let no such template through; say nothing rather than fail)
            return {}
        return self._structure(document, slots, endpoint)

    def _structure(self, value: Any, slots: list[Slot], endpoint: CompiledEndpoint) -> Schema:
        if isinstance(value, str):
            whole = _WHOLE_VALUE.fullmatch(value)
            if whole:
                return self.value(slots[int(whole.group(1))].name, endpoint)
            names = _IN_TEXT.findall(value)
            if not names:
                return _const(value)
            if len(names) == 1 and _IN_TEXT.fullmatch(value):
                return self.text_value(slots[int(names[0])].name, endpoint)
            return {"type": "string"}
        if isinstance(value, list):
            items = [self._structure(v, slots, endpoint) for v in value]
            if not items:
                return {"type": "array", "maxItems": 0}
            if all(i == items[0] for i in items):
                return {"type": "array", "items": items[0]}
            return {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}
        if isinstance(value, dict):
            properties: Schema = {}
            required: list[str] = []
            variable_keys: list[Schema] = []
            for key, member in value.items():
                schema = self._structure(member, slots, endpoint)
                if _IN_TEXT.search(key):  # a key made of variables: any key, with this value
                    if schema not in variable_keys:
                        variable_keys.append(schema)
                    continue
                properties[key] = schema
                whole = _WHOLE_VALUE.fullmatch(member) or _IN_TEXT.fullmatch(member) \
                    if isinstance(member, str) else None
                if whole is None or slots[int(whole.group(1))].name not in endpoint.optional:
                    required.append(key)  # (an optional identifier's member is left out when missing)
            out: Schema = {"type": "object", "properties": properties}
            if required:
                out["required"] = required
            if variable_keys:
                out["additionalProperties"] = variable_keys[0] if len(variable_keys) == 1 else {"anyOf": variable_keys}
            return out
        return _const(value)

    # --- requests -------------------------------------------------------------------------

    def operation(self, endpoint: CompiledEndpoint) -> _Operation:
        servers, path, parameters = self._url(endpoint)
        parameters += self._headers(endpoint)
        content_type = next((t.render({}) for name, t in endpoint.headers
                             if name.lower() == _CONTENT_TYPE and not t.names), JSON_TYPE)
        media_type = content_type.split(";")[0].strip() if is_json_type(content_type) else JSON_TYPE
        body = self.json(endpoint.payload, endpoint) if endpoint.payload is not None else None
        return _Operation(endpoint, endpoint.method.lower(), path, servers, tuple(parameters), body, media_type,
                          self._security(endpoint))

    def _url(self, endpoint: CompiledEndpoint) -> tuple[tuple[Schema, ...], str, list[Schema]]:
        parts = endpoint.url.parts
        origin = parts[0] if parts and isinstance(parts[0], Slot) and parts[0].position is Position.URL_ORIGIN \
            else None
        marked, slots = _marked(Template(endpoint.url.where, parts[1:] if origin else parts), value_marks=False)
        if origin is not None:
            servers, rest = self._origin_servers(origin.name), marked
        else:
            start = _URL_START.match(marked)
            authority, rest = start.groups() if start else ("", marked)
            variables = {slots[int(i)].name: self._server_variable(slots[int(i)].name)
                         for i in _IN_TEXT.findall(authority)}
            server: Schema = {"url": _template(authority, slots)}
            if variables:
                server["variables"] = variables
            servers = (server,)
        before_fragment = rest.partition("#")[0]
        path_text, _, query = before_fragment.partition("?")
        path = _template(path_text, slots) or "/"
        parameters: list[Schema] = []
        for i in dict.fromkeys(_IN_TEXT.findall(path_text)):
            name = slots[int(i)].name
            parameters.append({"name": name, "in": "path", "required": True,
                               "schema": self.text_value(name, endpoint)})
        seen: set[str] = set()
        for piece in query.split("&"):
            key, _, value = piece.partition("=")
            name = unquote(key)
            if not key or _IN_TEXT.search(key) or name in seen:
                continue  # (a query key made of a variable has no name to describe)
            seen.add(name)
            parameters.append(self._query_parameter(name, value, slots, endpoint))
        return servers, path, parameters

    def _query_parameter(self, name: str, value: str, slots: list[Slot], endpoint: CompiledEndpoint) -> Schema:
        parameter: Schema = {"name": name, "in": "query", "required": True}
        whole = _IN_TEXT.fullmatch(value)
        if whole and slots[int(whole.group(1))].name == "items":
            item = self.item(endpoint)
            if endpoint.spec.items_separator == ",":
                # OpenAPI's form style, not exploded, is exactly "comma-separated values".
                parameter.update(style="form", explode=False,
                                 schema={"type": "array", "items": item, "maxItems": endpoint.batch_size})
            else:
                parameter["description"] = (f"The users' items ({json.dumps(item)}), at most "
                                             f"{endpoint.batch_size}, joined by {endpoint.spec.items_separator!r}.")
                parameter["schema"] = {"type": "string"}
        elif whole:
            parameter["schema"] = self.text_value(slots[int(whole.group(1))].name, endpoint)
        elif not _IN_TEXT.search(value):
            parameter["schema"] = _const(unquote(value))
        else:
            parameter["schema"] = {"type": "string"}
        return parameter

    def _origin_servers(self, name: str) -> tuple[Schema, ...]:
        field = self.fields.get(name)
        if field is not None and field.options:
            return tuple({"url": as_text(o.value), "description": o.label} for o in field.options)
        shown = field.display_name if field is not None else name
        default = as_text(field.default) if field is not None and field.default is not None else ""
        scheme, _, host = default.partition("://")
        # Any origin the customer types: a server whose scheme and host are both variables.
        return ({"url": "{scheme}://{host}", "description": shown,
                 "variables": {"scheme": {"default": scheme or "https", "enum": ["https", "http"]},
                               "host": {"default": host or "api.example.com",
                                        "description": f"the host of {shown}"}}},)

    def _server_variable(self, name: str) -> Schema:
        field = self.fields.get(name)
        if field is not None and field.options:
            values = [as_text(o.value) for o in field.options]
            default = as_text(field.default) if field.default is not None else values[0]
            return {"default": default, "enum": list(dict.fromkeys(values)), "description": field.display_name}
        if field is not None:
            return {"default": as_text(field.default) if field.default is not None else re.sub("[^A-Za-z0-9-]", "-",
                                                                                                  name),
                    "description": field.display_name}
        return {"default": name.replace("_", "-")}

    def _headers(self, endpoint: CompiledEndpoint) -> list[Schema]:
        auth_header = (self.definition.auth_of(endpoint.spec).header or "").lower()
        out = []
        for name, template in endpoint.headers:
            if name.lower() in (_CONTENT_TYPE, _AUTHORIZATION, _ACCEPT, auth_header):
                continue
            out.append({"name": name, "in": "header", "required": True, "schema": self.text(template, endpoint)})
        return out

    def _security(self, endpoint: CompiledEndpoint) -> tuple[tuple[str, Schema], ...]:
        auth = self.definition.auth_of(endpoint.spec)
        scheme = auth.security_scheme
        if scheme is not None:
            # An endpoint's own credential (another key, on another host) is a scheme of its own.
            name = "_".join((auth.method, *(field for _, field in auth.fields)))
            return ((name, scheme),)
        written = next((t for name, t in endpoint.headers if name.lower() == _AUTHORIZATION), None)
        if written is None:
            return ()
        # An Authorization header of the definition's own (``App $api_key``): an API key in it.
        spelled = "".join(p if isinstance(p, str) else f"<{p.name}>" for p in written.parts)
        return (("authorization", {"type": "apiKey", "in": "header", "name": "Authorization",
                                   "description": f"Sent as `Authorization: {spelled}`."}),)

    # --- responses ------------------------------------------------------------------------

    def success(self, endpoint: CompiledEndpoint) -> Schema:
        spec = endpoint.spec
        if spec.list_id is None:
            return {"description": "The users were accepted."}
        where = f"`{spec.list_id.path}`"
        if endpoint.kind.answer == "find":
            return {"description": f"The lists there are, as JSON: the cohort's list's id is at {where} (its "
                                   "variables replaced); finding none, Amplitude creates the list."}
        if spec.list_id.source == "response_header":
            return {"description": f"The list was created; its id is the response header {where}.",
                    "headers": {spec.list_id.path: {"required": True, "schema": dict(self.list_id)}}}
        if spec.list_id.source == "request_body":
            return {"description": f"The list was created; its id is the one sent at {where} in the request."}
        steps = path_steps(spec.list_id.path)
        schema: Schema = dict(self.list_id)
        for step in reversed(steps or ()):
            if isinstance(step, str):
                schema = {"type": "object", "properties": {step: schema}, "required": [step]}
            else:
                schema = {"type": "array", "prefixItems": [{}] * step + [schema], "minItems": step + 1}
        media: Schema = {"schema": schema if steps is not None else {}}
        if spec.example_response is not None:
            media["example"] = spec.example_response
        return {"description": f"The list was created; its id is at {where} in the JSON body.",
                "content": {JSON_TYPE: media}}

    def describe(self, op: _Operation) -> str:
        endpoint, spec = op.endpoint, op.endpoint.spec
        lines = [f"Amplitude calls this as the definition's `{endpoint.name}` endpoint."]
        if endpoint.kind.batch:
            lines.append("One call per user." if endpoint.batch_size == 1 else
                         f"Each call carries at most {endpoint.batch_size} users.")
        limit: RateLimit | None = spec.rate_limit or self.definition.rate_limit
        if limit is not None:
            lines.append(f"Amplitude sends at most {limit.requests} requests every {limit.per_seconds:g} seconds"
                         + (" (shared by every endpoint without a limit of its own)." if spec.rate_limit is None
                            else "."))
        if spec.max_body_bytes is not None:
            lines.append(f"Bodies are at most {spec.max_body_bytes} bytes.")
        if endpoint.items_in_url:
            lines.append(f"URLs are at most {spec.max_url_bytes} bytes; a longer batch is split.")
        return " ".join(lines)


def _errors_response(classifications: list[ErrorClassification]) -> Schema:
    lines = [(f"{c.reason}" if c.reason else "An error") + f": Amplitude shows the customer \"{c.message}\""
             + (" (when the body holds the sub-error code)" if c.sub_error_code is not None else "")
             for c in classifications]
    response: Schema = {"description": "\n\n".join(dict.fromkeys(lines))}
    if all(c.sub_error_code is not None for c in classifications):
        schemas = list({json.dumps(_subset(c.sub_error_code), sort_keys=True): _subset(c.sub_error_code)
                        for c in classifications}.values())
        response["content"] = {JSON_TYPE: {"schema": schemas[0] if len(schemas) == 1 else {"anyOf": schemas}}}
    return response


def _merge_parameters(groups: list[tuple[Schema, ...]]) -> list[Schema]:
    """The parameters of an operation several endpoints share: one per name and place; one
    that some endpoints do not send is optional, one sent differently takes any of its schemas."""
    merged: dict[tuple[str, str], Schema] = {}
    for parameters in groups:
        for p in parameters:
            key = (p["in"], p["name"].lower() if p["in"] == "header" else p["name"])
            if key not in merged:
                merged[key] = dict(p)
            elif merged[key]["schema"] != p["schema"]:
                known = merged[key]["schema"]
                options = known["anyOf"] if "anyOf" in known and list(known) == ["anyOf"] else [known]
                merged[key]["schema"] = {"anyOf": options + ([p["schema"]] if p["schema"] not in options else [])}
    for key, p in merged.items():
        if p["in"] != "path" and not all(any((q["in"], q["name"].lower() if q["in"] == "header" else q["name"])
                                             == key for q in parameters) for parameters in groups):
            p["required"] = False
    return list(merged.values())


def openapi(definition: Definition) -> dict[str, Any]:
    """The OpenAPI 3.1 description of the API ``definition`` calls, as JSON-ready data."""
    describer = _Describer(definition)
    operations = [describer.operation(e) for e in describer.endpoints]
    grouped: dict[tuple[str, str], list[_Operation]] = {}
    for op in operations:
        grouped.setdefault((op.path, op.method), []).append(op)
    schemes: dict[str, Schema] = {}
    for op in operations:
        schemes.update(op.security)
    securities: dict[str, list[dict[str, list[str]]]] = {op.path + op.method: [{name: []} for name, _ in op.security] for op in operations}
    shared_security = len({json.dumps(s) for s in securities.values()}) == 1
    servers = {op.path + op.method: list(dict.fromkeys(json.dumps(s) for s in op.servers)) for op in operations}
    shared_servers = len({json.dumps(s) for s in servers.values()}) == 1

    paths: dict[str, dict[str, Any]] = {}
    for (path, method), group in grouped.items():
        names = [op.endpoint.name for op in group]
        item: Schema = {
            "operationId": "_and_".join(names),
            "summary": "; ".join(KINDS[n].summary for n in names).capitalize() + ".",
            "description": "\n\n".join(describer.describe(op) for op in group),
        }
        if not shared_servers:
            item["servers"] = [json.loads(s) for s in dict.fromkeys(s for op in group for s in servers[path + method])]
        parameters = _merge_parameters([op.parameters for op in group])
        if parameters:
            item["parameters"] = parameters
        bodies = [op.body for op in group if op.body is not None]
        if bodies:
            unique = list({json.dumps(b, sort_keys=True): b for b in bodies}.values())
            item["requestBody"] = {"required": len(bodies) == len(group), "content": {
                group[0].media_type: {"schema": unique[0] if len(unique) == 1 else {"anyOf": unique}}}}
        created = next((op.endpoint for op in group if op.endpoint.kind.answer == "create"), group[0].endpoint)
        responses: Schema = {"2XX": describer.success(created)}
        by_status: dict[int, list[ErrorClassification]] = {}
        for op in group:
            for c in op.endpoint.spec.errors:
                if c not in by_status.setdefault(c.status, []):
                    by_status[c.status].append(c)
        for status in sorted(by_status):
            responses[str(status)] = _errors_response(by_status[status])
        item["responses"] = responses
        if not shared_security:
            item["security"] = securities[path + method]
        paths.setdefault(path, {})[method] = item

    info: Schema = {"title": definition.display_name, "version": "1"}
    if definition.summary:
        info["summary"] = definition.summary
    info["description"] = (
        (definition.description.strip() + "\n\n" if definition.description else "")
        + f"The API that Amplitude's cohort sync calls, as the portalspec definition `{definition.name}` "
          f"({definition.type} type) describes it: what a destination must implement to receive Amplitude cohorts.")
    document: dict[str, Any] = {"openapi": OPENAPI, "info": info}
    if shared_servers and operations:
        document["servers"] = [json.loads(s) for s in next(iter(servers.values()))]
    document["paths"] = paths
    if schemes:
        document["components"] = {"securitySchemes": schemes}
    if shared_security and schemes:
        document["security"] = next(iter(securities.values()))
    return document


FORMATS = ("yaml", "json")


def format_for(path: str | None) -> str:
    """JSON for a ``.json`` file, YAML otherwise (and for standard output)."""
    return "json" if path is not None and path.lower().endswith(".json") else "yaml"


def dump(document: Mapping[str, Any], fmt: str = "yaml") -> str:
    """The description as text, keys in the order written (so the same on every run)."""
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    import yaml  # (PyYAML: the loader's dependency already)

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        # Descriptions of several paragraphs read best as literal blocks.
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)

    Dumper.add_representer(str, text)
    return yaml.dump(_plain(document), Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100)


def problems(document: Mapping[str, Any]) -> list[str]:
    """What openapi-spec-validator finds wrong with a description (nothing, for an export)."""
    from openapi_spec_validator import OpenAPIV31SpecValidator  # heavy: only when asked

    return [f"{'/'.join(str(p) for p in error.path) or '(root)'}: {error.message}"
            for error in OpenAPIV31SpecValidator(document).iter_errors()]

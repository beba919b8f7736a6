"""The openapi-core side of a check: a rendered :class:`~portalspec.request.Request` matched to
an operation and validated, and the schema at each place a request carries a value.

portalspec validates nothing itself here: the path finder (method, server, path template),
the parameter, body, security and response validators are openapi-core's, one set per
description and OpenAPI version. This module adapts portalspec's values to openapi-core's
request and response protocols and hands back what it found.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence
from urllib.parse import parse_qsl, unquote, urlsplit

from jsonschema_path import SchemaPath
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.media_types.exceptions import MediaTypeNotFound
from openapi_core.templating.media_types.finders import MediaTypeFinder
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound, ServerNotFound
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_core.validation.request import validators as request_validators
from openapi_core.validation.response import validators as response_validators
from werkzeug.datastructures import Headers as WerkzeugHeaders
from werkzeug.datastructures import ImmutableMultiDict

from ..diagnostics import PathElement
from ..headers import is_json_type
from ..request import Request
from . import schemas
from .load import Description

# The validator classes of each OpenAPI version: one place, read by :func:`validators`.
_VERSIONS = {
    "3.0": ("V30RequestParametersValidator", "V30RequestBodyValidator", "V30RequestSecurityValidator",
            "V30ResponseDataValidator"),
    "3.1": ("V31RequestParametersValidator", "V31RequestBodyValidator", "V31RequestSecurityValidator",
            "V31ResponseDataValidator"),
}


class OpenAPIRequest:
    """A portalspec :class:`Request` as openapi-core's request protocol reads it."""

    def __init__(self, request: Request):
        parts = urlsplit(request.url)
        self.request = request
        self.host_url = f"{parts.scheme}://{parts.netloc}"
        self.path = parts.path or "/"
        self.method = request.method.lower()
        self.body = request.body
        self.content_type = (request.header("Content-Type") or "").lower() if request.body is not None else ""
        self.parameters = RequestParameters(
            path={},
            query=ImmutableMultiDict(parse_qsl(parts.query, keep_blank_values=True)),
            header=WerkzeugHeaders(list(request.headers)),
            cookie=ImmutableMultiDict(),
        )

    @property
    def full_url(self) -> str:
        return self.host_url + self.path


class OpenAPIResponse:
    """A JSON response (``example_response``) as openapi-core's response protocol reads it."""

    def __init__(self, document: Any, status: int, content_type: str):
        self.data = json.dumps(document).encode("utf-8")
        self.status_code = status
        self.content_type = content_type
        self.headers = WerkzeugHeaders({"Content-Type": content_type})


@dataclass(frozen=True)
class Validators:
    parameters: Any
    body: Any
    security: Any
    response: Any


def validators(description: Description) -> Validators:
    """openapi-core's validators for ``description`` (make them once per check: they cache
    what they read)."""
    names = _VERSIONS[description.version]
    classes = [getattr(request_validators, n, None) or getattr(response_validators, n) for n in names]
    return Validators(*(cls(description.spec) for cls in classes))


@dataclass(frozen=True)
class Match:
    """A request's operation: in which description, its path template and method, the path
    item and operation nodes, and the path parameters read from the URL."""

    description: Description
    template: str
    method: str
    path_item: SchemaPath = field(repr=False)
    operation: SchemaPath = field(repr=False)
    variables: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        op_id = schemas.get(self.operation, "operationId")
        return f"{self.method.upper()} {self.template}" + (f" ({op_id})" if isinstance(op_id, str) else "")

    def parameters(self) -> Iterator[SchemaPath]:
        """The operation's parameters, then the path item's it does not override."""
        seen: set[tuple[str, str]] = set()
        for owner in (self.operation, self.path_item):
            listed = schemas.get(owner, "parameters")
            for i in range(len(listed) if isinstance(listed, list) else 0):
                node = owner / "parameters" / i
                key = (str(schemas.get(node, "name")), str(schemas.get(node, "in")))
                if key not in seen:
                    seen.add(key)
                    yield node

    def parameter(self, location: str, name: str) -> SchemaPath | None:
        """The parameter ``name`` in ``location`` (header names compared case-insensitively)."""
        fold = location == "header"
        for node in self.parameters():
            found = schemas.get(node, "name")
            if schemas.get(node, "in") == location and isinstance(found, str) and \
                    (found.lower() == name.lower() if fold else found == name):
                return node
        return None

    def body_schema(self, content_type: str | None = None) -> SchemaPath | None:
        """The request body's schema for ``content_type`` (default: the first JSON type)."""
        return media_schema(self.operation / "requestBody", content_type) \
            if schemas.get(self.operation, "requestBody") is not None else None


@dataclass(frozen=True)
class Miss:
    """Why no description has the request's operation, from the closest miss."""

    kind: str  # "server", "method", "path"
    description: Description
    detail: str


def match(request: OpenAPIRequest, descriptions: Sequence[Description]) -> Match | Miss:
    """The operation of the first description that has the request's method, server and
    path template (openapi-core's path finder), or the closest :class:`Miss`."""
    closest: Miss | None = None
    rank = {"server": 0, "method": 1, "path": 2}
    for description in descriptions:
        try:
            found = APICallPathFinder(description.spec).find(request.method, request.full_url)
        except ServerNotFound:
            miss = Miss("server", description, ", ".join(description.servers))
        except OperationNotFound:
            miss = Miss("method", description, "")
        except PathNotFound:
            miss = Miss("path", description, "")
        else:
            template = str(found.path.parts[-1])
            return Match(description, template, request.method, found.path, found.operation,
                         {k: unquote(v) for k, v in found.path_result.variables.items()})
        if closest is None or rank[miss.kind] < rank[closest.kind]:
            closest = miss
    assert closest is not None, "no description given"
    return closest


def media_schema(owner: SchemaPath, content_type: str | None) -> SchemaPath | None:
    """The schema of ``owner``'s ``content`` (a request body or a response) for a content
    type, found as openapi-core finds it (ranges like ``application/*`` included); without
    one, the first JSON type it declares."""
    content = schemas.get(owner, "content")
    if not isinstance(content, dict) or not content:
        return None
    if content_type is None:
        content_type = next((t for t in content if is_json_type(t)), None)
        if content_type is None:
            return None
    try:
        media = MediaTypeFinder(owner / "content").find(content_type)
    except MediaTypeNotFound:
        return None
    return media.media_type / "schema" if schemas.get(media.media_type, "schema") is not None else None


def success_response(operation: SchemaPath) -> tuple[str, SchemaPath] | None:
    """The first success response an operation declares (``200``…``299``, ``2XX``, then
    ``default``), as (its key, its node)."""
    responses = schemas.get(operation, "responses")
    if not isinstance(responses, dict):
        return None
    keys = sorted(k for k in responses if len(k) == 3 and k.startswith("2") and k[1:].isdigit())
    keys += [k for k in responses if k.upper() == "2XX"] + [k for k in responses if k == "default"]
    return (keys[0], operation / "responses" / keys[0]) if keys else None


def texts(request: OpenAPIRequest, found: Match) -> Iterator[tuple[str, tuple[PathElement, ...], str]]:
    """Every text a request carries, with where: ``("header", (name,), value)``, ``("query",
    (name,), value)``, ``("path", (name,), value)`` and ``("body", json_path, string)``."""
    for name, value in request.parameters.header.items():
        yield "header", (name,), value
    query = request.parameters.query
    for name, value in (query.items(multi=True) if isinstance(query, ImmutableMultiDict) else query.items()):
        yield "query", (name,), value
    for name, value in found.variables.items():
        yield "path", (name,), value
    if request.body is not None and is_json_type(request.content_type):
        try:
            document = json.loads(request.body)
        except ValueError:
            return
        stack: list[tuple[tuple[PathElement, ...], Any]] = [((), document)]
        while stack:
            where, node = stack.pop()
            if isinstance(node, str):
                yield "body", where, node
            elif isinstance(node, dict):
                stack.extend((where + (k,), v) for k, v in node.items())
            elif isinstance(node, list):
                stack.extend((where + (i,), v) for i, v in enumerate(node))


def schemas_at(request: OpenAPIRequest, found: Match, kind: str, where: tuple[PathElement, ...]) -> list[SchemaPath]:
    """The schemas the description gives the value at ``where`` (see :func:`texts`)."""
    if kind == "body":
        body = found.body_schema(request.content_type)
        return schemas.at(body, where) if body is not None else []
    node = found.parameter(kind, str(where[0]))
    if node is None or schemas.get(node, "schema") is None:
        return []
    return [node / "schema"]

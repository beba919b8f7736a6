"""``portalspec check``: a definition against the partner's own OpenAPI description.

:func:`check_contract` renders every endpoint of a definition through the one request
builder (``Integration.bind``), with the values and users given or generated ones
(:mod:`.samples`), matches each request to an operation by method, server and path template,
and has openapi-core validate it (:mod:`.match`): parameters (required headers included),
content type, body. Then, once per endpoint, what no single request shows:

- ``batch_size`` against the ``maxItems`` of the array ``$items`` fills (PS630);
- limits the description states in words or extensions and the definition does not
  declare (PS631 rate, PS632 size: :mod:`.limits`);
- ``create_list``: ``example_response`` against the success response's schema (PS620), and
  ``list_id.path`` read through that schema (PS621).

Every diagnostic points at the definition's YAML (the endpoint, its payload, item template,
header, URL, ``batch_size`` …) through the loader's source map, as ``validate``'s do; those
about a body say where in the body and which schema rule failed. Flaws of the description
itself are warnings that name the description (PS602–PS606). A failure that only a
generated value causes is a PS616 warning, never an error of the definition.

Codes: PS610 no operation, PS611 missing required parameter, PS612 parameter value, PS613
content type / body presence, PS614 body, PS615 credentials, PS616 generated value only,
PS620 example_response, PS621 list id, PS630 batch_size, PS631/PS632 stated limits,
PS605 overlapping oneOf, PS606 a part of the description openapi-core cannot use.
"""

from __future__ import annotations

import difflib
import json
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Sequence

from jsonschema_path import SchemaPath
from openapi_core.templating.media_types.exceptions import MediaTypeNotFound
from openapi_core.validation.request.exceptions import (
    MissingRequiredParameter,
    MissingRequiredRequestBody,
    ParameterValidationError,
    RequestBodyValidationError,
    SecurityValidationError,
)
from openapi_core.validation.schemas.exceptions import InvalidSchemaValue

from ..compiler import CompiledEndpoint
from ..diagnostics import Diagnostic, InputError, Path, PathElement, Severity, excerpt, format_path, ranked
from ..integration import Integration
from ..integration import compile as compile_definition
from ..jsonpath import JSONPathError, find_list_id
from ..kinds import ADD, REMOVE
from ..macros import MacroContext
from ..matching import Arr, Capture, Node, Obj, compile_node
from ..model import Definition
from ..request import Request
from ..values import User, UserSource, Values
from . import schemas
from .limits import statements
from .load import Description
from .match import Match, Miss, OpenAPIRequest, OpenAPIResponse, match, media_schema, schemas_at, success_response
from .match import texts as request_texts
from .match import Validators, validators
from .samples import MARKER, Locations, Place, Sample, SamplePlan

# Requests checked per endpoint and sample: a users file can be large; its first requests show
# every mismatch a definition has (each batch is rendered from the same templates).
MAX_REQUESTS_PER_ENDPOINT = 3
_NOW = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)  # reproducible $now_* and $request_id


@dataclass(frozen=True)
class Finding:
    """A diagnostic of the check, with what it is about: where in the body (``$.contacts[0]``),
    the schema rule that failed (``type: "string" at FILE#/paths/…``), the operation and the
    description, and the sample of values it was found with."""

    diagnostic: Diagnostic
    body_path: str | None = None
    rule: str | None = None
    operation: str | None = None
    description: str | None = None
    sample: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**self.diagnostic.to_dict(), "body_path": self.body_path, "rule": self.rule,
                "operation": self.operation, "description": self.description, "sample": self.sample}


@dataclass(frozen=True)
class EndpointMatch:
    """Which operation an endpoint's requests matched, and how many were checked."""

    endpoint: str
    operation: str | None
    description: str | None
    requests: int

    def to_dict(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "operation": self.operation, "description": self.description,
                "requests": self.requests}


@dataclass(frozen=True)
class ContractReport:
    """What :func:`check_contract` found; ``valid`` when no finding is an error."""

    file: str | None
    descriptions: tuple[Description, ...]
    findings: tuple[Finding, ...]
    endpoints: tuple[EndpointMatch, ...]
    samples: int
    requests: int

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        return tuple(f.diagnostic for f in self.findings)

    @property
    def valid(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "valid": self.valid,
            "descriptions": [{"file": d.file, "title": d.title, "openapi": d.version, "spec_valid": d.spec_valid}
                             for d in self.descriptions],
            "endpoints": [e.to_dict() for e in self.endpoints],
            "samples": self.samples,
            "requests": self.requests,
            "diagnostics": [f.to_dict() for f in self.findings],
        }


def check_contract(definition: Definition, descriptions: Sequence[Description], *, values: Values | None = None,
                   users: UserSource | Sequence[User] | None = None) -> ContractReport:
    """Check ``definition`` against ``descriptions`` (see the module's docstring).

    ``values`` and ``users`` are used as given; what they leave out is generated. Raises
    :class:`~portalspec.diagnostics.InputError` when the given values alone cannot render a
    request (as ``render`` would)."""
    if not descriptions:
        raise InputError("no OpenAPI description to check against")
    checker = _Checker(definition, tuple(descriptions))
    return checker.run(values, checker.kept(users) if isinstance(users, UserSource) else users)


@dataclass(frozen=True)
class _Site:
    """Where in the definition a problem is: a path, an offset in its text, or its key."""

    path: Path
    offset: int | None = None
    key: bool = False


@dataclass(frozen=True)
class _Problem:
    code: str
    message: str
    site: _Site | None  # None: about the description (``description_path`` inside it)
    severity: Severity = Severity.ERROR
    hint: str | None = None
    body_path: str | None = None
    rule: str | None = None
    operation: str | None = None
    description: Description | None = None
    description_path: Path = ()
    instance: Any = None  # the value that failed, to tell a generated one
    key: tuple[Any, ...] = ()  # the same problem in another sample has the same key


class _Checker:
    def __init__(self, definition: Definition, descriptions: tuple[Description, ...]):
        self.definition = definition
        self.integration: Integration = compile_definition(definition)
        self.descriptions = descriptions
        self.matches: dict[str, Match] = {}
        self.requests: dict[str, Request] = {}
        self.counts: Counter[str] = Counter()
        self._validators: dict[Description, Validators] = {}

    def validators(self, description: Description) -> Validators:
        if description not in self._validators:
            self._validators[description] = validators(description)
        return self._validators[description]

    def kept(self, users: UserSource) -> UserSource:
        """The users a check renders, held: a users file is read once, each sample renders
        them again. Only as many as the checked requests carry are kept."""
        room = {op: MAX_REQUESTS_PER_ENDPOINT * self.integration.batch_endpoint(op).batch_size
                for op in (ADD, REMOVE)}
        held: list[User] = []
        for block in users.blocks():
            if room.get(block.operation, 0) > 0:
                taken = list(block.users())[:room[block.operation]]
                room[block.operation] -= len(taken)
                held.extend(taken)
            if all(left <= 0 for left in room.values()):
                break
        return UserSource(users.name, tuple(held), users.cohort)

    # --- the run ------------------------------------------------------------------------
    def run(self, values: Values | None, users: UserSource | Sequence[User] | None) -> ContractReport:
        servers = [s for d in self.descriptions for s in d.servers]
        plan = SamplePlan(self.definition, values, users, servers)
        located = self._locate(plan)
        samples = plan.samples(located, self._list_id_sample(values))
        problems: list[tuple[_Problem, Sample]] = []
        first: set[tuple[Any, ...]] = set()
        for index, sample in enumerate(samples):
            # One report per problem: the same mismatch in every user's item, every request
            # and every later sample is one mismatch of the definition.
            found = list({p.key: p for p in reversed(self._check_sample(sample))}.values())[::-1]
            if index == 0:
                first = {p.key for p in found}
            problems.extend((p, sample) for p in found if index == 0 or p.key not in first)
            first |= {p.key for p in found}
        base = samples[0]
        problems.extend((p, base) for p in self._endpoint_checks())
        findings = [self._finding(p, sample) for p, sample in problems]
        for description in self.descriptions:
            findings.extend(Finding(d, description=description.file) for d in description.diagnostics)
        order = {id(d): f for f in findings for d in (f.diagnostic,)}
        kept = ranked(f.diagnostic for f in findings)
        endpoints = tuple(EndpointMatch(e.name, str(self.matches[e.name]) if e.name in self.matches else None,
                                        self.matches[e.name].description.file if e.name in self.matches else None,
                                        self.counts[e.name]) for e in self.integration.endpoints)
        return ContractReport(self.definition.file, self.descriptions, tuple(order[id(d)] for d in kept), endpoints,
                              len(samples), sum(self.counts.values()))

    def _bound_requests(self, sample: Sample) -> tuple[Any, Iterator[Request]]:
        bound = self.integration.bind(sample.values, context=MacroContext(now=_NOW, seed=0), reveal_secrets=True)
        return bound, bound.requests(sample.users, list_id=sample.list_id)

    def _rendered(self, sample: Sample) -> Iterator[Request]:
        """The sample's requests, at most :data:`MAX_REQUESTS_PER_ENDPOINT` per endpoint."""
        _, requests = self._bound_requests(sample)
        seen: Counter[str] = Counter()
        for request in requests:
            seen[request.endpoint] += 1
            if seen[request.endpoint] <= MAX_REQUESTS_PER_ENDPOINT:
                yield request

    def _locate(self, plan: SamplePlan) -> Locations:
        """Where each marked variable lands, and the schemas there (see :mod:`.samples`)."""
        located: dict[str, list[Place]] = {}
        try:
            for request in self._rendered(plan.marked()):
                adapted = OpenAPIRequest(request)
                found = match(adapted, self.descriptions)
                if not isinstance(found, Match):
                    continue
                for kind, where, text in request_texts(adapted, found):
                    for marker in MARKER.finditer(text):
                        variable = plan.variable_of(marker.group(0))
                        if variable is not None:
                            nodes = _quietly(lambda: schemas_at(adapted, found, kind, where), [])
                            located.setdefault(variable, []).append((nodes, marker.group(0) == text))
        except InputError:
            pass  # the real samples will say what cannot be rendered
        return located

    def _list_id_sample(self, values: Values | None) -> str | int | None:
        """A list id for add/remove when neither the values nor ``example_response`` give
        one: what the create operation's response schema offers at ``list_id.path``."""
        create = self.definition.endpoint("create_list")
        if create is None or create.list_id is None or create.example_response is not None or \
                (values is not None and values.list_id is not None) or create.list_id.source == "request_body":
            return None
        for description in self.descriptions:
            for op in description.operations():
                if op.method == create.method.lower() and create.url.rstrip("/").endswith(
                        op.path.split("{")[0].rstrip("/")):
                    success = success_response(op.node)
                    schema = media_schema(success[1], None) if success else None
                    if schema is not None and create.list_id.source == "response_body":
                        document = schemas.skeleton(schema, lambda node, declared: schemas.sample(node)
                                                    or schemas.type_leaf(node, declared))
                        try:
                            return find_list_id(create.list_id.path, document)  # type: ignore[return-value]
                        except JSONPathError:
                            return None
        return "sample-list-id"

    # --- one sample ---------------------------------------------------------------------
    def _check_sample(self, sample: Sample) -> list[_Problem]:
        found: list[_Problem] = []
        bound, requests = self._bound_requests(sample)
        mask: Callable[[str], str] = bound.masker
        seen: Counter[str] = Counter()
        try:
            for request in requests:
                seen[request.endpoint] += 1
                if seen[request.endpoint] > MAX_REQUESTS_PER_ENDPOINT:
                    continue
                found.extend(self._check_request(request, mask))
        except InputError as exc:
            if not sample.generated:
                raise
            name = str(exc).split(":", 1)[0]
            site = _Site(("endpoints", name), key=True) if self.integration.endpoint(name) else \
                _Site(("endpoints",), key=True)
            found.append(_Problem("PS616", f"with {sample.label}, the requests cannot be rendered: {mask(str(exc))}",
                                  site, Severity.WARNING, hint="the value is portalspec's, not the definition's: "
                                                               "check with real values (--values, --users)",
                                  key=("render", str(exc))))
        return [self._attributed(p, sample) for p in found]

    def _attributed(self, problem: _Problem, sample: Sample) -> _Problem:
        """A problem that only a generated value causes becomes PS616 (a warning)."""
        generated = sample.hostile or (isinstance(problem.instance, str) and problem.instance in sample.generated)
        if problem.code == "PS616" or not generated or problem.site is None:
            if sample.variant and not sample.hostile and problem.site is not None:
                return replace(problem, message=f"with {sample.label}: {problem.message}")
            return problem
        return replace(problem, code="PS616", severity=Severity.WARNING,
                       message=f"{problem.message} (only with a generated value: {sample.label})",
                       hint=f"would be {problem.code}; the value is portalspec's, not the definition's: check with "
                            "real values (--values, --users)" + (f"; {problem.hint}" if problem.hint else ""))

    def _check_request(self, request: Request, mask: Callable[[str], str]) -> list[_Problem]:
        endpoint = self.integration.endpoint(request.endpoint)
        assert endpoint is not None
        adapted = OpenAPIRequest(request)
        found = match(adapted, self.descriptions)
        self.counts[endpoint.name] += 1
        if isinstance(found, Miss):
            return [self._miss(endpoint, request, found)]
        self.matches.setdefault(endpoint.name, found)
        self.requests.setdefault(endpoint.name, request)
        problems: list[_Problem] = []
        checks = self.validators(found.description)
        for validator in (checks.security, checks.parameters, checks.body):
            try:
                for error in list(validator.iter_errors(adapted)):
                    problems.extend(self._problems(error, endpoint, request, adapted, found, mask))
            except Exception as exc:  # openapi-core tripped over the description itself
                problems.append(self._unusable(found, endpoint, exc))
        problems = [replace(p, key=(endpoint.name,) + p.key) for p in problems]
        if request.body is not None and schemas.get(found.operation, "requestBody") is None:
            problems.append(_Problem("PS613", f"{endpoint.name}: the request has a body, but {found} declares no "
                                              "request body", self._body_site(endpoint, None), Severity.WARNING,
                                     operation=str(found), description=found.description, key=("unexpected body",)))
        return problems

    # --- openapi-core's errors as problems --------------------------------------------------
    def _problems(self, error: Exception, endpoint: CompiledEndpoint, request: Request, adapted: OpenAPIRequest,
                  found: Match, mask: Callable[[str], str]) -> Iterator[_Problem]:
        name = endpoint.name
        common: dict[str, Any] = {"operation": str(found), "description": found.description}
        if isinstance(error, MissingRequiredParameter):
            where = {"header": "header", "query": "query parameter", "path": "path parameter",
                     "cookie": "cookie"}.get(error.location, error.location)
            site = self._url_site(endpoint, error.name) if error.location in ("query", "path") else \
                _Site(("endpoints", name), key=True)
            hint = (f"add it to endpoints.{name}.headers (or the top-level headers)" if error.location == "header"
                    else f"add ?{error.name}=… to endpoints.{name}.url" if error.location == "query" else None)
            yield _Problem("PS611", f"{name}: {found} requires the {where} '{error.name}', which the request does "
                                    "not send", site, hint=hint, key=("missing", error.location, error.name), **common)
        elif isinstance(error, ParameterValidationError):
            site = self._header_site(endpoint, error.name) if error.location == "header" else \
                self._url_site(endpoint, error.name)
            param = found.parameter(error.location, error.name)
            raw = _param_value(adapted, error.location, error.name, found)
            cause = error.__cause__
            if _schema_errors(cause):
                for schema_error in _schema_errors(cause):
                    rule = self._rule(found.description, param / "schema" if param is not None else None, schema_error)
                    yield _Problem("PS612", f"{name}: the {error.location} parameter '{error.name}' does not fit "
                                            f"{found}: {mask(excerpt(schema_error.message, 200))}", site,
                                   hint=f"rule {rule}" if rule else None, rule=rule, instance=raw,
                                   key=("param", error.location, error.name, schema_error.validator), **common)
            else:
                yield _Problem("PS612", f"{name}: the {error.location} parameter '{error.name}' does not fit "
                                        f"{found}: {mask(excerpt(_said(cause or error), 200))}", site, instance=raw,
                               key=("param", error.location, error.name), **common)
        elif isinstance(error, MissingRequiredRequestBody):
            yield _Problem("PS613", f"{name}: {found} requires a request body; the endpoint sends none",
                           _Site(("endpoints", name), key=True), key=("no body",), **common)
        elif isinstance(error, RequestBodyValidationError) and isinstance(error.__cause__, MediaTypeNotFound):
            cause = error.__cause__
            accepted = ", ".join(cause.availableMimetypes)
            yield _Problem("PS613", f"{name}: {found} does not accept the content type "
                                    f"'{adapted.content_type or '(none)'}'; it accepts {accepted}",
                           self._header_site(endpoint, "Content-Type"), rule=f"requestBody.content: {accepted}",
                           hint="portalspec sends application/json unless the definition's Content-Type header "
                                "names another JSON type", key=("content type",), **common)
        elif isinstance(error, RequestBodyValidationError):
            yield from self._body_problems(error, endpoint, adapted, found, mask, common)
        elif isinstance(error, SecurityValidationError):
            yield _Problem("PS615", f"{name}: the request carries none of the credentials {found} accepts "
                                    f"({self._schemes(found, error)})", self._auth_site(endpoint),
                           key=("security",), **common)
        else:
            yield self._unusable(found, endpoint, error)

    def _body_problems(self, error: Exception, endpoint: CompiledEndpoint, adapted: OpenAPIRequest, found: Match,
                       mask: Callable[[str], str], common: dict[str, Any]) -> Iterator[_Problem]:
        name = endpoint.name
        cause = error.__cause__
        if not _schema_errors(cause):
            yield _Problem("PS614", f"{name}: the body does not fit {found}: {mask(excerpt(_said(cause or error), 200))}",
                           self._body_site(endpoint, None), key=("body",), **common)
            return
        body_schema = found.body_schema(adapted.content_type)
        for schema_error in _schema_errors(cause):
            where = tuple(schema_error.absolute_path)
            body_path = format_path(where)
            rule = self._rule(found.description, body_schema, schema_error)
            if schema_error.validator == "oneOf" and not schema_error.context:
                # Valid under two branches at once: the description's flaw, not the body's.
                at = (body_schema.parts if body_schema is not None else ()) + tuple(schema_error.absolute_schema_path)
                yield _Problem("PS605", f"the description's oneOf at {schemas.pointer(None, at)} "
                                        f"has overlapping branches: the body {name} sends matches more than one at "
                                        f"{body_path}, so no body can be valid there", None, Severity.WARNING,
                               body_path=body_path, rule=rule, description=found.description, description_path=at,
                               operation=str(found), key=("oneOf", at))
                continue
            yield _Problem("PS614", f"{name}: the body does not fit {found} at {body_path}: "
                                    f"{mask(excerpt(schema_error.message, 200))}",
                           self._body_site(endpoint, where), hint=f"rule {rule}" if rule else None,
                           body_path=body_path, rule=rule, instance=schema_error.instance,
                           key=("body", _shape(where), schema_error.validator), **common)

    def _rule(self, description: Description, schema: SchemaPath | None, error: Any) -> str | None:
        """``type: "string" at FILE#/paths/…``: the keyword that failed, its value, and where."""
        if getattr(error, "validator", None) is None:
            return None
        value = excerpt(json.dumps(error.validator_value, ensure_ascii=False, default=str), 120)
        where = ""
        if schema is not None:
            where = f" at {description.file}{schemas.pointer(schema, tuple(error.absolute_schema_path))}"
        return f"{error.validator}: {value}{where}"

    def _schemes(self, found: Match, error: Exception) -> str:
        """The security schemes an operation accepts, described (``bearer (http bearer)``)."""
        cause = error.__cause__
        required = getattr(cause, "schemes", None) or []
        described = []
        defined = found.description.spec / "components" / "securitySchemes"
        for requirement in required:
            parts = []
            for scheme in requirement:
                node = defined / scheme
                kind = schemas.get(node, "type")
                detail = schemas.get(node, "scheme") if kind == "http" else \
                    f"in {schemas.get(node, 'in')} '{schemas.get(node, 'name')}'" if kind == "apiKey" else ""
                parts.append(f"{scheme} ({' '.join(str(p) for p in (kind, detail) if p)})" if kind else scheme)
            described.append(" and ".join(parts))
        return " or ".join(described) or "its security requirement"

    def _miss(self, endpoint: CompiledEndpoint, request: Request, miss: Miss) -> _Problem:
        adapted = OpenAPIRequest(request)
        names = " or ".join(d.name for d in self.descriptions)
        method = request.method.upper()
        if miss.kind == "server":
            message = f"{endpoint.name}: {adapted.host_url} is not a server of {miss.description.name} " \
                      f"(its servers: {miss.detail})"
            site = _Site(("endpoints", endpoint.name, "url"), 0)
        elif miss.kind == "method":
            methods = [op.method.upper() for op in miss.description.operations()
                       if _matches_template(op.path, adapted.path)]
            message = f"{endpoint.name}: {adapted.path} has no {method} operation in {miss.description.name}" + \
                (f" (it has {', '.join(sorted(set(methods)))})" if methods else "")
            site = _Site(("endpoints", endpoint.name, "method"))
        else:
            message = f"{endpoint.name}: no operation of {names} has the path {adapted.path}"
            site = _Site(("endpoints", endpoint.name, "url"), 0)
        close = difflib.get_close_matches(adapted.path, [op.path for d in self.descriptions for op in d.operations()],
                                          n=1, cutoff=0.6)
        return _Problem("PS610", message, site, hint=f"the closest path is {close[0]}" if close else None,
                        key=(endpoint.name, "miss", miss.kind))

    def _unusable(self, found: Match, endpoint: CompiledEndpoint, exc: Exception) -> _Problem:
        return _Problem("PS606", f"openapi-core could not check {endpoint.name} against {found} "
                                 f"({type(exc).__name__}: {excerpt(_said(exc), 160)}); that part is not checked",
                        None, Severity.WARNING, description=found.description,
                        description_path=tuple(found.operation.parts), key=("unusable", type(exc).__name__))

    # --- once per endpoint --------------------------------------------------------------
    def _endpoint_checks(self) -> Iterator[_Problem]:
        for endpoint in self.integration.endpoints:
            found = self.matches.get(endpoint.name)
            if found is None:
                continue
            yield from self._batch_size(endpoint, found)
            yield from self._limits(endpoint, found)
            if endpoint.name == "create_list":
                yield from _quietly(lambda: list(self._create_response(endpoint, found)), [])

    def _batch_size(self, endpoint: CompiledEndpoint, found: Match) -> Iterator[_Problem]:
        where = _items_path(endpoint)
        body = found.body_schema()
        if where is None or body is None:
            return
        limits = [(get, branch) for node in schemas.at(body, where) for branch in schemas.branches(node)
                  for get in (schemas.get(branch, "maxItems"),) if isinstance(get, int) and not isinstance(get, bool)]
        if not limits:
            return
        most, node = min(limits, key=lambda pair: pair[0])
        if endpoint.batch_size > most:
            rule = f"maxItems: {most} at {found.description.file}{schemas.pointer(node)}"
            yield _Problem("PS630", f"{endpoint.name}: batch_size {endpoint.batch_size:,} is above the {most:,} items "
                                    f"{found} takes at {format_path(where)} (maxItems)",
                           self._site(endpoint, "batch_size"), hint=f"set batch_size: {most}; rule {rule}",
                           body_path=format_path(where), rule=rule, operation=str(found),
                           description=found.description)

    def _limits(self, endpoint: CompiledEndpoint, found: Match) -> Iterator[_Problem]:
        declared = {"rate": endpoint.spec.rate_limit or self.definition.rate_limit,
                    "size": endpoint.spec.max_body_bytes if endpoint.payload is not None else True}
        codes = {"rate": "PS631", "size": "PS632"}
        for statement in statements(found.operation, found.path_item, found.description.data):
            if declared[statement.kind.name]:
                continue
            yield _Problem(codes[statement.kind.name],
                           f"{endpoint.name}: {found.description.name} states a {statement.kind.name} limit for "
                           f"{found} ({statement.where}: \"{statement.text}\"), and the definition declares none",
                           _Site(("endpoints", endpoint.name), key=True), Severity.WARNING,
                           hint=f"declare it with {statement.kind.declared_by} (see docs/format.md)",
                           operation=str(found), description=found.description)

    def _create_response(self, endpoint: CompiledEndpoint, found: Match) -> Iterator[_Problem]:
        spec = endpoint.spec.list_id
        request = self.requests.get(endpoint.name)
        if spec is None or request is None:
            return
        common: dict[str, Any] = {"operation": str(found), "description": found.description}
        list_site = _Site(("endpoints", endpoint.name, "list_id", "path"))
        if spec.source == "request_body":
            body = found.body_schema()
            if body is not None:
                yield from self._list_id_in(endpoint, body, "request body", list_site, common)
            return
        success = success_response(found.operation)
        if success is None:
            yield _Problem("PS621", f"{endpoint.name}: {found} declares no success response to read the list id "
                                    "from", list_site, **common)
            return
        status, response = success
        if spec.source == "response_header":
            declared = schemas.get(response, "headers")
            names = {str(k).lower() for k in declared} if isinstance(declared, dict) else set()
            if spec.path.lower() not in names:
                yield _Problem("PS621", f"{endpoint.name}: the {status} response of {found} declares no header "
                                        f"'{spec.path}' to read the list id from", list_site,
                               hint=f"it declares: {', '.join(sorted(names))}" if names else None, **common)
            return
        schema = media_schema(response, None)
        if schema is None:
            yield _Problem("PS621", f"{endpoint.name}: the {status} response of {found} declares no JSON body to read "
                                    "the list id from", list_site, **common)
            return
        example = endpoint.spec.example_response
        if example is not None:
            yield from self._example_response(endpoint, found, request, example, status, schema, common)
        yield from self._list_id_in(endpoint, schema, f"{status} response", list_site, common)

    def _example_response(self, endpoint: CompiledEndpoint, found: Match, request: Request, example: Any,
                          status: str, schema: SchemaPath, common: dict[str, Any]) -> Iterator[_Problem]:
        code = int(status) if status.isdigit() else 200
        content_type = next((t for t in schemas.get(found.operation / "responses" / status, "content") or {}
                             if "json" in t), "application/json")
        response = OpenAPIResponse(example, code, content_type)
        for error in self.validators(found.description).response.iter_errors(OpenAPIRequest(request), response):
            cause = error.__cause__
            for schema_error in _schema_errors(cause) or [None]:
                if schema_error is None:
                    yield _Problem("PS620", f"{endpoint.name}: example_response does not fit the {status} response of "
                                            f"{found}: {excerpt(_said(cause or error), 200)}",
                                   _Site(("endpoints", endpoint.name, "example_response")), **common)
                    continue
                where = tuple(schema_error.absolute_path)
                rule = self._rule(found.description, schema, schema_error)
                yield _Problem("PS620", f"{endpoint.name}: example_response does not fit the {status} response of "
                                        f"{found} at {format_path(where)}: {excerpt(schema_error.message, 200)}",
                               _Site(("endpoints", endpoint.name, "example_response") + where),
                               hint=f"rule {rule}" if rule else None, body_path=format_path(where), rule=rule,
                               **common)

    def _list_id_in(self, endpoint: CompiledEndpoint, schema: SchemaPath, what: str, site: _Site,
                    common: dict[str, Any]) -> Iterator[_Problem]:
        spec = endpoint.spec.list_id
        assert spec is not None
        document = schemas.skeleton(schema)
        declared = list(dict.fromkeys(schemas.leaves(document)))
        hint = "it declares: " + ", ".join(declared[:12]) + (", …" if len(declared) > 12 else "")
        try:
            value = find_list_id(spec.path, document)
        except JSONPathError as exc:
            yield _Problem("PS621", f"{endpoint.name}: list_id.path '{spec.path}' is not in the {what} schema of "
                                    f"{common['operation']}: {exc}", site, hint=hint, **common)
            return
        if isinstance(value, float):
            yield _Problem("PS621", f"{endpoint.name}: list_id.path '{spec.path}' finds a number that may have a "
                                    f"fraction in the {what} schema of {common['operation']}; a list id is a string "
                                    "or an integer", site, hint=hint, **common)

    # --- where in the definition ---------------------------------------------------------
    def _present(self, path: Path) -> bool:
        source = self.definition.source
        return source is None or path in source.values

    def _site(self, endpoint: CompiledEndpoint, key: str) -> _Site:
        path = ("endpoints", endpoint.name, key)
        return _Site(path) if self._present(path) else _Site(("endpoints", endpoint.name), key=True)

    def _url_site(self, endpoint: CompiledEndpoint, name: str) -> _Site:
        url = endpoint.spec.url
        at = url.find(f"{name}=", url.find("?") + 1) if "?" in url else -1
        return _Site(("endpoints", endpoint.name, "url"), at if at >= 0 else 0)

    def _header_site(self, endpoint: CompiledEndpoint, name: str) -> _Site:
        for owner, pairs in ((("endpoints", endpoint.name, "headers"), endpoint.spec.headers),
                             (("headers",), self.definition.headers)):
            for header, _ in pairs:
                if header.lower() == name.lower():
                    return _Site(owner + (header,))
        auth = self.definition.auth_of(endpoint.spec)
        if auth.header and auth.header.lower() == name.lower():
            return self._auth_site(endpoint)
        if name.lower() == "content-type" and endpoint.payload is not None:
            return _Site(("endpoints", endpoint.name, "payload"), 0)
        return _Site(("endpoints", endpoint.name), key=True)

    def _auth_site(self, endpoint: CompiledEndpoint) -> _Site:
        """The endpoint's own auth (PS520) when it has one, else the definition's."""
        if endpoint.spec.auth is not None:
            return _Site(("endpoints", endpoint.name, "auth", "method"))
        return _Site(("auth", "method"))

    def _body_site(self, endpoint: CompiledEndpoint, where: tuple[PathElement, ...] | None) -> _Site:
        """The payload, or the item template when ``where`` is inside the ``$items`` array; the
        offset of the deepest key of ``where`` that the template spells."""
        items = _items_path(endpoint)
        text = endpoint.spec.payload
        key = "payload"
        if where is not None and items is not None and len(where) > len(items) and where[:len(items)] == items:
            where, text, key = where[len(items) + 1:], endpoint.spec.item_template, "item_template"
        if text is None:
            return _Site(("endpoints", endpoint.name), key=True)
        offset = 0
        for part in reversed(where or ()):
            if isinstance(part, str) and f'"{part}"' in text:
                offset = text.index(f'"{part}"')
                break
        return _Site(("endpoints", endpoint.name, key), offset)

    def _finding(self, problem: _Problem, sample: Sample) -> Finding:
        description = problem.description
        if problem.site is None:
            diagnostic = Diagnostic(problem.code, problem.message, problem.severity, problem.description_path,
                                    description.file if description else None, hint=problem.hint)
        else:
            diagnostic = Diagnostic(problem.code, problem.message, problem.severity, problem.site.path,
                                    hint=problem.hint)
            source = self.definition.source
            diagnostic = source.locate(diagnostic, problem.site.offset, key=problem.site.key) if source else \
                diagnostic.located(self.definition.file, None, None)
        return Finding(diagnostic, problem.body_path, problem.rule, problem.operation,
                       description.file if description else None, sample.label)


def _items_path(endpoint: CompiledEndpoint) -> tuple[PathElement, ...] | None:
    """Where ``$items`` stands in the payload (``("contacts",)``), or None (URL, no payload)."""
    if endpoint.payload is None or endpoint.items_in_url:
        return None
    try:
        tree = compile_node(endpoint.payload)
    except InputError:
        return None
    stack: list[tuple[tuple[PathElement, ...], Node]] = [((), tree)]
    while stack:
        where, node = stack.pop()
        if isinstance(node, Capture) and node.name == "items":
            return where
        if isinstance(node, Obj):
            stack.extend((where + (k,), child) for k, child in node.keys)
        elif isinstance(node, Arr):
            stack.extend((where + (i,), child) for i, child in enumerate(node.elements))
    return None


def _said(exc: BaseException) -> str:
    """What an exception says; openapi-core's own ``__str__`` can itself fail (a media type
    error decoding text it was given as ``str``), and a message must never be a traceback."""
    try:
        return str(exc)
    except Exception:
        return type(exc).__name__


def _schema_errors(cause: BaseException | None) -> list[Any]:
    """The jsonschema errors behind an openapi-core validation error, if that is its cause."""
    return list(cause.schema_errors) if isinstance(cause, InvalidSchemaValue) else []


def _shape(where: Iterable[PathElement]) -> tuple[PathElement, ...]:
    """A body path with array indexes folded (``contacts[*].email``): the same problem in
    another user's item, or another sample's, is the same problem."""
    return tuple("*" if isinstance(p, int) else p for p in where)


def _param_value(adapted: OpenAPIRequest, location: str, name: str, found: Match) -> Any:
    source: Any = {"header": adapted.parameters.header, "query": adapted.parameters.query,
                   "path": found.variables}.get(location, {})
    return source.get(name)


def _matches_template(template: str, path: str) -> bool:
    """Whether a concrete path fits a path template (``/lists/{id}`` and ``/lists/12``)."""
    left, right = template.strip("/").split("/"), path.strip("/").split("/")
    return len(left) == len(right) and all(a == b or (a.startswith("{") and a.endswith("}"))
                                           for a, b in zip(left, right))


def _quietly(work: Callable[[], Any], default: Any) -> Any:
    """``work()``, or ``default`` when a broken description makes it raise: reading schemas to
    choose samples or name what is declared must never be what stops a check."""
    try:
        return work()
    except Exception:
        return default

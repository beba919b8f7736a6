"""A destination derived from a definition: the WSGI app behind ``portalspec serve``.

It behaves as the API the definition describes, so a partner can watch an integration work
end to end before Amplitude reviews it:

- routes are the endpoints' URL paths (the host is ignored; path variables are parameters),
  and the method must match (405 otherwise);
- authentication is checked as declared, against the values file (401, JSON body);
- each body is read back through its payload template (:mod:`portalspec.matching`): a body
  that does not fit is a 400 naming where it differs;
- create_list creates a list and answers its id where the definition's ``list_id`` looks
  for it, remembering the cohort it was made for; a create of a list that exists already is
  answered with the first ``exists_on`` status, as a real API answers it (a list the request
  names, or, with find_list, one that find_list would find for the same cohort);
- find_list answers the lists it holds, each with the cohort it was created for, so the
  definition's path finds the cohort's list (or nothing: 404 for a path without a filter);
- add/remove change a list's membership (404 for an unknown list); update_users
  sets or clears the cohort trait per user;
- with ``auth: oauth2`` it is also the token endpoint (at ``token_url``'s path,
  :class:`portalspec.oauth2.TokenIssuer`): it checks the client and the refresh token against
  the values file, issues access tokens (in memory only), and takes only those as bearer
  tokens; ``POST /_portalspec/expire-tokens`` (or ``Faults.token_uses``) makes senders refresh;
- ``GET /_portalspec/state`` and ``GET /_portalspec/requests`` show what it holds and got;
- faults can be injected (a seeded failure rate, a status, ``Retry-After``, latency)
  without touching the state, to test how a sender copes.

Order of checks: the body is read first (413 over ``max_body_bytes``, 408 when it does not
arrive in time), then the token endpoint (answered there, without faults), route (404/405),
latency and injected failure, credentials (401), the
values file's fields in the path (404), body (400: not JSON that :func:`portalspec.bodies.read_json`
accepts, or not fitting the template), then the list (404; 409 for a create of an id that
exists). A refusal changes nothing. The app is pure WSGI: it can be driven in
process by werkzeug's test ``Client`` or served by :mod:`portalspec.serve`.
"""

from __future__ import annotations

import copy
import json
import operator
import os
import random
import re
import socket
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Mapping, Sequence, Union
from urllib.parse import quote, unquote, urlsplit

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import BaseConverter, Map, Rule
from werkzeug.wrappers import Request as WsgiRequest
from werkzeug.wrappers import Response as WsgiResponse

from .auth import Auth
from .bodies import MAX_DEPTH, BodyError, read_json
from .compiler import CompiledEndpoint
from .diagnostics import InputError, PayloadMismatch, excerpt
from .headers import Headers
from .inputs import load_values
from .integration import Integration
from .integration import compile as compile_definition
from .jsonpath import JSONPathError, compile_path, document_for, find_list_id, selects
from .kinds import REMOVE
from .macros import slugify
from .masking import MASK
from .matching import Captured, Column, PayloadMatcher, match_text, same_value
from .model import Definition
from .oauth2 import TOKEN_ENDPOINT, TokenIssuer
from .render import COHORT_VARIABLES
from .store import REQUEST_LOG, Store, member_key
from .template import Position, Slot, SubstitutionError, Template, as_text
from .validate import load
from .values import Values

CONTROL_PREFIX = "/_portalspec/"
BODY_EXCERPT = 500
MAX_BODY = 64 * 1024 * 1024  # bytes: a larger body is answered 413 without being read
BODY_TIMEOUT = 60.0  # seconds to receive a whole body (the socket timeout bounds each wait)
_CHUNK = 64 * 1024
_PATH_SAFE = "!$&'()*+,;=:@-._~"  # what a path segment may hold unencoded (RFC 3986 pchar)
_OPEN, _CLOSE = "\ue000", "\ue001"
_MARKER = re.compile(f"{_OPEN}(\\d+){_CLOSE}")


class _Segment(BaseConverter):
    """One path segment, possibly empty; its value percent-decoded (so ``%2F`` is a ``/``
    inside the value, not a separator)."""

    regex = "[^/]*"
    part_isolating = True

    def to_python(self, value: str) -> str:
        return unquote(value)


def canonical_path(path: str) -> str:
    """A path with each segment's percent-encoding normalised, ``%2F`` kept: senders and
    templates may encode the same text differently (``~`` or ``%7E``)."""
    return "/".join(quote(unquote(piece), safe=_PATH_SAFE) for piece in path.split("/"))


def route_rule(url: Template) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A werkzeug rule for a URL template's path, and (rule argument, variable) pairs."""
    text: list[str] = []
    names: list[str] = []
    for part in url.parts:
        if isinstance(part, Slot) and part.position is Position.URL_ORIGIN:
            text.append("http://origin")  # the host is ignored, as any written host is
        elif isinstance(part, str):
            text.append(part)
        else:
            text.append(f"{_OPEN}{len(names)}{_CLOSE}")
            names.append(part.name)
    path = urlsplit("".join(text)).path or "/"
    rule: list[str] = []
    params: list[tuple[str, str]] = []
    pieces = _MARKER.split(path)  # literal, index, literal, …
    for i, piece in enumerate(pieces):
        if i % 2 == 0:
            # quote() also escapes '<' and '>', the only text werkzeug's rule syntax reads
            rule.append(canonical_path(piece))
        else:
            params.append((f"p{len(params)}", names[int(piece)]))
            rule.append(f"<seg:{params[-1][0]}>")
    return "".join(rule), tuple(params)


def _wsgi_text(value: str) -> str:
    """A WSGI environ string (bytes as latin-1) as the UTF-8 text it carries."""
    try:
        return value.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:  # already text (some servers pass it decoded)
        return value


def _raw_path(environ: Mapping[str, Any]) -> str:
    """The request path as sent, percent-encoding intact (PATH_INFO has ``%2F`` decoded)."""
    raw = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if raw:
        raw = _wsgi_text(raw)
        path = raw if raw.startswith("/") else urlsplit(raw).path
        return canonical_path(path.split("?", 1)[0].split("#", 1)[0] or "/")
    return canonical_path(quote(_wsgi_text(environ.get("PATH_INFO", "/")), safe="/"))


@dataclass(frozen=True)
class Faults:
    """Failures to inject, for testing how a sender copes. Deterministic with ``seed``.
    An injected failure answers before credentials and body are read, and changes nothing."""

    fail_rate: float = 0.0  # 0..1, the share of endpoint requests that fail
    fail_status: int = 500
    retry_after: int | None = None  # seconds, sent as Retry-After on injected failures
    latency_ms: float = 0.0  # added to every endpoint request
    seed: int | None = None
    token_uses: int | None = None  # OAuth2: an access token is taken on this many requests, then refused (401)

    def __post_init__(self) -> None:
        if not 0.0 <= self.fail_rate <= 1.0:
            raise InputError(f"fail rate {self.fail_rate} is not between 0 and 1")
        if not 400 <= self.fail_status <= 599:
            raise InputError(f"fail status {self.fail_status} is not an HTTP error status (400-599)")
        if self.retry_after is not None and self.retry_after < 0:
            raise InputError("retry-after must be 0 seconds or more")
        if self.latency_ms < 0:
            raise InputError("latency must be 0 ms or more")
        if self.token_uses is not None and self.token_uses < 1:
            raise InputError("an access token must be good for 1 request or more")


@dataclass(frozen=True)
class _AuthCheck:
    header: str
    expected: Template | None  # a header template that carries a secret; None: the auth method's own
    description: str
    auth: Auth | None = None  # the auth whose credentials the header carries (expected None)


@dataclass(frozen=True)
class _Route:
    endpoint: CompiledEndpoint
    params: tuple[tuple[str, str], ...]
    matcher: PayloadMatcher | None  # None: a request without a body
    auth: tuple[_AuthCheck, ...]


@dataclass(frozen=True)
class _Outcome:
    status: int
    body: Any
    endpoint: str = ""
    message: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    injected: bool = False


def _error(status: int, message: str, endpoint: str = "", **extra: Any) -> _Outcome:
    return _Outcome(status, {"error": message, **extra}, endpoint, message)


DefinitionSource = Union[Definition, Integration, str, "os.PathLike[str]"]
ValuesSource = Union[Values, str, "os.PathLike[str]"]


class Destination:
    """The WSGI app of a definition's destination. Thread-safe (the store holds a lock)."""

    def __init__(self, integration: Integration, values: Values, *, store: Store | None = None,
                 faults: Faults = Faults(), log: Callable[[str], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep, max_body_bytes: int = MAX_BODY,
                 body_timeout: float = BODY_TIMEOUT, clock: Callable[[], float] = time.monotonic):
        if max_body_bytes < 1:
            raise InputError(f"the body size cap must be 1 byte or more, not {max_body_bytes}")
        if body_timeout <= 0:
            raise InputError(f"the body timeout must be more than 0 seconds, not {body_timeout:g}")
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self.clock = clock
        self.integration = integration
        self.definition = integration.definition
        self.values = values
        # The same binding a sender makes: what it expects is exactly what render sends.
        bound = integration.bind(values, reveal_secrets=True)
        self.env = dict(bound.field_values)  # as sent: after the fields' transforms
        self.masker = bound.masker
        self._base_masker = bound.masker
        auth = self.definition.auth
        # OAuth2: the token endpoint, at token_url's path (the host is ignored, as every host is).
        self.tokens = TokenIssuer(auth, self.env, uses=faults.token_uses) if auth.scheme.runtime else None
        self._token_path = canonical_path(urlsplit(auth.token_url or "").path or "/") if self.tokens else None
        self.store = store if store is not None else Store(integration=self.definition.name)
        self.faults = faults
        self.log = log
        self.sleep = sleep
        self._random = random.Random(faults.seed)
        self._random_lock = threading.Lock()
        # What the values file says of the cohort: a body carrying it is checked against it.
        self.hints: dict[str, Any] = {k: bound.env[k] for k in COHORT_VARIABLES if k in bound.env}
        self.mapping = tuple(m.variable for m in self.definition.mapping_fields)
        self._secret_headers = self._secret_header_names()
        self._groups: list[list[_Route]] = []
        self._map = self._build_map()
        self._id_kind = self._list_id_kind()
        self._creating = threading.Lock()

    # --- construction -------------------------------------------------------------
    def _build_map(self) -> Map:
        groups: dict[tuple[str, str], int] = {}
        rules: list[Rule] = []
        secrets = self.definition.secret_variables
        for endpoint in self.integration.endpoints:
            rule, params = route_rule(endpoint.url)
            matcher = PayloadMatcher.compile(endpoint.payload, endpoint.item, item_variables=frozenset(self.mapping),
                                             secrets=secrets, optional=endpoint.optional) \
                if endpoint.payload is not None else None
            route = _Route(endpoint, params, matcher, self._auth_checks(endpoint))
            key = (rule, endpoint.method)
            if key not in groups:
                # Endpoints sharing a path and method are told apart by their bodies.
                groups[key] = len(self._groups)
                self._groups.append([])
                rules.append(Rule(rule, endpoint=groups[key], methods=[endpoint.method]))
            self._groups[groups[key]].append(route)
        return Map(rules, converters={"seg": _Segment}, strict_slashes=False, merge_slashes=False)

    def _auth_checks(self, endpoint: CompiledEndpoint) -> tuple[_AuthCheck, ...]:
        auth = self.definition.auth_of(endpoint.spec)  # each endpoint's own credential, if it has one
        checks: list[_AuthCheck] = []
        overridden = {name.lower() for name, _ in endpoint.headers}
        if auth.header is not None and auth.header.lower() not in overridden:
            checks.append(_AuthCheck(auth.header, None, auth.scheme.credential, auth))
        secrets = self.definition.secret_variables
        for name, template in endpoint.headers:
            if template.names & secrets:
                checks.append(_AuthCheck(name, template, f"'{_spelling(template)}'"))
        return tuple(checks)

    def _secret_header_names(self) -> frozenset[str]:
        names = {"authorization"}
        names.update(auth.header.lower() for auth in self.definition.auths if auth.header)
        for endpoint in self.integration.endpoints:
            names.update(n.lower() for n, t in endpoint.headers if t.names & self.definition.secret_variables)
        return frozenset(names)

    def _list_id_kind(self) -> tuple[type, str]:
        """New ids follow example_response's id: an integer, or a string (with its prefix)."""
        create = self.integration.endpoint("create_list")
        spec = create.spec.list_id if create is not None else None
        if spec is None or create is None or create.spec.example_response is None:
            return int, ""
        example: Any
        try:
            if spec.source == "response_header":
                example = Headers(create.spec.example_response).get(spec.path, "")
            else:
                example = find_list_id(spec.path, create.spec.example_response)
        except (JSONPathError, TypeError, ValueError):
            return int, ""
        if isinstance(example, (int, float)) and spec.source == "response_body":
            return int, ""
        prefix = re.match(r"[A-Za-z]+[_-]", str(example))
        return str, prefix.group(0) if prefix else "list-"

    # --- the WSGI app -------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # populate_request=False: a request kept in its own environ is a reference cycle,
        # which held every body (and its cached copy) until the garbage collector ran.
        request = WsgiRequest(environ, populate_request=False)
        return self.respond(request)(environ, start_response)

    def respond(self, request: WsgiRequest) -> WsgiResponse:
        started = time.perf_counter()
        path = _raw_path(request.environ)
        control = path.startswith(CONTROL_PREFIX)
        body = b""
        try:
            if control:
                outcome = self._control(request, path)
            else:
                read = self._read_body(request.environ)
                if isinstance(read, _Outcome):  # a body that cannot be read at all
                    outcome = read
                else:
                    body = read
                    outcome = self._endpoint(request, path, body)
        except HTTPException as exc:
            outcome = _error(exc.code or 400, exc.description or exc.name)
        except Exception as exc:  # noqa: BLE001 - a bug must answer 500, not kill the connection
            outcome = _error(500, excerpt(f"portalspec serve failed on this request: {type(exc).__name__}: {exc}",
                                          BODY_EXCERPT, redact=self.masker, fold_space=False))
        if outcome.status >= 400:  # an error may quote what came: never a secret, in any spelling
            outcome = replace(outcome, body=self._mask_json(outcome.body),
                              message=self.masker(outcome.message) if outcome.message else outcome.message)
        response = WsgiResponse(json.dumps(outcome.body, ensure_ascii=False), outcome.status,
                                mimetype="application/json", headers=list(outcome.headers))
        shown = self.masker(path)
        if not control:
            self.store.record_request({
                "method": request.method, "path": shown,
                # the query as it came (items may stand there), secrets masked, cut when long
                "query": excerpt(self.masker(request.query_string.decode("utf-8", "replace")), BODY_EXCERPT,
                                 redact=self.masker, fold_space=False),
                "endpoint": outcome.endpoint or None,
                "status": outcome.status, "injected": outcome.injected,
                "headers": {self.masker(k): (MASK if k.lower() in self._secret_headers else
                                             excerpt(v, BODY_EXCERPT, redact=self.masker, fold_space=False))
                            for k, v in request.headers.items()},
                "body": self._body_excerpt(body), "message": outcome.message,
            })
        if self.log is not None:
            ms = (time.perf_counter() - started) * 1000
            self.log(f"{request.method} {shown} {outcome.status} {outcome.endpoint or '-'} {ms:.1f}ms"
                     + (" [injected]" if outcome.injected else "")
                     + (f": {outcome.message}" if outcome.message and outcome.status >= 400 else ""))
        return response

    def _read_body(self, environ: Mapping[str, Any]) -> bytes | _Outcome:
        """The request body, read in chunks: over ``max_body_bytes`` is a 413 (before reading,
        when Content-Length says so), not all there within ``body_timeout`` (or a socket
        timeout while waiting for it) a 408, and a body that ends before its Content-Length
        a 400. A body neither sized nor chunked is empty."""
        cap = self.max_body_bytes
        chunked = "wsgi.input_terminated" in environ
        try:
            length: int | None = int(environ.get("CONTENT_LENGTH") or "") if not chunked else None
        except ValueError:
            length = None
        if length is not None and length < 0:
            length = None
        if length is None and not chunked:
            return b""
        if length is not None and length > cap:
            return _error(413, f"the body is {length:,} bytes (Content-Length), more than the {cap:,} "
                                "this destination accepts")
        stream = environ["wsgi.input"]
        deadline = self.clock() + self.body_timeout
        chunks: list[bytes] = []
        size = 0
        try:
            while length is None or size < length:
                wanted = min(_CHUNK, cap + 1 - size, (length - size) if length is not None else _CHUNK)
                chunk = stream.read(wanted)
                if not chunk:
                    if length is not None:
                        return _error(400, f"the body ended after {size:,} of its {length:,} bytes (Content-Length)")
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > cap:
                    return _error(413, f"the body is more than the {cap:,} bytes this destination accepts")
                if self.clock() > deadline:
                    return _error(408, f"the body did not arrive within {self.body_timeout:g} s")
        except socket.timeout:
            return _error(408, f"the body stopped arriving after {size:,} bytes (the socket timed out)")
        except OSError as exc:  # a malformed chunk, a connection reset
            return _error(400, f"the body could not be read after {size:,} bytes: {exc}")
        return b"".join(chunks)

    def _body_excerpt(self, body: bytes) -> str:
        """The body's first characters for the request log, secrets masked before the cut.

        Only a window of the body is decoded and masked (a 60 MB body is not copied as
        text); it is grown until, masked, it reaches past the cut by the longest secret
        spelling, so a secret crossing the window's end lies beyond the cut."""
        longest = max((len(s) for s in self.masker.spellings), default=0)
        size = 4 * (BODY_EXCERPT + longest)
        while True:
            text = body[:size].decode("utf-8", "replace")
            if size >= len(body) or len(self.masker(text)) >= BODY_EXCERPT + longest:
                return excerpt(text, BODY_EXCERPT, redact=self.masker, fold_space=False)
            size *= 4

    def _control(self, request: WsgiRequest, path: str) -> _Outcome:
        views: dict[str, Callable[[], Any]] = {"/_portalspec/state": self.state, "/_portalspec/requests": self.requests}
        actions: dict[str, Callable[[], Any]] = {"/_portalspec/expire-tokens": self.expire_tokens} if self.tokens else {}
        if path in actions:
            if request.method != "POST":
                return _Outcome(405, {"error": f"{path} answers POST only"}, headers=(("Allow", "POST"),))
            return _Outcome(200, actions[path]())
        if path not in views:
            return _error(404, f"no {path}; try {', '.join([*views, *actions])}")
        if request.method != "GET":
            return _Outcome(405, {"error": f"{path} answers GET only"}, headers=(("Allow", "GET"),))
        return _Outcome(200, views[path]())

    def expire_tokens(self) -> dict[str, Any]:
        """OAuth2: refuse every access token issued so far, so that senders must refresh."""
        return {"expired": self.tokens.expire() if self.tokens is not None else 0}

    def state(self) -> dict[str, Any]:
        """All lists with their members (list-based) and users with their traits (property-based)."""
        return {"integration": self.definition.name, "type": self.definition.type, **self.store.snapshot()}

    def requests(self) -> list[dict[str, Any]]:
        """The requests received on the endpoints, oldest first, secrets masked."""
        return self.store.requests()

    def routes(self) -> list[str]:
        """``METHOD /path/$variable  (endpoint)`` for each endpoint, as the definition spells it."""
        out = [f"POST {self._token_path}  ({TOKEN_ENDPOINT})"] if self._token_path is not None else []
        for rule in self._map.iter_rules():
            for route in self._groups[int(rule.endpoint)]:
                params = dict(route.params)
                path = re.sub(r"<seg:(p\d+)>", lambda m: "$" + params[m.group(1)], rule.rule)
                out.append(f"{route.endpoint.method} {path}  ({route.endpoint.name})")
        return out

    # --- endpoints ----------------------------------------------------------------
    def _endpoint(self, request: WsgiRequest, path: str, body: bytes) -> _Outcome:
        if self.tokens is not None and path == self._token_path:
            return self._token(request, body)
        adapter = self._map.bind("destination", "/")
        try:
            group, args = adapter.match(path, request.method)
        except MethodNotAllowed as exc:
            allowed = sorted(exc.valid_methods or ())
            return _Outcome(405, {"error": f"{request.method} is not allowed on {self.masker(path)}",
                                  "allowed": allowed}, message=f"method not allowed (allowed: {', '.join(allowed)})",
                            headers=(("Allow", ", ".join(allowed)),))
        except NotFound:
            return _error(404, f"no endpoint of {self.definition.name} at {request.method} {self.masker(path)}",
                          routes=self.routes())
        routes = self._groups[int(group)]
        extra: list[tuple[str, str]] = []
        if self.faults.latency_ms:
            self.sleep(self.faults.latency_ms / 1000)
            extra.append(("X-Portalspec-Latency-Ms", f"{self.faults.latency_ms:g}"))
        with self._random_lock:
            injected = self._random.random() < self.faults.fail_rate
        if injected:
            if self.faults.retry_after is not None:
                extra.append(("Retry-After", str(self.faults.retry_after)))
            outcome = replace(_error(self.faults.fail_status, "injected failure (portalspec serve --fail-rate)",
                                     routes[0].endpoint.name), injected=True)
        else:
            if self.tokens is not None:  # the token it carries has one use less (Faults.token_uses)
                self.tokens.spend(request.headers.get("Authorization"))
            outcome = self._handle(routes, request, args, body)
        return replace(outcome, headers=tuple(extra) + outcome.headers)

    def _token(self, request: WsgiRequest, body: bytes) -> _Outcome:
        """The OAuth2 token endpoint; a token it issues is masked from then on, like a secret."""
        assert self.tokens is not None
        if request.method != "POST":
            return _Outcome(405, {"error": f"the token endpoint answers POST only, not {request.method}"},
                            TOKEN_ENDPOINT, "method not allowed (allowed: POST)", headers=(("Allow", "POST"),))
        answer = self.tokens.answer(Headers(request.headers.items()), body)
        if answer.status == 200:
            self.masker = self._base_masker.including(self.tokens.tokens())
        return _Outcome(answer.status, answer.body, TOKEN_ENDPOINT, answer.message, answer.headers)

    def _handle(self, routes: list[_Route], request: WsgiRequest, args: Mapping[str, str], body: bytes) -> _Outcome:
        # Parsed once for every route; a body that is not usable JSON is refused (400) in
        # _try, after the credentials and the path, so the order of checks holds.
        document: Any = None
        unreadable: str | None = None
        try:
            document = read_json(body, what="the body", max_bytes=self.max_body_bytes, max_depth=MAX_DEPTH)
        except BodyError as exc:
            unreadable = str(exc)
        first: _Outcome | None = None
        for route in routes:
            outcome = self._try(route, request, args, document, unreadable)
            if outcome.status != 400 or len(routes) == 1:
                return outcome
            first = first or outcome
        assert first is not None
        return first

    def _try(self, route: _Route, request: WsgiRequest, args: Mapping[str, str], document: Any,
             unreadable: str | None) -> _Outcome:
        name = route.endpoint.name
        problem = self._check_auth(route, request)
        if problem is not None:
            challenge = (("WWW-Authenticate", 'Bearer error="invalid_token"'),) if self.tokens is not None else ()
            return replace(_error(401, f"missing or wrong credentials: {problem}", name), headers=challenge)
        from_path = {variable: args[param] for param, variable in route.params}
        for variable, value in from_path.items():
            if variable in self.env and not same_value(self.env[variable], value):
                secret = variable in self.definition.secret_variables
                shown = "" if secret else f" '{value}' (this destination's is '{as_text(self.env[variable])}')"
                return _error(404, f"unknown ${variable}{shown} in the path", name)
        if route.matcher is None:  # a request without a body: its users are in the URL
            found = self._query_items(route.endpoint, request.environ) if route.endpoint.items_in_url else None
            if isinstance(found, _Outcome):
                return found
            captured = Captured({}, found)  # (a per-user endpoint's user: from the path, below)
        elif unreadable is not None:
            return _error(400, unreadable, name)
        else:
            try:
                captured = route.matcher.match(document, {**self.env, **from_path}, self.hints, redact=self.masker)
            except PayloadMismatch as exc:
                status = 401 if exc.secret else 400
                return _error(status, f"the body does not match the {name} payload template: {exc}", name,
                              path=exc.path, expected=exc.expected, got=exc.got)
        if route.matcher is not None and route.endpoint.items_in_url:
            found = self._query_items(route.endpoint, request.environ)
            if isinstance(found, _Outcome):
                return found
            captured = replace(captured, items=found)
        per_user = {v: from_path[v] for v in self.mapping if v in from_path}
        if per_user:  # one request per user: who it is stands in the URL
            captured = replace(captured, items=tuple({**item, **per_user} for item in captured.items or ({},)))
        items = captured.items if captured.items is not None else ()
        if len(items) > route.endpoint.batch_size:
            return _error(400, f"{len(items)} items in one request; the definition's batch_size is "
                               f"{route.endpoint.batch_size}", name)
        kind = route.endpoint.kind
        answers: dict[str, Callable[[], _Outcome]] = {  # how each kind of endpoint is answered (kinds.KINDS)
            "find": lambda: self._find(route, from_path, request.environ),
            "create": lambda: self._create(route, document, captured.values),
            "add": lambda: self._membership(route, captured, name, adding=True),
            "remove": lambda: self._membership(route, captured, name, adding=False),
            "update": lambda: self._update(captured, name, kind.operations),
        }
        if kind.answer not in answers:  # a kind added to the table without an answer here
            raise AssertionError(f"serve has no answer '{kind.answer}' for {name}")
        return answers[kind.answer]()

    def _query_items(self, endpoint: CompiledEndpoint, environ: Mapping[str, Any]
                     ) -> tuple[dict[str, Any], ...] | _Outcome:
        """The items of ``$items`` in the URL's query: the raw value split by the separator
        (before unquoting, so an item may hold the separator), each read through the item template."""
        parts = endpoint.url.parts
        at = next(i for i, p in enumerate(parts) if isinstance(p, Slot) and p.name == "items")
        before = parts[at - 1] if at and isinstance(parts[at - 1], str) else ""
        param = re.split(r"[?&]", str(before))[-1].rstrip("=")
        raw = _wsgi_text(environ.get("QUERY_STRING", ""))
        value = next((v for k, _, v in (pair.partition("=") for pair in raw.split("&")) if unquote(k) == param), None)
        if value is None:
            return _error(400, f"no '{param}' in the query: the items of {endpoint.name} go there", endpoint.name)
        items: list[dict[str, Any]] = []
        assert endpoint.item is not None  # the checks require an item template with $items
        for text in (unquote(piece) for piece in value.split(endpoint.spec.items_separator) if piece):
            found = match_text(endpoint.item, text, self.env)
            if found is None:
                return _error(400, f"the item {self.masker(text)!r} in '{param}' does not fit the item template",
                              endpoint.name)
            items.append(found)
        return tuple(items)

    def _check_auth(self, route: _Route, request: WsgiRequest) -> str | None:
        for check in route.auth:
            raw = request.headers.get(check.header)
            if raw is None:
                return f"no {check.header} header ({check.description} expected)"
            value = _wsgi_text(raw)  # senders (portalspec's transport among them) send UTF-8
            if check.expected is None:
                assert check.auth is not None
                # A credential issued at run time (OAuth2's access token) is one the issuer gave out.
                if not (self.tokens.accepts(value) if self.tokens is not None and check.auth.scheme.runtime
                        else check.auth.accepts(value, self.env)):
                    return f"{check.header} does not carry the expected {check.description}"
            elif match_text(check.expected, value, self.env) is None:
                return f"{check.header} does not match {check.description}"
        return None

    def _create_new_list(self, request: Any, cohort: Mapping[str, Any]) -> Any:
        """A list with the next free id; creating is the check, so concurrent creates differ."""
        kind, prefix = self._id_kind
        number = self.store.next_list_number()
        while True:
            candidate: Any = number if kind is int else f"{prefix}{number}"
            if self.store.create_list(candidate, request, cohort):
                return candidate
            number += 1

    # --- finding lists (find_list) ----------------------------------------------------
    def _cohort(self, captured: Mapping[str, Any]) -> dict[str, Any]:
        """The cohort variables a create_list body carried (its slug derived from its name)."""
        cohort = {name: captured[name] for name in COHORT_VARIABLES if name in captured}
        if "amp_cohort_name" in cohort and "amplitude_cohort_name" not in cohort:
            cohort["amplitude_cohort_name"] = slugify(as_text(cohort["amp_cohort_name"]))
        return cohort

    def _list_env(self, cohort: Mapping[str, Any]) -> dict[str, Any]:
        """What find_list's templates read for a list: the fields, then the values file's cohort,
        then the cohort the list was created for."""
        return {**self.env, **self.hints, **cohort}

    def _find_path(self, cohort: Mapping[str, Any], *, shape: bool = False) -> str | None:
        """find_list's JSONPath for a list of ``cohort`` (None: it names a variable the list
        does not know). ``shape``: any values, for the path's structure alone."""
        find = self.integration.endpoint("find_list")
        if find is None or find.list_path is None:
            return None
        env = self._list_env(cohort)
        if shape:
            env = {**{name: "" for name in find.list_path.names}, **env}
        try:
            return find.list_path.render(env)
        except (KeyError, SubstitutionError):
            return None

    def _same_list(self, cohort: Mapping[str, Any]) -> Any:
        """The id of a held list that find_list would find for ``cohort``, if any."""
        path = self._find_path(cohort)
        find = self.integration.endpoint("find_list")
        if path is None or find is None:
            return None
        names = find.url.names & frozenset(COHORT_VARIABLES)
        env = self._list_env(cohort)
        for list_id, held in self.store.lists():
            other = self._list_env(held)
            if self._find_path(held) == path and all(same_value(other.get(n), env.get(n)) for n in names):
                return list_id
        return None

    def _find(self, route: _Route, from_path: Mapping[str, str], environ: Mapping[str, Any]) -> _Outcome:
        """The lists it holds that the request's URL (its cohort variables) asks for, each
        answered with the cohort it was created for, so the definition's path picks the one."""
        name = route.endpoint.name
        asked = self._url_values(route.endpoint, environ)
        if asked is None:
            return _error(400, f"the query does not match the {name} URL template", name)
        asked = {k: v for k, v in {**asked, **from_path}.items() if k in COHORT_VARIABLES}
        entries: list[tuple[str, Any]] = []
        for list_id, cohort in self.store.lists():
            env = self._list_env(cohort)
            path = self._find_path(cohort)
            if path is not None and all(same_value(env.get(k), v) for k, v in asked.items()):
                entries.append((path, list_id))
        shape = self._find_path({}, shape=True)
        assert shape is not None and route.endpoint.list_path is not None  # (the compiler sets it for find_list)
        try:
            if not entries and not selects(shape):  # a lookup of one list that is not there
                return _error(404, "no such list", name)
            return _Outcome(200, document_for(shape, entries), name)
        except JSONPathError as exc:
            return _error(500, f"cannot answer find_list at '{_spelling(route.endpoint.list_path)}': {exc}", name)

    def _url_values(self, endpoint: CompiledEndpoint, environ: Mapping[str, Any]) -> dict[str, Any] | None:
        """The variables in the request's query, read through the URL template's query (None:
        it does not fit)."""
        parts = list(endpoint.url.parts)
        start = next((i for i, p in enumerate(parts) if isinstance(p, str) and "?" in p), None)
        if start is None:
            return {}
        first = parts[start]
        assert isinstance(first, str)
        query: list[Any] = [first.split("?", 1)[1], *parts[start + 1:]]
        regex, names = [], []
        for part in query:
            if isinstance(part, str):
                regex.append(re.escape(part.split("#", 1)[0]))
            else:
                names.append(part.name)
                regex.append("([^&#]*)")
        found = re.fullmatch("".join(regex), _wsgi_text(environ.get("QUERY_STRING", "")))
        if found is None:
            return None
        return {variable: unquote(value) for variable, value in zip(names, found.groups())}

    def _create(self, route: _Route, document: Any, captured: Mapping[str, Any]) -> _Outcome:
        spec = route.endpoint.spec.list_id
        assert spec is not None  # the checks require list_id on create_list
        masked = self._mask_json(document)
        cohort = self._cohort(captured)
        exists_on = route.endpoint.spec.exists_on
        if spec.source == "request_body":
            try:
                list_id = find_list_id(spec.path, document)
            except JSONPathError as exc:
                return _error(400, f"no list id in the request: {exc}", "create_list")
            if not self.store.create_list(list_id, masked, cohort):
                # As a real API would: the sender learns the list is there (and keeps it as it is),
                # with the status the definition says such an API answers (exists_on), else 409.
                status = next(iter(exists_on), 409)
                return _error(status, f"a list '{as_text(list_id)}' exists already", "create_list", list_id=list_id)
            return _Outcome(200, {}, "create_list")
        with self._creating:  # the look and the create as one, so two concurrent creates make one list
            same = self._same_list(cohort) if exists_on else None
            if same is not None:  # an API that refuses a second list of one name (exists_on says how)
                return _error(exists_on[0], f"a list for this cohort exists already ({as_text(same)})", "create_list")
            list_id = self._create_new_list(masked, cohort)
        if spec.source == "response_header":
            return _Outcome(200, {}, "create_list", headers=((spec.path, as_text(list_id)),))
        example = route.endpoint.spec.example_response
        answer = copy.deepcopy(example) if isinstance(example, (dict, list)) else {}
        try:
            answer = compile_path(spec.path).update_or_create(answer, list_id)
            if find_list_id(spec.path, answer) != list_id:
                raise JSONPathError("the path does not lead back to the id", about_document=True)
        except Exception as exc:  # noqa: BLE001 - jsonpath-ng raises plain exceptions for odd paths
            return _error(500, f"cannot answer the list id at '{spec.path}': {exc}", "create_list")
        return _Outcome(200, answer, "create_list")

    def _mask_json(self, value: Any) -> Any:
        """``value`` with secrets masked in every string (and key), its structure intact."""
        if isinstance(value, str):
            return self.masker(value)
        if isinstance(value, dict):
            return {self.masker(k): self._mask_json(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._mask_json(v) for v in value]
        return value

    def _member(self, item: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        values = {v: item[v] for v in self.mapping if v in item}
        first = next((v for v in self.mapping if v in item), None)
        key = member_key(item[first]) if first is not None else json.dumps(dict(item), sort_keys=True)
        return key, values

    def _members(self, items: Sequence[Mapping[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
        """(key, values) of each item; for the common items of one string each, in one pass."""
        if len(self.mapping) == 1 and items and {len(item) for item in items} == {1}:
            only = self.mapping[0]
            try:
                keys = list(map(operator.itemgetter(only), items))
            except KeyError:
                keys = []
            if keys and {type(k) for k in keys} == {str}:
                return [(k, dict(item)) for k, item in zip(keys, items)]  # member_key(text) is the text
        return [self._member(item) for item in items]

    def _membership(self, route: _Route, captured: Captured, name: str, *, adding: bool) -> _Outcome:
        if "list_id" in captured.values:
            key = member_key(captured.values["list_id"])
        else:
            only = self.store.only_list()
            if only is None:
                return _error(400, f"{name} does not carry $list_id and there is not exactly one list", name)
            key = only
        if not self.store.has_list(key):
            return _error(404, f"no list '{self.masker(key)}' (create one with create_list first)", name)
        items = captured.items or ()
        if adding and isinstance(items, Column) and len(self.mapping) == 1 and items.name == self.mapping[0]:
            # one string each (the common item): the key is the string, no (key, values) per member
            size = self.store.add_column(key, items.name, items.values)
            return _Outcome(200, {"list_id": self.store.list_id(key), "added": len(items), "size": size}, name)
        members = self._members(items)
        list_id = self.store.list_id(key)
        if adding:
            size = self.store.add_members(key, members)
            return _Outcome(200, {"list_id": list_id, "added": len(members), "size": size}, name)
        # By key, or else by whichever mapped values the remove items carry (store.remove_members)
        removed, size = self.store.remove_members(key, members)
        return _Outcome(200, {"list_id": list_id, "removed": removed, "not_members": len(members) - removed,
                              "size": size}, name)

    def _update(self, captured: Captured, name: str, operations: tuple[str, ...]) -> _Outcome:
        rows = []
        for item in captured.items or ():
            key, values = self._member(item)
            cohort = item.get("amp_cohort_id", captured.values.get("amp_cohort_id", self.hints.get("amp_cohort_id")))
            trait = as_text(cohort) if cohort is not None else self.definition.name
            if "amp_in_cohort" in item:
                flag = item["amp_in_cohort"]  # true/false, or its text inside a string ("true")
                value = flag is True or flag == "true"
            elif "amp_operation" in item:
                value = item["amp_operation"] == "add"
            else:
                # Nothing in the item says: the endpoint's kind does when it carries one
                # operation (a "remove traits" endpoint clears); else an update sets it.
                value = operations != (REMOVE,)
            rows.append((key, trait, value, values))
        return _Outcome(200, {"updated": self.store.set_traits(rows)}, name)


def _spelling(template: Template) -> str:
    return "".join(p if isinstance(p, str) else f"${p.name}" for p in template.parts)


def build_destination(definition: DefinitionSource, values: ValuesSource, *, state: str | None = None,
                      faults: Faults = Faults(), log: Callable[[str], None] | None = None,
                      sleep: Callable[[float], None] = time.sleep, max_body_bytes: int = MAX_BODY,
                      body_timeout: float = BODY_TIMEOUT, request_log: int = REQUEST_LOG) -> Destination:
    """A :class:`Destination` from a definition (path, Definition or Integration) and values
    (path or Values); ``state`` is a SQLite file (default: in memory); ``request_log``
    requests are kept in the log (the last ones)."""
    if isinstance(definition, Integration):
        integration = definition
    else:
        integration = compile_definition(definition if isinstance(definition, Definition) else load(definition))
    values = values if isinstance(values, Values) else load_values(values, integration.definition)
    store = Store(state or ":memory:", integration=integration.definition.name, request_log=request_log)
    try:
        return Destination(integration, values, store=store, faults=faults, log=log, sleep=sleep,
                           max_body_bytes=max_body_bytes, body_timeout=body_timeout)
    except Exception:
        store.close()
        raise

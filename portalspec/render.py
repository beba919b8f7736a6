"""Stage 4, rendering: a compiled integration bound to values → :class:`Request` values. Pure:
no I/O; the clock and randomness come only through :class:`MacroContext`.

:class:`BoundIntegration` is the one way a request is made: render, the endpoint test, serve
and sync all build theirs through it, so they cannot disagree. It holds the resolved fields,
the cohort and the masker once, and offers

- :meth:`~BoundIntegration.find_list` and :meth:`~BoundIntegration.list_found` — the
  find_list request, and the list its answer names (None: there is none);
- :meth:`~BoundIntegration.create_list` — the create_list request;
- :meth:`~BoundIntegration.batch` — exactly one request for the batch of members it is given
  (splitting into batches happens before it);
- :meth:`~BoundIntegration.requests` — a whole sync's requests from users (``render``);
- :meth:`~BoundIntegration.list_id_from` — the list id from create_list's answer.

Order of ``requests``: find_list (when the definition has one), create_list (list-based), then
every entering batch, then every leaving batch (the same for property-based). A batch never mixes entering and leaving users,
holds at most ``batch_size`` items in input order, and the union of all batches is exactly
the input. Users stream through: entering users are rendered batch by batch as they are read;
leaving users are held (they are sent last) — memory is the leaving users plus a batch.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import uuid
from urllib.parse import quote
from typing import Any, Iterable, Iterator, Mapping, Protocol

from .batching import Batch, UserInput, batches
from .compiler import CompiledDefinition, CompiledEndpoint
from .diagnostics import InputError
from .headers import Headers, is_json_type
from .jsonpath import JSONPathError, find_list_id, find_values
from .kinds import creates_list
from .macros import MacroContext, slugify
from .masking import Masker
from .request import Request
from .spliced import BodyParts, Joined, spell
from .template import Encoded, Piece, Position, RawJSON, Slot, SubstitutionError, Template, as_text
from .transforms import apply, apply_all
from .values import ADD, REMOVE, Cohort, Members, UserSource, Values, resolve_fields

JSON_CONTENT_TYPE = "application/json"

_c_encode = json.encoder.encode_basestring
# Masked, a secret is a sentinel wherever it lands: lowercase letters and digits survive
# every encoder unchanged. Its middle is a hash of the secrets themselves, so a user id
# cannot be crafted to equal one (which would show user data as a secret, and turn it into
# "${API_KEY}" in curl) without knowing the secrets — and output stays deterministic.
_SENTINEL = "pssecret{nonce}{index:02d}q9z"
# A derived credential (basic auth's base64) would hide its secrets' sentinels: masked, the
# whole credential is one sentinel of its own, named after its method.
_CREDENTIAL_SENTINEL = "pssecret{nonce}{method}q9z"


def _nonce(secrets: Iterable[Any]) -> str:
    digest = hashlib.sha256()
    for secret in secrets:
        digest.update(as_text(secret).encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()[:16]


# The variables a binding's cohort fills in.
COHORT_VARIABLES = ("amp_cohort_id", "amp_cohort_name", "amp_cohort_url", "amplitude_cohort_name")


NOT_FOUND = 404  # find_list: the destination has no such list


class Answer(Protocol):
    """What :meth:`BoundIntegration.list_id_from` and :meth:`~BoundIntegration.list_found`
    read of a response."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Any: ...

    def document(self, what: str = ...) -> Any:
        """The body's JSON; raises an InputError saying why there is none."""


class BoundIntegration:
    """A compiled integration bound to one destination's values (and one cohort)."""

    def __init__(self, integration: CompiledDefinition, values: Values, *, context: MacroContext | None = None,
                 reveal_secrets: bool = False, cohort: Cohort | None = None):
        definition = integration.definition
        self.integration = integration
        self.values = values
        self.context = context or MacroContext()
        self.reveal_secrets = reveal_secrets
        env = resolve_fields(definition, values)
        self.fields: Mapping[str, Any] = dict(env)  # as the values file gives them, secrets included
        for f in definition.custom_fields:
            if f.transform and f.variable in env:
                env[f.variable] = apply(f.transform, env[f.variable])
        self.field_values: Mapping[str, Any] = dict(env)  # transformed: what the requests carry
        # For text that carries the real secrets, as typed and as transformed.
        self.masker = Masker.for_values(definition, self.fields, sent=env)
        masked: list[tuple[str, str]] = []
        secret_names = sorted(definition.secret_variables & env.keys())
        self._nonce = _nonce(env[name] for name in secret_names)
        if not reveal_secrets:
            for name in secret_names:
                if env[name] != "":
                    masked.append((_SENTINEL.format(nonce=self._nonce, index=len(masked)), name))
                    env[name] = masked[-1][0]
        # A runtime variable (OAuth2's access token) is unknown to a pure render: a placeholder,
        # masked even when secrets are revealed; the transport puts the real value in as it sends.
        for name in definition.auth.scheme.runtime:
            masked.append((_SENTINEL.format(nonce=self._nonce, index=len(masked)), name))
            env[name] = masked[-1][0]
        self.masked = tuple(masked)
        env.update(self.context.constants())
        self._base = env
        self.cohort: Cohort | None = None
        self.env: dict[str, Any] = {}
        self._items: dict[tuple[str, str], _ItemRenderer] = {}
        self._set_cohort(cohort if cohort is not None else values.cohort)

    def _set_cohort(self, cohort: Cohort | None) -> None:
        self.cohort = cohort
        self.env = dict(self._base)
        if cohort is not None:
            self.env.update(amp_cohort_name=cohort.name, amp_cohort_id=cohort.id, amp_cohort_url=cohort.url,
                            amplitude_cohort_name=slugify(cohort.name))
        for name, value in self.env.items():
            _check_text(value, f"${name}")
        self._items = {}

    def with_cohort(self, cohort: Cohort) -> "BoundIntegration":
        """The same binding for another cohort (the users file may name it)."""
        if cohort == self.cohort:
            return self
        other = copy.copy(self)
        other._set_cohort(cohort)
        return other

    def for_users(self, users: Iterable[UserInput]) -> "BoundIntegration":
        """The binding for the cohort of ``users`` (the test CSV's cohort columns), merged
        with the values file's: what :meth:`requests` of those users builds with."""
        return self.with_cohort(_cohort(self.cohort, users))

    @property
    def name(self) -> str:
        return self.integration.name

    # --- single requests -------------------------------------------------------------
    def find_list(self) -> Request:
        """The find_list request (a definition that has one)."""
        find = self.integration.endpoint("find_list")
        if find is None:
            raise InputError(f"{self.name} has no find_list endpoint")
        return self._request(find, {})

    def list_found(self, response: Answer) -> str | int | None:
        """The list find_list's ``response`` names, or None when there is none: a 404, or a
        2xx in which the path (this cohort's) finds nothing. Raises :class:`InputError` when
        the answer cannot say: another status, no JSON, or several lists (portalspec does not
        guess which one is the cohort's — creating another would only add to them)."""
        find = self.integration.endpoint("find_list")
        if find is None or find.list_path is None:
            raise InputError(f"{self.name} has no find_list endpoint")
        if response.status == NOT_FOUND:
            return None
        if not 200 <= response.status < 300:
            raise InputError(f"find_list answered HTTP {response.status}, so whether the list exists is unknown")
        try:
            path = find.list_path.render(self.env)
            found = find_values(path, response.document("it"))
        except (SubstitutionError, JSONPathError, InputError) as exc:
            raise InputError(f"cannot read find_list's answer ('{find.list_path.where}'): {exc}") from None
        if len(found) > 1:
            raise InputError(f"find_list finds {len(found)} lists for this cohort at '{path}'; portalspec does not "
                             "guess which one to use: remove the extra lists, or set list_id in the values file")
        return checked_list_id(found[0]) if found else None

    def create_list(self) -> Request:
        """The create_list request (list-based definitions)."""
        create = self.integration.endpoint("create_list")
        if create is None:
            raise InputError(f"{self.name} has no create_list endpoint (it is {self.integration.definition.type}-based)")
        return self._request(create, {})

    def batch(self, operation: str, members: Members, list_id: str | int | None = None) -> Request:
        """Exactly one request carrying ``members`` (all of ``operation``) to where such users go."""
        endpoint = self.integration.batch_endpoint(operation)
        batch = self._members_batch(operation, members, endpoint)
        return self._batch(endpoint, batch, self._list_id_for(endpoint, list_id))

    def _members_batch(self, operation: str, members: Members, endpoint: CompiledEndpoint) -> Batch:
        if members.operation != operation:
            raise InputError(f"members of '{members.operation}' given as a batch of '{operation}'")
        if members.size > endpoint.batch_size:
            raise InputError(f"{members.size} users in one {endpoint.name} request; its batch_size is "
                             f"{endpoint.batch_size} (split the users into batches first)")
        variables = [m.variable for m in self.integration.definition.mapping_fields]
        missing = [v for v in variables if v not in members.columns]
        if missing:
            raise InputError(f"members block has no column for {', '.join('$' + m for m in missing)}")
        return Batch(operation, {v: members.columns[v] for v in variables}, members.size)

    def _list_id_for(self, endpoint: CompiledEndpoint, list_id: str | int | None) -> str | int | None:
        if not endpoint.kind.list_scoped:
            return None
        if list_id is None:
            raise InputError(f"{endpoint.name} sends to a list: a list id is needed")
        _check_text(list_id, "$list_id")
        return list_id

    # --- a whole sync ----------------------------------------------------------------
    def requests(self, users: Iterable[UserInput] = (), *, list_id: str | int | None = None,
                 response: Any = None, endpoint: str | None = None) -> Iterator[Request]:
        """The requests of a sync of ``users`` (or of one ``endpoint``), in order.

        ``list_id`` comes from, in order: the argument, ``values.list_id``, ``response`` (a
        create_list response body — or headers, for ``list_id.from: response_header``) read
        through the definition's ``list_id``, and the definition's ``example_response``."""
        integration = self.integration
        if endpoint is not None and integration.endpoint(endpoint) is None:
            raise InputError(f"{self.name} has no endpoint '{endpoint}' "
                             f"(it has {', '.join(e.name for e in integration.endpoints)})")
        bound = self.for_users(users)
        if integration.endpoint("find_list") is not None and endpoint in (None, "find_list"):
            yield bound.find_list()  # a first sync looks before it creates
        if endpoint == "find_list":
            return
        created: Request | None = None
        if integration.endpoint("create_list") is not None and endpoint in (None, "create_list"):
            created = bound.create_list()
            yield created
        if endpoint == "create_list":
            return
        if creates_list(integration.definition.type):
            list_id = bound._list_id(list_id, response, created)
            _check_text(list_id, "$list_id")
        wanted = frozenset({ADD, REMOVE})
        if endpoint is not None:
            wanted = frozenset(integration.endpoint(endpoint).kind.operations)  # type: ignore[union-attr]
        sizes = {op: integration.batch_endpoint(op).batch_size for op in (ADD, REMOVE)}
        variables = [m.variable for m in integration.definition.mapping_fields]
        for batch in batches(users, sizes, variables, wanted):
            target = integration.batch_endpoint(batch.operation)
            yield from (request for _, _, request in
                        bound._fitted(target, batch, list_id if target.kind.list_scoped else None))

    def _list_id(self, given: str | int | None, response: Any, created: Request | None) -> str | int:
        if given is not None:
            return given
        if self.values.list_id is not None:
            return self.values.list_id
        create = self.integration.endpoint("create_list")
        assert create is not None and create.spec.list_id is not None
        if create.spec.list_id.source == "request_body":
            return self.list_id_from(created=created or self.create_list())
        document = response if response is not None else create.spec.example_response
        if document is None:
            raise InputError("no list id: pass --list-id, set list_id in the values file, or give a "
                             "create_list response (--response, or example_response in the definition)")
        if create.spec.list_id.source == "response_header":
            return self.list_id_from(headers=document, created=created)  # a mapping or (name, value) pairs
        return self.list_id_from(body=document, created=created)

    def says_exists(self, response: Any) -> bool:
        """create_list's answer is one of its ``exists_on`` statuses: the list is there already."""
        create = self.integration.endpoint("create_list")
        return response is not None and create is not None and getattr(response, "status", None) in create.spec.exists_on

    def list_exists(self, response: Any) -> bool:
        """create_list's answer says the list exists already (``exists_on``), and the request
        names it (``list_id.from: request_body``), so it is the list to use. (With an id the
        destination chose, find_list must find it: :meth:`says_exists`.)"""
        create = self.integration.endpoint("create_list")
        return self.says_exists(response) and create is not None and create.spec.list_id is not None \
            and create.spec.list_id.source == "request_body"

    def list_id_from(self, response: Answer | None = None, *, body: Any = None, headers: Any = (),
                     created: Request | None = None) -> str | int:
        """The list id, read through the definition's ``list_id``: from create_list's
        ``response`` (anything with ``headers`` and ``json()``), or its JSON ``body`` or
        ``headers`` given apart, or from the ``created`` request's body. Raises
        :class:`InputError` saying what was looked for and why it was not found."""
        if response is not None:
            headers = response.headers
            create = self.integration.endpoint("create_list")
            if create is not None and create.spec.list_id is not None and \
                    create.spec.list_id.source == "response_body":
                try:
                    body = response.document("it")  # bounded: an answer is data, never a crash
                except InputError as exc:
                    raise InputError(f"the create_list response has no JSON body to read the list id "
                                     f"('{create.spec.list_id.path}') from: {exc}") from None
        return list_id_from_response(self.integration, created, body=body, headers=headers)

    # --- building --------------------------------------------------------------------
    def _auth_headers(self, endpoint: CompiledEndpoint, env: Mapping[str, Any]
                      ) -> tuple[list[tuple[str, str]], tuple[tuple[str, str], ...]]:
        """The header of the endpoint's auth (its own, else the definition's), and the masked
        entry of its derived credential, if any."""
        auth = self.integration.definition.auth_of(endpoint.spec)
        name = auth.header
        if name is None:
            return [], ()
        value = auth.value(env)
        if any(variable == name_ for _, variable in self.masked for name_ in auth.variables):
            # Built from sentinels, a derived form (base64) no longer shows them: it is
            # masked whole, as one credential (one per set of fields it is read from).
            tag = auth.method + (hashlib.sha256(auth.credential_name.encode()).hexdigest()[:8] if auth.fields else "")
            sentinel = _CREDENTIAL_SENTINEL.format(nonce=self._nonce, method=tag)
            for form in auth.derived(env):
                value = value.replace(form, sentinel)
            if sentinel in value:
                return [(name, value)], ((sentinel, auth.credential_name),)
        return [(name, value)], ()

    def _request(self, endpoint: CompiledEndpoint, extra: dict[str, Any], batch: Batch | None = None) -> Request:
        if self.cohort is None:
            raise InputError("no cohort: add cohort: {id: ..., name: ...} to the values file "
                             "(or amp_cohort_id and amp_cohort_name columns to the test CSV)")
        env = {**self.env, **self.context.per_request(), **extra}
        if "amp_message_id" in endpoint.names:  # hashing a batch costs; only when asked for
            env["amp_message_id"] = _message_id(self.name, env, endpoint.name, batch)
        try:
            url = endpoint.url.render(env)
            auth, credential = self._auth_headers(endpoint, env)
            # One pass (a header list is linear to build): Content-Type is always
            # application/json, as Amplitude sends it; a definition header replaces the auth
            # header of its name; the compiler already merged shared and endpoint headers.
            own = endpoint.header_names
            # Content-Type is application/json, as Amplitude sends it, unless the definition
            # names another JSON-family type (validate refuses any other type; render ignores it).
            content_type = [("Content-Type", JSON_CONTENT_TYPE)] if endpoint.payload is not None else []
            pairs = [(n, v) for n, v in auth if n.lower() not in own]
            for name, template in endpoint.headers:
                if name.lower() != "content-type":
                    pairs.append((name, template.render(env)))
                elif content_type and is_json_type(value := template.render(env)):
                    content_type = [(name, value)]
            headers = Headers(content_type + pairs)
            pieces = endpoint.payload.pieces(env) if endpoint.payload is not None else None
        except SubstitutionError as exc:
            raise InputError(str(exc)) from None
        parts: BodyParts | None = None
        try:
            if pieces is None:
                data = None
            elif any(isinstance(piece, Joined) for piece in pieces):
                parts = BodyParts(pieces)
                data = parts.data
            else:
                data = spell(pieces).encode("utf-8")
        except UnicodeEncodeError:
            for i in range(batch.size if batch else 0):  # find who brought the lone surrogate, to say so
                for name, value in batch.row(i).items():  # type: ignore[union-attr]
                    _check_text(value, f"user {batch.ref(i)}: ${name}")  # type: ignore[union-attr]
            raise InputError(f"{endpoint.name}: the request contains a lone surrogate, "
                             "which cannot be sent as UTF-8") from None
        masked = self.masked + tuple(c for c in credential if any(c[0] in v for _, v in headers))
        return Request(endpoint.method, url, headers, data, endpoint.name, batch.size if batch else 0, masked, parts)

    def fitted(self, operation: str, members: Members, list_id: str | int | None = None
               ) -> Iterator[tuple[int, int, Request]]:
        """(start, stop, request) for ``members`` split so that each request fits the endpoint's
        ``max_url_bytes`` (items in the URL) and ``max_body_bytes``: one request when it fits.
        Splitting by size happens here, before a request is made; each piece is one request."""
        endpoint = self.integration.batch_endpoint(operation)
        batch = self._members_batch(operation, members, endpoint)
        return self._fitted(endpoint, batch, self._list_id_for(endpoint, list_id))

    def _fitted(self, endpoint: CompiledEndpoint, batch: Batch, list_id: str | int | None,
                offset: int = 0) -> Iterator[tuple[int, int, Request]]:
        request = self._batch(endpoint, batch, list_id)
        too_big = self._oversize(endpoint, request)
        if too_big is None:
            yield offset, offset + batch.size, request
            return
        if batch.size == 1:
            raise InputError(f"{endpoint.name}: the request of user {batch.ref(0)} alone is {too_big}")
        half = batch.size // 2
        yield from self._fitted(endpoint, batch.slice(0, half), list_id, offset)
        yield from self._fitted(endpoint, batch.slice(half, batch.size), list_id, offset + half)

    @staticmethod
    def _oversize(endpoint: CompiledEndpoint, request: Request) -> str | None:
        spec = endpoint.spec
        if endpoint.items_in_url and len(request.url.encode("utf-8")) > spec.max_url_bytes:
            return f"{len(request.url.encode('utf-8')):,} bytes of URL, over max_url_bytes {spec.max_url_bytes:,}"
        if spec.max_body_bytes is not None and request.body is not None and len(request.body) > spec.max_body_bytes:
            return f"{len(request.body):,} bytes of body, over max_body_bytes {spec.max_body_bytes:,}"
        return None

    def _batch(self, endpoint: CompiledEndpoint, batch: Batch, list_id: str | int | None) -> Request:
        key = (endpoint.name, batch.operation)
        if key not in self._items:
            assert endpoint.item is not None  # the checks require an item template with $items
            per_batch = {**self.env, "amp_in_cohort": batch.operation == ADD, "amp_operation": batch.operation}
            try:
                self._items[key] = _ItemRenderer(endpoint.item.bind(per_batch), tuple(
                    (missing, template.bind(per_batch)) for missing, template in endpoint.item_without))
            except SubstitutionError as exc:
                raise InputError(str(exc)) from None
        transforms = {m.variable: m.transform for m in self.integration.definition.mapping_fields if m.transform}
        if transforms:  # each user's value as the destination wants it; identity is untouched
            batch = Batch(batch.operation, {name: apply_all(transforms[name], column) if name in transforms else column
                                            for name, column in batch.columns.items()}, batch.size, batch.refs)
        renderer = self._items[key]
        pieces = renderer.render(batch)
        extra: dict[str, Any] = {"items": RawJSON(pieces)}
        if endpoint.items_in_url:  # each item's text percent-encoded, joined by the separator
            extra["items"] = Encoded(endpoint.spec.items_separator.join(
                quote(text, safe="") for text in renderer.texts(batch)))
        if batch.size == 1:  # a per-user endpoint: the one item as $item, the user's values in the URL
            extra["item"] = RawJSON(pieces[1:-1])
            extra.update((name, value) for name, value in batch.row(0).items() if name in endpoint.url.names)
        if list_id is not None:
            extra["list_id"] = list_id
        return self._request(endpoint, extra, batch)


def render(integration: CompiledDefinition, values: Values, users: Iterable[UserInput] = (), *,
           endpoint: str | None = None, list_id: str | int | None = None, response: Any = None,
           context: MacroContext | None = None, mask_secrets: bool = False) -> Iterator[Request]:
    """Render the requests of a sync (or of one ``endpoint``): :meth:`BoundIntegration.requests`
    of a binding that reveals secrets unless ``mask_secrets``. With ``mask_secrets`` the auth
    variables and ``secret: true`` fields are replaced by sentinels wherever they land,
    recorded in ``Request.masked``."""
    bound = BoundIntegration(integration, values, context=context, reveal_secrets=not mask_secrets)
    yield from bound.requests(users, list_id=list_id, response=response, endpoint=endpoint)


def _cohort(given: Cohort | None, users: Iterable[UserInput]) -> Cohort:
    """The cohort from the values file and the test CSV's cohort columns, field by field."""
    from_users = users.cohort if isinstance(users, UserSource) else None
    merged: dict[str, str] = {}
    for key in ("id", "name", "url"):
        mine = getattr(given, key, "") if given else ""
        theirs = getattr(from_users, key, "") if from_users else ""
        if mine and theirs and mine != theirs:
            raise InputError(f"the cohort {key} is {mine!r} in the values file but {theirs!r} in the users file")
        merged[key] = mine or theirs
    missing = [key for key in ("id", "name") if not merged[key]]
    if missing:
        what = "no cohort" if len(missing) == 2 else f"the cohort has no {missing[0]}"
        raise InputError(f"{what}: add cohort: {{id: ..., name: ...}} to the values file "
                         "(or amp_cohort_id and amp_cohort_name columns to the test CSV)")
    return Cohort(**merged)


def _check_text(value: Any, what: str) -> None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InputError(f"{what} contains a lone surrogate (U+{ord(value[exc.start]):04X}), "
                             "which cannot be sent as UTF-8") from None
    elif isinstance(value, (list, tuple)):  # a JSON lines property can be an array or an object
        for item in value:
            _check_text(item, what)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, what)
            _check_text(item, what)


def list_id_from_response(integration: CompiledDefinition, created: Request | None, *, body: Any = None,
                          headers: Any = ()) -> str | int:
    """The list id, read through the definition's ``list_id``: from the create_list response's
    JSON ``body`` or its ``headers`` (a mapping or pairs), or from the ``created`` request's body.
    Raises :class:`InputError` saying what was looked for and why it was not found."""
    create = integration.endpoint("create_list")
    if create is None or create.spec.list_id is None:
        raise InputError(f"{integration.name} has no create_list endpoint, so no list id")
    spec = create.spec.list_id
    if spec.source == "response_header":
        value = Headers(headers).get(spec.path)  # a mapping or (name, value) pairs
        if value is None:
            raise InputError(f"the create_list response has no header '{spec.path}' holding the list id")
        return checked_list_id(value)
    if spec.source == "request_body":
        body = json.loads(created.text or "null") if created is not None else None
    if body is None:
        # find_list_id(path, None) only checks the path and answers "": a response that is not
        # JSON (or is null) must not become an empty list id.
        where = "create_list request" if spec.source == "request_body" else "create_list response"
        raise InputError(f"the {where} has no JSON body to read the list id ('{spec.path}') from")
    try:
        return checked_list_id(find_list_id(spec.path, body))
    except JSONPathError as exc:
        raise InputError(f"cannot find the list id: {exc}") from None


MAX_LIST_ID = 1024  # characters: an id, not a document


def checked_list_id(value: Any) -> str | int:
    """A list id fit to store and send: a non-empty string of at most :data:`MAX_LIST_ID`
    characters, or a finite integer (``12.0`` is ``12``). Anything else would wedge every
    later sync (an empty id), or break a JSON report (NaN), so it is refused here, once."""
    if isinstance(value, bool):
        raise InputError(f"the list id is {json.dumps(value)}, not a string or an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return int(value)
        raise InputError(f"the list id is {value!r}, not a finite integer")
    if isinstance(value, str):
        if not value.strip():
            raise InputError("the list id is empty")
        if len(value) > MAX_LIST_ID:
            raise InputError(f"the list id is {len(value):,} characters long (at most {MAX_LIST_ID:,})")
        return value
    raise InputError(f"the list id is a {type(value).__name__}, not a string or an integer")


_MESSAGE_NAMESPACE = uuid.UUID("6f1c3a52-4be1-4c8e-9a53-6d2f0f1e7a10")


def _message_id(integration: str, env: dict[str, Any], endpoint: str, batch: Batch | None) -> str:
    """A UUID from what the request carries: the same batch gets the same id on every retry
    and every re-run, so the destination can de-duplicate an at-least-once delivery."""
    digest = hashlib.sha256()
    for part in (integration, str(env.get("amp_cohort_id")), str(env.get("list_id", "")), endpoint,
                 batch.operation if batch else ""):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    if batch is not None:
        for name in sorted(batch.columns):
            digest.update("\0".join(map(str, batch.columns[name])).encode("utf-8", "surrogatepass") + b"\1")
    return str(uuid.uuid5(_MESSAGE_NAMESPACE, digest.hexdigest()))


class _ItemRenderer:
    """Renders the ``$items`` array of a batch from an item template whose constant slots are
    already bound, leaving only the per-user (mapping) variables.

    The common shape — one variable filling a whole JSON string (``"$user_id_field_amplitude"``,
    or ``"userId": "$…"`` inside a Segment identify) — takes a fast path, no Python code per
    user: ids with nothing to escape are kept as one :class:`~portalspec.spliced.Joined` block
    apart from the item around them (which also decides what "nothing to escape" is); others go
    through the C JSON string encoder and one ``join``.
    """

    def __init__(self, template: Template, without: tuple[tuple[frozenset[str], Template], ...] = ()):
        self.template = template
        self.without = dict(without)  # missing optional identifiers -> the item without their members
        self.optional = frozenset().union(*self.without)
        slots = [p for p in template.parts if isinstance(p, Slot)]
        self.fast: tuple[str, str, str] | None = None
        if len(slots) == 1 and not self.optional:
            slot = slots[0]
            i = template.parts.index(slot)
            before = "".join(p for p in template.parts[:i] if isinstance(p, str))
            after = "".join(p for p in template.parts[i + 1:] if isinstance(p, str))
            if slot.position is Position.JSON_STRING and before.endswith('"') and after.startswith('"'):
                self.fast = (slot.name, before[:-1], after[1:])
            elif slot.position is Position.JSON_VALUE:
                self.fast = (slot.name, before, after)  # strings only; other types go the slow way

    def texts(self, batch: Batch) -> list[str]:
        """Each user's rendered item (for items that are text, in a URL)."""
        return [self._template_for(batch.row(i)).render(batch.row(i)) for i in range(batch.size)]

    def _template_for(self, row: Mapping[str, Any]) -> Template:
        if self.optional:
            missing = frozenset(name for name in self.optional if row.get(name) in (None, ""))
            if missing:
                return self.without.get(missing, self.template)
        return self.template

    def render(self, batch: Batch) -> list[Piece]:
        """The JSON array of the batch's items, as pieces to splice into the payload."""
        if not batch.size:
            return ["[]"]
        if self.fast is not None:
            name, before, after = self.fast
            values = batch.columns[name]
            # The values kept apart from the item around them, so that the body and its JSON
            # spelling are each one replace (see spliced.py), for values with nothing to escape.
            joined_parts = Joined.of(values, '"' + after + "," + before + '"')
            if joined_parts is not None:
                return ["[", before, '"', joined_parts, '"', after, "]"]
            try:  # ids JSON must escape: the C encoder, mapped over them
                joined = (after + "," + before).join(map(_c_encode, values))
            except TypeError:
                pass  # a value that is not a string: the general path encodes it by type
            else:
                if "\u2028" in joined or "\u2029" in joined:
                    joined = joined.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
                return ["[", before, joined, after, "]"]
        rendered = []
        for i in range(batch.size):
            row = batch.row(i)
            try:
                rendered.append(self._template_for(row).render(row))
            except SubstitutionError as exc:
                raise InputError(f"user {batch.ref(i)}: {exc}") from None
        return ["[", ",".join(rendered), "]"]

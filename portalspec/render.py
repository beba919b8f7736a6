"""Stage 4, rendering: an Integration + values + users → :class:`Request` values. Pure: no I/O;
the clock and randomness come only through :class:`MacroContext`.

Order: create_list (list-based), then every entering batch, then every leaving batch (the
same for property-based). A batch never mixes entering and leaving users, holds at most
``batch_size`` items in input order, and the union of all batches is exactly the input.
Users stream through: entering users are rendered batch by batch as they are read; leaving
users are held (they are sent last) — memory is the leaving users plus a batch.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from typing import Any, Iterable, Iterator

from .batching import Batch, UserInput, batches
from .compiler import CompiledEndpoint, Integration
from .diagnostics import InputError
from .inputs import UserSource
from .jsonpath import JSONPathError, find_list_id
from .macros import MacroContext, slugify
from .request import Request
from .template import Position, RawJSON, Slot, SubstitutionError, Template, encode_header
from .values import ADD, REMOVE, Cohort, Values, resolve_fields

JSON_CONTENT_TYPE = "application/json"
_c_encode = json.encoder.encode_basestring  # type: ignore[attr-defined]
_SENTINEL = "pssecret{:02d}q9z"  # survives every encoder unchanged: lowercase letters and digits
# Basic auth base64-encodes its secrets, which would hide their sentinels: masked, the whole
# credential is one sentinel of its own.
_BASIC_SENTINEL = "pssecretbasicq9z"


def render(integration: Integration, values: Values, users: Iterable[UserInput] = (), *,
           endpoint: str | None = None, list_id: str | int | None = None, response: Any = None,
           context: MacroContext | None = None, mask_secrets: bool = False) -> Iterator[Request]:
    """Render the requests of a sync (or of one ``endpoint``).

    ``list_id`` comes from, in order: the argument, ``values.list_id``, ``response`` (a
    create_list response body — or headers, for ``list_id.from: response_header``) read
    through the definition's ``list_id``, and the definition's ``example_response``.
    With ``mask_secrets`` the auth variables and ``secret: true`` fields are replaced by
    sentinels wherever they land, recorded in ``Request.masked``.
    """
    definition = integration.definition
    if endpoint is not None and integration.endpoint(endpoint) is None:
        raise InputError(f"{definition.name} has no endpoint '{endpoint}' "
                         f"(it has {', '.join(e.name for e in integration.endpoints)})")
    context = context or MacroContext()
    env = resolve_fields(definition, values)
    masked: list[tuple[str, str]] = []
    if mask_secrets:
        for name in sorted(definition.secret_variables & env.keys()):
            if env[name] != "":
                masked.append((_SENTINEL.format(len(masked)), name))
                env[name] = masked[-1][0]
    cohort = _cohort(values, users)
    env.update(amp_cohort_name=cohort.name, amp_cohort_id=cohort.id, amp_cohort_url=cohort.url,
               amplitude_cohort_name=slugify(cohort.name))
    env.update(context.constants())
    for name, value in env.items():
        _check_text(value, f"${name}")
    builder = _Builder(integration, env, context, tuple(masked))

    create = integration.endpoint("create_list")
    created: Request | None = None
    if create is not None and endpoint in (None, "create_list"):
        created = builder.request(create, {})
        yield created
    if endpoint == "create_list":
        return
    if definition.type == "list":
        env["list_id"] = _list_id(integration, values, list_id, response, created, builder)
        _check_text(env["list_id"], "$list_id")
    wanted = frozenset({ADD, REMOVE})
    if endpoint in ("add_users", "remove_users"):
        wanted = frozenset({ADD if endpoint == "add_users" else REMOVE})
    sizes = {op: integration.batch_endpoint(op).batch_size for op in (ADD, REMOVE)}
    variables = [m.variable for m in definition.mapping_fields]
    for batch in batches(users, sizes, variables, wanted):
        yield builder.batch(integration.batch_endpoint(batch.operation), batch)


def _cohort(values: Values, users: Iterable[UserInput]) -> Cohort:
    """The cohort from the values file and the test CSV's cohort columns, field by field."""
    from_users = users.cohort if isinstance(users, UserSource) else None
    merged: dict[str, str] = {}
    for key in ("id", "name", "url"):
        mine = getattr(values.cohort, key, "") if values.cohort else ""
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


def _list_id(integration: Integration, values: Values, given: str | int | None, response: Any,
             created: Request | None, builder: "_Builder") -> str | int:
    if given is not None:
        return given
    if values.list_id is not None:
        return values.list_id
    create = integration.endpoint("create_list")
    assert create is not None and create.spec.list_id is not None
    if create.spec.list_id.source == "request_body":
        return list_id_from_response(integration, created or builder.request(create, {}))
    document = response if response is not None else create.spec.example_response
    if document is None:
        raise InputError("no list id: pass --list-id, set list_id in the values file, or give a "
                         "create_list response (--response, or example_response in the definition)")
    if create.spec.list_id.source == "response_header":
        return list_id_from_response(integration, created, headers=document)  # a mapping or (name, value) pairs
    return list_id_from_response(integration, created, body=document)


def list_id_from_response(integration: Integration, created: Request | None, *, body: Any = None,
                          headers: Any = ()) -> str | int:
    """The list id, read through the definition's ``list_id``: from the create_list response's
    JSON ``body`` or its ``headers`` (a mapping or pairs), or from the ``created`` request's body.
    Raises :class:`InputError` saying what was looked for and why it was not found."""
    create = integration.endpoint("create_list")
    if create is None or create.spec.list_id is None:
        raise InputError(f"{integration.name} has no create_list endpoint, so no list id")
    spec = create.spec.list_id
    if spec.source == "response_header":
        pairs = headers.items() if isinstance(headers, dict) else headers
        found = {str(k).lower(): v for k, v in pairs}
        if spec.path.lower() not in found:
            raise InputError(f"the create_list response has no header '{spec.path}' holding the list id")
        return str(found[spec.path.lower()])
    if spec.source == "request_body":
        body = json.loads(created.text or "null") if created is not None else None
    if body is None:
        # find_list_id(path, None) only checks the path and answers "": a response that is not
        # JSON (or is null) must not become an empty list id.
        where = "create_list request" if spec.source == "request_body" else "create_list response"
        raise InputError(f"the {where} has no JSON body to read the list id ('{spec.path}') from")
    try:
        return find_list_id(spec.path, body)
    except JSONPathError as exc:
        raise InputError(f"cannot find the list id: {exc}") from None


class _Builder:
    """Builds requests for one render: the environment is fixed, macros advance per request."""

    def __init__(self, integration: Integration, env: dict[str, Any], context: MacroContext,
                 masked: tuple[tuple[str, str], ...]):
        self.integration = integration
        self.env = env
        self.context = context
        self.masked = masked
        self._items: dict[tuple[str, str], _ItemRenderer] = {}

    def _auth_headers(self, env: dict[str, Any]) -> list[tuple[str, str]]:
        auth = self.integration.definition.auth
        if auth.method == "bearer":
            return [("Authorization", "Bearer " + _header_value(env["bearer_token"], "$bearer_token", "Authorization"))]
        if auth.method == "header":
            return [(auth.header_name or "", _header_value(env["api_key"], "$api_key", auth.header_name or ""))]
        if auth.method == "basic":
            user, password = env["api_key"], env.get("secret_key", "")
            if any(value == sentinel for sentinel, _ in self.masked for value in (user, password)):
                return [("Authorization", "Basic " + _BASIC_SENTINEL)]
            pair = f"{user}:{password}".encode("utf-8")
            return [("Authorization", "Basic " + base64.b64encode(pair).decode("ascii"))]
        return []

    def request(self, endpoint: CompiledEndpoint, extra: dict[str, Any], batch: Batch | None = None) -> Request:
        env = {**self.env, **self.context.per_request(), **extra}
        if "amp_message_id" in endpoint.names:  # hashing a batch costs; only when asked for
            env["amp_message_id"] = _message_id(self.integration.name, env, endpoint.name, batch)
        try:
            url = endpoint.url.render(env)
            headers = [("Content-Type", JSON_CONTENT_TYPE)] + self._auth_headers(env)
            for name, template in endpoint.headers:
                if name.lower() == "content-type":
                    continue  # always application/json, as Amplitude sends it
                headers = [(n, v) for n, v in headers if n.lower() != name.lower()]
                headers.append((name, template.render(env)))
            body = "".join(endpoint.payload.pieces(env))
        except SubstitutionError as exc:
            raise InputError(str(exc)) from None
        try:
            data = body.encode("utf-8")
        except UnicodeEncodeError:
            for i in range(batch.size if batch else 0):  # find who brought the lone surrogate, to say so
                for name, value in batch.row(i).items():
                    _check_text(value, f"user {batch.ref(i)}: ${name}")
            raise InputError(f"{endpoint.name}: the request contains a lone surrogate, "
                             "which cannot be sent as UTF-8") from None
        masked = self.masked + ((_BASIC_SENTINEL, "basic_credentials"),) * any(
            _BASIC_SENTINEL in v for _, v in headers)
        return Request(endpoint.method, url, tuple(headers), data, endpoint.name,
                       batch.size if batch else 0, masked)

    def batch(self, endpoint: CompiledEndpoint, batch: Batch) -> Request:
        key = (endpoint.name, batch.operation)
        if key not in self._items:
            assert endpoint.item is not None  # the checks require an item template with $items
            per_batch = {"amp_in_cohort": batch.operation == ADD, "amp_operation": batch.operation}
            try:
                self._items[key] = _ItemRenderer(endpoint.item.bind({**self.env, **per_batch}))
            except SubstitutionError as exc:
                raise InputError(str(exc)) from None
        return self.request(endpoint, {"items": RawJSON(self._items[key].render(batch))}, batch)


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


def _header_value(value: Any, what: str, header: str) -> str:
    try:
        return encode_header(value)
    except SubstitutionError as exc:
        raise InputError(f"{what} in the auth header {header}: {exc}") from None


class _ItemRenderer:
    """Renders the ``$items`` array of a batch from an item template whose constant slots are
    already bound, leaving only the per-user (mapping) variables.

    The common shape — one variable filling a whole JSON string (``"$user_id_field_amplitude"``,
    or ``"userId": "$…"`` inside a Segment identify) — takes a fast path: the C JSON string
    encoder mapped over the ids and one ``join``, no Python code per user.
    """

    def __init__(self, template: Template):
        self.template = template
        slots = [p for p in template.parts if isinstance(p, Slot)]
        self.fast: tuple[str, str, str] | None = None
        if len(slots) == 1:
            slot = slots[0]
            i = template.parts.index(slot)
            before = "".join(p for p in template.parts[:i] if isinstance(p, str))
            after = "".join(p for p in template.parts[i + 1:] if isinstance(p, str))
            if slot.position is Position.JSON_STRING and before.endswith('"') and after.startswith('"'):
                self.fast = (slot.name, before[:-1], after[1:])
            elif slot.position is Position.JSON_VALUE:
                self.fast = (slot.name, before, after)  # strings only; other types go the slow way

    def render(self, batch: Batch) -> list[str]:
        """The JSON array of the batch's items, as pieces to splice into the payload."""
        if not batch.size:
            return ["[]"]
        if self.fast is not None:
            name, before, after = self.fast
            try:
                joined = (after + "," + before).join(map(_c_encode, batch.columns[name]))
            except TypeError:
                pass  # a value that is not a string: the general path encodes it by type
            else:
                if "\u2028" in joined or "\u2029" in joined:
                    joined = joined.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
                return ["[", before, joined, after, "]"]
        rendered = []
        for i in range(batch.size):
            try:
                rendered.append(self.template.render(batch.row(i)))
            except SubstitutionError as exc:
                raise InputError(f"user {batch.ref(i)}: {exc}") from None
        return ["[", ",".join(rendered), "]"]

"""The sync engine: what Amplitude does with a definition, run from a laptop or a scheduler.

1. Find (or create) the sync's state: integration + destination settings + cohort.
2. List-based, first sync: find the list (``find_list``, when the definition has one) or create
   it, read its id through ``list_id``, store it at once. A list that may exist is never
   created again: find_list is asked first; an answer that cannot tell stops the run before
   create_list; an ``exists_on`` answer to create_list asks find_list again.
3. Diff the cohort against the membership the destination is known to hold.
4. Deliver every entering batch, then every leaving batch, up to ``concurrency`` at a time,
   retrying connection errors, 429 and 5xx with backoff (Retry-After honoured).
5. Each delivered batch advances the stored membership in its own transaction.

Requests are built by the integration bound to the values (``Integration.bind``), one
request per batch, from the users' values as their source typed them: what sync sends is
what ``render`` shows for the same users. A member is its identity (the source's member
key), never a mapped value: see :mod:`portalspec.sync.diff`.

The promise: no user is lost. A batch counts as delivered only after a 2xx; anything else —
a final error, Ctrl-C, SIGKILL — leaves it owed, and the next run's diff sends it again
(at-least-once; ``$amp_message_id`` lets the destination de-duplicate). State is written only
by this coordinating thread; worker threads only send.

With ``auth: oauth2`` the access token is fetched once, before anything is sent (a token
endpoint that fails fails the run, with every user still owed), and refreshed once when a
request is refused with 401. Tokens live in memory only: never in state, errors or reports.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from ..diagnostics import InputError
from ..integration import Integration
from ..kinds import creates_list
from ..macros import MacroContext
from ..oauth2 import token_source
from ..ratelimit import RateLimits
from ..render import NOT_FOUND
from ..request import Request
from ..retry import RetryPolicy
from ..transport import Response, Transport, TransportError, classify
from ..values import ADD, REMOVE, Members, User, UserSource, Values
from .diff import Difference, Held, Row, Snapshot, adoptions, changes, fingerprints, member_key, row_of
from .sources import Membership, not_whole
from .state import IDENTITIES, Identities, State, StateError

NEW_LIST = "(created on first sync)"  # the list id a dry run shows before a list exists


@dataclass(frozen=True)
class SyncOptions:
    concurrency: int = 4
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    dry_run: bool = False
    # The removal guard: a run that would remove more than this share of the membership last
    # delivered is refused (a cohort file cut short looks exactly like that) — unless
    # allow_large_removal, and only when that membership had at least removal_guard_min users.
    max_removal_share: float = 0.5
    removal_guard_min: int = 1000
    allow_large_removal: bool = False
    deadline: float | None = None  # seconds for the whole run; None: no bound beyond each attempt's

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_removal_share <= 1.0:
            raise InputError(f"the largest share of removals is {self.max_removal_share}, not between 0 and 1")
        if self.deadline is not None and self.deadline <= 0:
            raise InputError("the run's deadline must be more than 0 seconds")


@dataclass(frozen=True)
class Progress:
    """A snapshot for progress displays, sent after every finished request."""

    requests_done: int
    requests_total: int
    users_done: int
    users_total: int
    retries: int
    failed_requests: int


@dataclass(frozen=True)
class EndpointPlan:
    requests: int = 0
    users: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class SyncReport:
    outcome: str  # succeeded | unchanged | failed | interrupted | dry-run
    cohort_id: str
    list_id: str | int | None
    created_list: bool
    entering: int
    leaving: int
    requests: int  # attempts: every request sent, retries included
    delivered: int  # users delivered
    undelivered: int  # users still owed (sent again next run)
    retries: int
    errors: tuple[str, ...] = ()
    plan: tuple[tuple[str, EndpointPlan], ...] = ()
    requests_ok: int = 0  # attempts answered with a 2xx
    requests_failed: int = 0  # attempts that were not (a failed answer, or no answer)
    stopped_by: str | None = None  # the bound that ended the run early: "deadline", "removal guard"
    warnings: tuple[str, ...] = ()  # worth knowing, but no failure (a rotated OAuth2 refresh token)

    @property
    def ok(self) -> bool:
        return self.outcome in ("succeeded", "unchanged", "dry-run")

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome, "cohort_id": self.cohort_id, "list_id": self.list_id,
            "created_list": self.created_list, "entering": self.entering, "leaving": self.leaving,
            "requests": self.requests, "requests_ok": self.requests_ok, "requests_failed": self.requests_failed,
            "delivered": self.delivered, "undelivered": self.undelivered,
            "retries": self.retries, "stopped_by": self.stopped_by, "errors": list(self.errors),
            "warnings": list(self.warnings),
            "plan": {name: p.__dict__ for name, p in self.plan},
        }


@dataclass(frozen=True)
class _Result:
    response: Response | None
    retries: int
    error: str | None  # why it was not delivered, secrets redacted
    attempts: int = 1  # requests sent (0 when the run stopped before sending)
    ok_attempts: int = 0


@dataclass
class _Delivery:
    """One run's delivery in progress: what is in flight and what has been counted."""

    sync_id: int
    diff: Difference
    counts: Counter[str]
    errors: list[str]
    total_users: int
    total_requests: int
    in_flight: dict[Future[_Result], tuple[str, Sequence[str], Sequence[Row] | Identities]] = field(default_factory=dict)


class Engine:
    def __init__(self, integration: Integration, values: Values, state: State, transport: Transport | None,
                 options: SyncOptions = SyncOptions(), progress: Callable[[Progress], None] | None = None,
                 context: MacroContext | None = None, wait: Callable[[float], bool] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.integration = integration
        self.values = values
        self.state = state
        self.transport = transport
        self.options = options
        self.progress = progress or (lambda p: None)
        self.context = context or MacroContext()
        # The one request builder, with the real secrets: these requests are sent.
        self.bound = integration.bind(values, context=self.context, reveal_secrets=True)
        self.tokens = token_source(integration.definition.auth, self.bound.fields, transport,
                                   name=integration.name) if transport is not None else None
        self.variables = [m.variable for m in integration.definition.mapping_fields]
        self._stop = threading.Event()
        # Waiting out a backoff returns True when the run is being stopped; injectable so
        # tests see the delays without spending them (and the clock, to see the deadline).
        self._wait = wait or self._stop.wait
        self._clock = clock
        self.rate_limits = RateLimits(integration.definition, clock)
        self._deadline: float | None = None
        self.stopped_by: str | None = None

    @property
    def cohort_id(self) -> str:
        if self.values.cohort is None:
            raise InputError("no cohort: add cohort: {id: ..., name: ...} to the values file")
        return self.values.cohort.id

    def redact(self, text: str) -> str:
        """``text`` with the values' secrets and every OAuth2 token of the run masked: for all
        that leaves the engine."""
        text = self.bound.masker(text)
        return self.tokens.redact(text) if self.tokens is not None else text

    def settings(self) -> dict[str, Any]:
        # A credential that rotates (a refresh token) does not tell destinations apart: a
        # rotated one must find the same list and membership.
        rotating = {v.name for v in self.integration.definition.auth.declared if v.rotates}
        return {"fields": {k: v for k, v in self.bound.fields.items() if k not in rotating},
                "mappings": dict(self.values.mappings), "base_url": getattr(self.transport, "base_url", None)}

    # --- the run --------------------------------------------------------------------
    def snapshot(self, members: Iterable[User | str]) -> Snapshot:
        """The cohort now, read whole before anything is sent: identity → values, in order.
        A plain string is an id of a plain list (one mapping variable, the id its value); a
        users file's source is read in column blocks."""
        variables = self.variables
        if isinstance(members, list) and len(variables) == 1 and set(map(type, members)) == {str}:
            return Snapshot(ids=members)  # plain ids, in C, the first of each kept
        if isinstance(members, (Membership, UserSource)):
            source, name = (members.source, members.name) if isinstance(members, Membership) else (members, "")
            return self._snapshot_of_blocks(source.blocks(), name)
        current: dict[str, Row] = {}
        for member in members:
            if isinstance(member, str):
                if len(variables) != 1:
                    raise InputError(f"a plain id list needs a definition with exactly one mapping variable "
                                     f"({self.integration.name} has {len(variables)}); use a cohort export CSV")
                current.setdefault(member, (member,))
                continue
            if member.operation != ADD:
                raise not_whole(member.ref or member.key, member.operation)
            try:
                row = tuple(member.values[v] for v in variables)
            except KeyError as exc:
                raise InputError(f"user {member.ref or member.key}: no value for ${exc.args[0]}") from None
            current.setdefault(member.key or member_key(row), row)
        return Snapshot(current)

    def _snapshot_of_blocks(self, blocks: Iterable[Members], name: str = "") -> Snapshot:
        """:meth:`snapshot` of a users file, a block at a time with no Python code per user: a
        block whose users are each their own one value (their identity) adds ids alone, as a
        plain list does; any other, its rows, unless an identity repeats (then the first is kept)."""
        variables = self.variables
        ids: list[str] | None = [] if len(variables) == 1 else None  # while every user is its own value
        current: dict[str, Row] = {}
        for block in blocks:
            if block.operation != ADD:
                raise not_whole(block.refs[0] if block.refs else "?", block.operation, name)
            try:
                columns = [block.columns[v] for v in variables]
            except KeyError as exc:
                raise InputError(f"{name or 'the users file'}: no value for ${exc.args[0]}") from None
            given = block.keys
            keys = list(given) if given is not None and "" not in given else None
            if ids is not None and keys is not None and list(columns[0]) == keys:
                ids.extend(keys)
                continue
            if ids is not None:  # from here on, values are kept beside identities
                current, ids = dict(zip(ids, zip(ids))), None
            rows = list(zip(*columns))
            if keys is None:  # a user without a key is known by its values, as one by one
                keys = [key or member_key(row) for key, row in zip(given or [""] * len(rows), rows)]
            if len(set(keys)) == len(keys) and current.keys().isdisjoint(keys):
                current.update(zip(keys, rows))
            else:
                for key, row in zip(keys, rows):
                    current.setdefault(key, row)
        return Snapshot(ids=ids) if ids is not None else Snapshot(current)

    def _held(self, sync_id: int | None, current: Snapshot, *, write: bool) -> dict[str, str | None]:
        """What the destination holds; legacy members found in the cohort get their identity
        (stored only when ``write``: a dry run changes nothing)."""
        held = self.state.membership(sync_id) if sync_id is not None else {}
        adopted = list(adoptions(current, held, len(self.variables)))
        if adopted:
            if write and sync_id is not None:
                self.state.adopt(sync_id, adopted)
            for old, new, vals in adopted:
                del held[old]
                held[new] = vals
        return held

    def run(self, members: Iterable[User | str]) -> SyncReport:
        current = self.snapshot(members)
        if self.options.dry_run:
            return self._plan(current)
        if self.transport is None:
            raise InputError("a sync that sends needs a transport")
        if self.options.deadline is not None:
            self._deadline = self._clock() + self.options.deadline
        self.state.lock()  # held until the state is closed
        record = self.state.sync_for(self.integration.name, self.settings(), self.cohort_id)
        run_id = self.state.start_run(record.id)
        counts: Counter[str] = Counter()
        errors: list[str] = []
        diff = Difference([], [])
        list_id, created = record.list_id, False
        outcome = "failed"
        try:
            held = self._held(record.id, current, write=True)
            diff = changes(current, held)
            refusal = self._refusal(diff, held)
            if refusal is not None:
                outcome, self.stopped_by = "refused", "removal guard"
                errors.append(refusal)
            elif diff.unchanged:
                outcome = "unchanged"
            elif not self._authorized(errors):
                outcome = "failed"
            else:
                if creates_list(self.integration.definition.type) and list_id is None:
                    list_id, created = self._find_or_create_list(counts, errors)
                    if list_id is not None:
                        self.state.set_list_id(record.id, list_id)  # stored before any user is sent
                if list_id is not None or not creates_list(self.integration.definition.type):
                    self._deliver(record.id, list_id, diff, current, held, counts, errors)
                outcome = "failed" if counts["delivered"] < len(diff.entering) + len(diff.leaving) else "succeeded"
        except KeyboardInterrupt:
            outcome = "interrupted"
            errors.append("interrupted; the undelivered users are sent by the next run")
            raise
        except StateError as exc:  # the disk is full, say: what was delivered but not stored is sent again
            outcome = "failed"
            errors.append(f"{exc}; the users not recorded as delivered are sent again by the next run")
        finally:
            report = self._finish(run_id, outcome, list_id, created, diff, counts, errors)
        return report

    def _refusal(self, diff: Difference, held: Held) -> str | None:
        """Why this run must not go ahead: it would remove an unusually large share of the
        membership last delivered. A cohort file cut short, an export of the wrong cohort or
        an empty file all look like that — and would cost real users."""
        options = self.options
        if options.allow_large_removal or len(held) < options.removal_guard_min or not held:
            return None
        share = len(diff.leaving) / len(held)
        if share <= options.max_removal_share:
            return None
        return (f"refused: this run would remove {len(diff.leaving):,} of the {len(held):,} users last delivered "
                f"({share:.0%}, more than --max-removal-share {options.max_removal_share:.0%}). A cohort file cut "
                "short or the wrong cohort looks like this; check the cohort file, then run again with "
                "--allow-large-removal if the removals are right. Nothing was sent.")

    def _finish(self, run_id: int, outcome: str, list_id: Any, created: bool, diff: Difference,
                counts: Counter[str], errors: list[str]) -> SyncReport:
        owed = len(diff.entering) + len(diff.leaving) - counts["delivered"]
        if self.stopped_by == "deadline":
            errors.append(f"the run's deadline ({self.options.deadline:g} s) ended it; "
                          f"{owed:,} user(s) are owed to the next run")
        try:
            self.state.finish_run(run_id, outcome, entering=len(diff.entering), leaving=len(diff.leaving),
                                  requests=counts["requests"], delivered=counts["delivered"],
                                  undelivered=owed, retries=counts["retries"], errors=errors)
        except StateError as exc:
            errors.append(str(exc))
        return SyncReport(outcome, self.cohort_id, list_id, created, len(diff.entering), len(diff.leaving),
                          counts["requests"], counts["delivered"], owed, counts["retries"], tuple(errors),
                          requests_ok=counts["requests_ok"], requests_failed=counts["requests"] - counts["requests_ok"],
                          stopped_by=self.stopped_by,
                          warnings=tuple(self.tokens.warnings) if self.tokens is not None else ())

    def _authorized(self, errors: list[str]) -> bool:
        """OAuth2: the access token, fetched once before anything is sent; False (and why, in
        ``errors``) when the token endpoint gives none: nothing is sent, every user stays owed."""
        if self.tokens is None:
            return True
        try:
            self.tokens.token()
        except TransportError as exc:
            errors.append(self.redact(f"{exc}; nothing was sent"))
            return False
        return True

    # --- finding or creating the list -----------------------------------------------
    def _find_or_create_list(self, counts: Counter[str], errors: list[str]) -> tuple[str | int | None, bool]:
        """(list id, created): the list find_list finds, else the one create_list makes. None
        when neither says: the users are then owed to the next run."""
        if self.integration.endpoint("find_list") is not None:
            known, found = self._find_list(counts, errors)
            if not known or found is not None:
                return found, False  # found; or unknown, and a list that may exist is not created again
        return self._create_list(counts, errors)

    def _find_list(self, counts: Counter[str], errors: list[str]) -> tuple[bool, str | int | None]:
        """(known, list id): known is False when the answer could not say whether the list exists."""
        result = self._send(self.bound.find_list())
        response = result.response
        not_found = response is not None and response.status == NOT_FOUND
        counts.update(retries=result.retries, requests=result.attempts,
                      requests_ok=result.ok_attempts + not_found)  # a 404 is an answer here: "there is none"
        if response is None or (result.error is not None and not not_found):
            errors.append(f"{result.error}; create_list is not sent while the list may exist")
            return False, None
        try:
            return True, self.bound.list_found(response)
        except InputError as exc:
            errors.append(self.redact(f"find_list: {exc}; create_list is not sent while the list may exist"))
            return False, None

    def _create_list(self, counts: Counter[str], errors: list[str]) -> tuple[str | int | None, bool]:
        request = self.bound.create_list()
        result = self._send(request)
        counts.update(retries=result.retries, requests=result.attempts, requests_ok=result.ok_attempts)
        if self.bound.list_exists(result.response):  # create_list.exists_on: the list it names is there
            return self.bound.list_id_from(created=request), False
        if self.bound.says_exists(result.response):  # an id the destination chose: find_list finds it
            assert result.response is not None
            known, found = self._find_list(counts, errors)
            if known and found is None:
                errors.append(f"create_list answered HTTP {result.response.status} (exists_on: the list exists), "
                              "but find_list does not find it; check find_list's url and list_id.path")
            return found, False
        if result.error is not None or result.response is None:
            errors.append(f"create_list: {result.error}")
            return None, False
        try:
            return self.bound.list_id_from(result.response, created=request), True
        except InputError as exc:
            errors.append(self.redact(f"create_list: {exc}; the response was HTTP {result.response.status}: "
                                      f"{result.response.excerpt(redact=self.redact)}"))
            return None, False

    # --- batches --------------------------------------------------------------------
    def _requests(self, list_id: Any, diff: Difference, current: Snapshot, held: Held
                  ) -> Iterator[tuple[str, Sequence[str], Sequence[Row] | Identities, Request]]:
        """(operation, identities, values, request) for every batch: entering first, then
        leaving, each batch exactly one request. Lazy, so only the batches in flight are ever
        rendered and held."""
        for operation, keys in ((ADD, diff.entering), (REMOVE, diff.leaving)):
            size = self.integration.batch_endpoint(operation).batch_size
            for start in range(0, len(keys), size):
                chunk = keys[start:start + size]
                rows, columns = self._batch_values(operation, chunk, current, held)
                # One request per piece: a batch over the endpoint's max_url_bytes/max_body_bytes
                # is split here, before it is sent, and each piece is recorded on its own.
                for a, b, request in self.bound.fitted(operation, Members(operation, columns), list_id):
                    yield operation, chunk[a:b], rows if isinstance(rows, Identities) else rows[a:b], request

    def _batch_values(self, operation: str, chunk: list[str], current: Snapshot, held: Held
                      ) -> tuple[Sequence[Row] | Identities, dict[str, Sequence[Any]]]:
        """A batch's rows as the state records them, and its values column-wise. Users who are
        each their own one value (a plain list's, an export's mapped by user_id, members held
        as such) are IDENTITIES: no row is built, and the state stores them once."""
        variables, width = self.variables, len(self.variables)
        if width == 1 and (current.plain if operation == ADD
                           else list(map(held.__getitem__, chunk)).count(None) == len(chunk)):
            return IDENTITIES, {variables[0]: chunk}
        rows = current.rows(chunk) if operation == ADD else [row_of(k, held[k], width) for k in chunk]
        columns: dict[str, Sequence[Any]] = {v: list(map(itemgetter(i), rows)) for i, v in enumerate(variables)}
        if width == 1 and operation == ADD and columns[variables[0]] == chunk:
            return IDENTITIES, columns
        return rows, columns

    def _deliver(self, sync_id: int, list_id: Any, diff: Difference, current: Snapshot, held: Held,
                 counts: Counter[str], errors: list[str]) -> None:
        sizes = {op: self.integration.batch_endpoint(op).batch_size for op in (ADD, REMOVE)}
        run = _Delivery(sync_id, diff, counts, errors, total_users=len(diff.entering) + len(diff.leaving),
                        total_requests=sum(-(-len(keys) // sizes[op])
                                           for op, keys in ((ADD, diff.entering), (REMOVE, diff.leaving))))
        limit = max(1, self.options.concurrency)
        pool = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="portalspec-sync")
        try:
            for operation, keys, rows, request in self._requests(list_id, diff, current, held):
                while len(run.in_flight) >= limit:
                    self._collect(run)
                if self._past_deadline():
                    break  # what is not sent stays owed; what is in flight finishes within its timeout
                run.in_flight[pool.submit(self._send, request)] = (operation, keys, rows)
            while run.in_flight:
                self._collect(run)
        except BaseException:
            self._stop.set()  # wake workers sleeping in a backoff; their batches stay owed
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()

    def _collect(self, run: "_Delivery") -> None:
        """Wait for a request to finish and record it (here, in the coordinating thread only)."""
        done, _ = wait(run.in_flight, return_when=FIRST_COMPLETED)
        counts = run.counts
        for future in done:
            operation, keys, rows = run.in_flight.pop(future)
            result = future.result()
            counts.update(retries=result.retries, requests=result.attempts, requests_ok=result.ok_attempts)
            if result.error is None:
                # Only now, after a 2xx, does the stored membership move.
                if operation == ADD:
                    vals = rows if isinstance(rows, Identities) else fingerprints(rows)
                    self.state.record_changes(run.sync_id, keys, vals)
                else:
                    self.state.record_changes(run.sync_id, removed=keys)
                counts["batches"] += 1
                counts["delivered"] += len(keys)
            else:
                counts["failed_requests"] += 1
                counts["undelivered"] += len(keys)
                run.errors.append(result.error)
            self.progress(Progress(counts["batches"] + counts["failed_requests"], run.total_requests,
                                   counts["delivered"] + counts["undelivered"], run.total_users, counts["retries"],
                                   counts["failed_requests"]))

    def _past_deadline(self) -> bool:
        if self._deadline is not None and self._clock() >= self._deadline:
            self.stopped_by = "deadline"
            self._stop.set()  # wake workers waiting out a backoff
        return self._stop.is_set()

    def _send(self, request: Request) -> _Result:
        """Send with Amplitude's retry rule. Runs in worker threads: touches no state."""
        assert self.transport is not None
        policy, retries, attempts = self.options.retry, 0, 0
        spec = self.integration.endpoint(request.endpoint)
        errors_table = spec.spec.errors if spec else ()

        def given_up(why: str) -> _Result:
            tries = f" after {retries} retr{'y' if retries == 1 else 'ies'}" if retries else ""
            return _Result(response, retries, self.redact(f"{request.endpoint} ({request.items} users){tries}: {why}"),
                           attempts)

        while True:
            response: Response | None = None
            if self._past_deadline():
                return given_up("not sent: the run was stopped" if self.stopped_by is None
                                else "not sent: the run's deadline passed")
            pause = self.rate_limits.take(request.endpoint)  # the definition's rate_limit
            if pause and (self._wait(pause) or self._past_deadline()):
                return given_up("not sent: the run was stopped while holding to the rate limit")
            attempts += 1
            try:
                response = self.transport.send(request, self.tokens)
                verdict = classify(response, errors_table)
                if verdict.ok:
                    return _Result(response, retries, None, attempts, 1)
                retryable = verdict.retryable
                why = f"HTTP {response.status} {verdict.reason}" + (f": {verdict.message}" if verdict.message else "") \
                    + f" — {response.excerpt(160, redact=self.redact)}"
            except TransportError as exc:
                retryable, why = exc.retryable, str(exc)
            if not retryable or not policy.should_retry(retries) or self._stop.is_set():
                return given_up(why)
            retry_after = response.retry_after if response is not None else None
            if not policy.honours(retry_after):
                return given_up(f"{why} (it asked to wait {retry_after:g} s, Retry-After, more than the "
                                f"{policy.max_retry_after:g} s portalspec waits: its users are owed to the next run)")
            retries += 1
            delay = policy.delay(retries, retry_after)
            if self._deadline is not None:
                delay = min(delay, max(0.0, self._deadline - self._clock()))
            if self._wait(delay) or self._past_deadline():  # stopped while backing off
                return given_up("the run's deadline passed while waiting to retry" if self.stopped_by == "deadline"
                                else "interrupted")

    # --- dry run --------------------------------------------------------------------
    def _plan(self, current: Snapshot) -> SyncReport:
        record = self.state.find_sync(self.integration.name, self.settings(), self.cohort_id)
        held = self._held(record.id if record else None, current, write=False)
        list_id = record.list_id if record else None
        plan: dict[str, Counter[str]] = {}
        if creates_list(self.integration.definition.type) and list_id is None:
            if self.integration.endpoint("find_list") is not None:  # looked for first; created if not found
                plan["find_list"] = Counter(requests=1, bytes=0)
            request = self.bound.create_list()
            plan["create_list"] = Counter(requests=1, bytes=len(request.body or b""))
        diff = changes(current, held)
        for _, keys, _, request in self._requests(list_id if list_id is not None else NEW_LIST, diff, current, held):
            entry = plan.setdefault(request.endpoint, Counter())
            entry.update(requests=1, users=len(keys), bytes=len(request.body or b""))
        refusal = self._refusal(diff, held)
        return SyncReport("dry-run", self.cohort_id, list_id, False, len(diff.entering), len(diff.leaving),
                          0, 0, len(diff.entering) + len(diff.leaving), 0,
                          errors=(f"a run would be {refusal}",) if refusal else (),
                          plan=tuple((name, EndpointPlan(c["requests"], c["users"], c["bytes"]))
                                     for name, c in plan.items()),
                          stopped_by="removal guard" if refusal else None)


def sync(integration: Integration, values: Values, members: Iterable[User | str], *, state: State,
         transport: Transport | None, options: SyncOptions = SyncOptions(),
         progress: Callable[[Progress], None] | None = None, context: MacroContext | None = None,
         wait: Callable[[float], bool] | None = None, clock: Callable[[], float] = time.monotonic) -> SyncReport:
    """Run one sync of ``members`` — the whole cohort: :class:`~portalspec.User` s as a users
    file's reader gives them (identity in ``key``, typed values), or plain ids — and report it."""
    return Engine(integration, values, state, transport, options, progress, context, wait, clock).run(members)

"""The portal's Testing tab, as a library: send create_list, read the list id from its
response, then send the add and remove batches (or the update batches), and report what
happened — a value (:class:`EndpointTestReport`) that shows itself as text or as JSON.
A definition with find_list is looked up first, as a sync does: a list found is used (create_list
is not sent), and an ``exists_on`` answer to create_list asks find_list again.

Like the Testing tab it shows rather than recovers: nothing is retried, a failed batch does
not stop the next one, and when create_list yields no list id the batches are not sent (they
would need it). Responses are classified with each endpoint's ``errors:`` table, so a
matching row's friendly message is what the report says. Secrets never reach the report.

With ``auth: oauth2`` the access token is fetched first, shown as its own step (``token``),
and refreshed once if a request is refused with 401; a provider that rotates refresh tokens
is reported as a warning. No token ever reaches the report.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable

from .diagnostics import InputError, excerpt
from .integration import Integration
from .kinds import BATCH_ENDPOINTS
from .macros import MacroContext
from .oauth2 import TOKEN_ENDPOINT, TokenError, TokenSource, token_source
from .render import NOT_FOUND, BoundIntegration
from .request import Request
from .transport import Response, Transport, TransportError, classify, rebase
from .values import UserSource, Values

_FINDS_LISTS = ("find_list", "create_list")  # the steps that yield a list id, not carry users
EXCERPT = 200
FULL_BODY = 2000  # how much of a response is shown when the list id could not be read from it


@dataclass(frozen=True)
class StepResult:
    """One request of the test: what was sent and what came back."""

    endpoint: str
    method: str
    url: str  # as sent (after --base-url), secrets masked; "" when not sent
    users: int  # users in the batch (0 for create_list)
    sent: bool
    ok: bool
    status: int | None = None
    elapsed: float | None = None  # seconds
    reason: str = ""  # "OK", the errors table's reason or a generic one, "connection failed", "not sent"
    message: str | None = None  # the definition's friendly message, or what went wrong
    excerpt: str = ""  # the response body, short, secrets masked
    list_id: str | int | None = None  # create_list: the id extracted
    response_body: str | None = None  # create_list: the body the id was not found in
    retry_after: float | None = None  # seconds, when the response said Retry-After

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint, "method": self.method, "url": self.url, "users": self.users,
            "sent": self.sent, "ok": self.ok, "status": self.status,
            "elapsed_ms": None if self.elapsed is None else round(self.elapsed * 1000, 1),
            "reason": self.reason, "message": self.message, "excerpt": self.excerpt,
            "retry_after": self.retry_after,
            **({"list_id": self.list_id} if self.endpoint in _FINDS_LISTS else {}),
            **({"response_body": self.response_body} if self.response_body is not None else {}),
        }

    def to_text(self) -> list[str]:
        mark = ("ok  " if self.sent else "skip") if self.ok else ("--  " if not self.sent else "FAIL")
        what = f"{self.method} {self.url}" if self.sent else "not sent"
        batch = self.endpoint not in (*_FINDS_LISTS, TOKEN_ENDPOINT) and self.sent
        users = f"  ({self.users} user{'s' * (self.users != 1)})" if batch else ""
        lines = [f"[{mark}] {self.endpoint:<13} {what}{users}"]
        if not self.sent:
            lines.append(f"         {self.message}")
            return lines
        if self.status is None:
            lines.append(f"         {self.reason}: {self.message}")
            return lines
        took = f" in {self.elapsed * 1000:.0f} ms" if self.elapsed is not None else ""
        wait = f" (Retry-After: {self.retry_after:g} s)" if self.retry_after is not None else ""
        head = f"         {self.status} {self.reason}{took}{wait}"
        lines.append(head + (f": {self.message}" if self.message else ""))
        if self.excerpt:
            lines.append(f"         response: {self.excerpt}")
        if self.endpoint in _FINDS_LISTS and self.list_id is not None:
            lines.append(f"         $list_id = {self.list_id!r}" if isinstance(self.list_id, str)
                         else f"         $list_id = {self.list_id}")
        if self.response_body is not None and self.response_body != self.excerpt:
            lines.append(f"         whole response: {self.response_body}")
        return lines


@dataclass(frozen=True)
class EndpointTestReport:
    integration: str
    base_url: str | None
    steps: tuple[StepResult, ...]
    list_id: str | int | None = None
    warnings: tuple[str, ...] = ()  # worth knowing, but no failure (a rotated refresh token)

    @property
    def passed(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)

    def summary(self) -> str:
        if not self.steps:
            return "FAILED: nothing was sent (the users file has no users)"
        sent = [s for s in self.steps if s.sent]
        failed = [s for s in sent if not s.ok]
        unsent = len(self.steps) - len(sent)
        if self.passed:
            return f"PASSED: {len(sent)} request{'s' * (len(sent) != 1)} succeeded"
        text = f"FAILED: {len(failed)} of {len(sent)} request{'s' * (len(sent) != 1)} failed"
        return text + (f", {unsent} not sent" if unsent else "")

    def to_dict(self) -> dict[str, Any]:
        return {"integration": self.integration, "base_url": self.base_url, "passed": self.passed,
                "list_id": self.list_id, "summary": self.summary(), "steps": [s.to_dict() for s in self.steps],
                "warnings": list(self.warnings)}

    def to_text(self) -> str:
        where = f" against {self.base_url}" if self.base_url else ""
        lines = [f"{self.integration}: endpoint test{where}"]
        for step in self.steps:
            lines.extend(step.to_text())
        lines.extend(f"warning: {warning}" for warning in self.warnings)
        lines.append(self.summary())
        return "\n".join(lines)


Redact = Callable[[str], str]


def _send(request: Request, transport: Transport, masker: Redact, integration: Integration,
          tokens: TokenSource | None) -> tuple[StepResult, Response | None]:
    endpoint = integration.endpoint(request.endpoint)
    errors = endpoint.spec.errors if endpoint is not None else ()
    url = masker(rebase(request.url, transport.base_url))
    base = StepResult(request.endpoint, request.method, url, request.items, sent=True, ok=False)
    try:
        response = transport.send(request, tokens)
    except TransportError as exc:
        return replace(base, reason=exc.reason, message=masker(str(exc))), None
    verdict = classify(response, errors)
    return replace(base, ok=verdict.ok, status=response.status, elapsed=response.elapsed, reason=verdict.reason,
                   message=verdict.message, excerpt=response.excerpt(EXCERPT, redact=masker),
                   retry_after=response.retry_after if not verdict.ok else None), response


def _read_list_id(bound: BoundIntegration, step: StepResult, request: Request, response: Response,
                  masker: Redact) -> StepResult:
    try:
        found = bound.list_id_from(response, created=request)  # an empty id is refused there
    except InputError as exc:
        return replace(step, ok=False, reason="no list id", message=masker(str(exc)),
                       response_body=excerpt(response.text, FULL_BODY, redact=masker, fold_space=False))
    return replace(step, list_id=found)


def _find_list(bound: BoundIntegration, transport: Transport, masker: Redact, integration: Integration,
               tokens: TokenSource | None) -> StepResult:
    """find_list, sent and read: ok with the list id when found, ok without one when there is
    none (a 404, or nothing at the path); not ok when the answer cannot say."""
    request = bound.find_list()
    step, response = _send(request, transport, masker, integration, tokens)
    if response is None or not (step.ok or response.status == NOT_FOUND):
        return step
    try:
        found = bound.list_found(response)
    except InputError as exc:
        return replace(step, ok=False, reason="no answer", message=masker(str(exc)),
                       response_body=excerpt(response.text, FULL_BODY, redact=masker, fold_space=False))
    if found is None:
        return replace(step, ok=True, message="no such list yet: create_list creates it")
    return replace(step, list_id=found, message="the list exists: it is used as it is")


def _not_sent(endpoint: str, method: str, why: str, ok: bool = False) -> StepResult:
    return StepResult(endpoint, method, "", 0, sent=False, ok=ok, reason="not sent", message=why)


def run_endpoint_test(integration: Integration, values: Values, users: Iterable[Any] = (), *,
                      transport: Transport, context: MacroContext | None = None) -> EndpointTestReport:
    """Send the test requests of ``integration`` through ``transport`` and report each.

    Raises :class:`InputError` when the values or users do not fit the definition (nothing is
    sent then, unless create_list already was); every network outcome is in the report.
    """
    definition = integration.definition
    users = users if isinstance(users, UserSource) else UserSource("", users)
    bound = integration.bind(values, context=context, reveal_secrets=True)
    tokens = token_source(definition.auth, bound.fields, transport, name=definition.name)

    def masker(text: str) -> str:  # the values' secrets, and every token the run has seen
        return tokens.redact(bound.masker(text)) if tokens is not None else bound.masker(text)

    steps: list[StepResult] = []
    list_id: str | int | None = None
    if tokens is not None:
        steps.append(_token_step(tokens, masker))
        if not steps[0].ok:
            steps += [_not_sent(e.name, e.method, "there is no OAuth2 access token to send it with")
                      for e in integration.endpoints]
            return EndpointTestReport(definition.name, transport.base_url, tuple(steps))

    def warnings() -> tuple[str, ...]:  # (a refresh during the test may bring one too)
        return tuple(tokens.warnings) if tokens is not None else ()

    create = integration.endpoint("create_list")
    if create is not None:
        cohort = bound.for_users(users)  # the test CSV may name the cohort
        looked = integration.endpoint("find_list") is not None
        if looked:
            steps.append(_find_list(cohort, transport, masker, integration, tokens))
            list_id = steps[-1].list_id
        if list_id is not None:
            steps.append(_not_sent("create_list", create.method, "find_list found the list; it is used as it is",
                                   ok=True))
        elif not looked or steps[-1].ok:
            request = cohort.create_list()
            step, response = _send(request, transport, masker, integration, tokens)
            exists = cohort.says_exists(response)
            if exists:  # create_list.exists_on: the list is there already; use it
                step = replace(step, ok=True, reason=f"{step.reason}: the list exists already (exists_on)")
            if response is not None and (cohort.list_exists(response) or (step.ok and not exists)):
                step = _read_list_id(cohort, step, request, response, masker)
                list_id = step.list_id
            steps.append(step)
            if exists and list_id is None:  # an id the destination chose: find_list finds it
                steps.append(_find_list(cohort, transport, masker, integration, tokens))
                list_id = steps[-1].list_id
                if steps[-1].ok and list_id is None:
                    steps[-1] = replace(steps[-1], ok=False, reason="not found",
                                        message="create_list said the list exists (exists_on), but find_list "
                                                "does not find it")
        else:
            steps.append(_not_sent("create_list", create.method,
                                   "find_list could not say whether the list exists, so it is not created again"))
        if list_id is None:
            last = steps[-1]
            why = "create_list's response held no list id" if last.reason == "no list id" else \
                "create_list failed" if last.endpoint == "create_list" else "no list was found or created"
            for endpoint in integration.endpoints:
                if endpoint.kind.list_scoped:
                    steps.append(_not_sent(endpoint.name, endpoint.method,
                                           f"{why}, so there is no $list_id to send it with"))
            return EndpointTestReport(definition.name, transport.base_url, tuple(steps), warnings=warnings())
    for request in bound.requests(users, list_id=list_id):
        if request.endpoint not in BATCH_ENDPOINTS:
            continue  # find_list and create_list were sent above; rendering the lifecycle yields them again
        step, _ = _send(request, transport, masker, integration, tokens)
        steps.append(step)
    return EndpointTestReport(definition.name, transport.base_url, tuple(steps), list_id, warnings())


def _token_step(tokens: TokenSource, masker: Redact) -> StepResult:
    """The token endpoint's exchange as a step of the test: the token itself is never shown."""
    base = StepResult(TOKEN_ENDPOINT, "POST", masker(tokens.url), 0, sent=True, ok=False)
    try:
        tokens.token()
    except TokenError as exc:
        last = tokens.exchanges[-1] if tokens.exchanges else None
        return replace(base, reason=exc.reason, message=masker(str(exc)),
                       status=last.status if last else None, elapsed=last.elapsed if last else None)
    last = tokens.exchanges[-1]
    life = f" (expires in {last.expires_in:g} s)" if last.expires_in is not None else ""
    return replace(base, ok=True, status=last.status, elapsed=last.elapsed, reason="OK",
                   message=f"access token obtained{life}")

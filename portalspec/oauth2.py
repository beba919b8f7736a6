"""OAuth2 (RFC 6749) for ``auth: {method: oauth2, …}`` (beyond the portal's form, PS515): both
sides of the token endpoint.

- :class:`TokenSource`, for senders (the endpoint test and sync): fetches the access token once
  per run through the run's own :class:`~portalspec.transport.Transport` — so ``--base-url``,
  its timeouts and its bounded reader apply to the token endpoint too — and refreshes it when
  a request is refused with 401 (:meth:`Transport.send` asks for that). The grant is
  ``client_credentials`` (RFC 6749 §4.4) or ``refresh_token`` (§6); the client authenticates
  with form fields or HTTP Basic (§2.3.1).
- :class:`TokenIssuer`, for ``portalspec serve``: the token endpoint of a served destination. It
  checks the client, the grant, the refresh token and the scopes against the values file,
  issues access tokens, and the destination then takes only those as bearer tokens.

Tokens live in memory only, on both sides: nothing here writes them anywhere, and each side's
redactor (:meth:`TokenSource.redact`, serve's masker) hides every token it has seen. A provider
that rotates refresh tokens is reported (:attr:`TokenSource.warnings`); the new refresh token
is used for the rest of the run and then forgotten: storing it is the user's to do.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import parse_qsl, quote_plus, unquote_plus, urlencode

from .auth import ACCESS_TOKEN, Auth, same_secret
from .bodies import BodyError
from .diagnostics import excerpt
from .headers import Headers
from .masking import Masker
from .request import Request
from .template import SubstitutionError, as_text, encode_header
from .transport import Response, Transport, TransportError, rebase
from .variables import env_name

TOKEN_ENDPOINT = "token"  # how reports and serve's log name the token endpoint
FORM = "application/x-www-form-urlencoded"
EXPIRES_IN = 3600  # seconds: what serve says of the tokens it issues
LIVE_TOKENS = 16  # serve keeps the last tokens it issued; older ones are refused


class TokenError(TransportError):
    """The token endpoint gave no usable access token (or its token was refused)."""

    reason = "OAuth2 token"


@dataclass(frozen=True)
class TokenExchange:
    """One exchange with the token endpoint, as a report shows it: never a token."""

    url: str  # as sent (after --base-url)
    status: int | None  # None: no answer
    elapsed: float | None  # seconds
    expires_in: float | None = None  # what the endpoint said of the token's life, if anything


def basic_credentials(client_id: str, client_secret: str) -> str:
    """``Authorization`` of a client authenticating with HTTP Basic: RFC 6749 §2.3.1 has each
    part form-encoded before the pair is base64-encoded."""
    pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
    return "Basic " + base64.b64encode(pair.encode("utf-8", "surrogatepass")).decode("ascii")


def token_request(auth: Auth, client_id: str, client_secret: str, refresh_token: str | None) -> Request:
    """The access token request (RFC 6749 §4.4.2, §6): a form-encoded POST to ``token_url``."""
    assert auth.grant is not None and auth.token_url is not None  # the schema requires both for oauth2
    fields = [("grant_type", auth.grant)]
    if auth.grant == "refresh_token":
        fields.append(("refresh_token", refresh_token or ""))
    if auth.scopes:
        fields.append(("scope", " ".join(auth.scopes)))
    headers = [("Content-Type", FORM), ("Accept", "application/json")]
    if auth.client_auth == "basic":
        headers.append(("Authorization", basic_credentials(client_id, client_secret)))
    else:
        fields += [("client_id", client_id), ("client_secret", client_secret)]
    return Request("POST", auth.token_url, Headers(headers), urlencode(fields).encode("ascii"), TOKEN_ENDPOINT)


# What a token endpoint's error code (RFC 6749 §5.2) asks of the user; {env} names the
# environment variable the refresh token may come from.
_HINTS = {
    "invalid_client": "check client_id and client_secret in the values file{basic}",
    "unauthorized_client": "the client may not use this grant; check the app's settings at the provider",
    "unsupported_grant_type": "the token endpoint does not offer this grant; check auth.grant",
    "invalid_scope": "check auth.scopes against what the provider offers",
}
_REFRESH_REFUSED = ("the refresh token was refused (expired, revoked, or replaced by a rotated one): authorize "
                    "again, and put the new refresh token in the values file or {env}")
ROTATED = ("the token endpoint issued a new refresh token (this provider rotates them). portalspec used it for "
           "the rest of this run and stores no token: if the provider revokes the old one, the next run fails "
           "with invalid_grant. Authorize again and keep the new refresh token in the values file or {env} "
           "yourself (portalspec never shows a token)")


class TokenSource:
    """A run's OAuth2 access token: fetched once, refreshed on a 401, held in memory only.

    Thread-safe: concurrent requests share one token, and one refresh (a request refused with
    a token that was already replaced gets the replacement, not another refresh). A failure
    the endpoint will repeat (a 4xx, a token that cannot be used) is remembered, so the run
    does not ask again; a network failure, a 429 or a 5xx may be retried."""

    def __init__(self, auth: Auth, credentials: Mapping[str, Any], transport: Transport, *, name: str):
        self.auth = auth
        self.transport = transport
        self._client_id = as_text(credentials.get("client_id", ""))
        self._client_secret = as_text(credentials.get("client_secret", ""))
        self._refresh_token = as_text(credentials.get("refresh_token", "")) or None
        self._env = env_name(name, "refresh_token")
        self._lock = threading.Lock()
        self._token: str | None = None
        self._failure: TokenError | None = None
        self._masker = Masker.for_secrets([self._client_id, self._client_secret, self._refresh_token or ""])
        self.exchanges: list[TokenExchange] = []
        self.warnings: list[str] = []

    @property
    def url(self) -> str:
        """The token endpoint as it is called (after ``--base-url``)."""
        return rebase(self.auth.token_url or "", self.transport.base_url)

    def redact(self, text: str) -> str:
        """``text`` with every credential and token this source has seen masked."""
        return self._masker(text)

    def token(self) -> str:
        with self._lock:
            return self._token if self._token is not None else self._fetch()

    def refresh(self, stale: str) -> str:
        with self._lock:
            if self._token is not None and self._token != stale:
                return self._token  # another request refreshed it already
            return self._fetch()

    def refused(self, what: str) -> TransportError:
        return TokenError(f"{what}: HTTP 401 again with an access token just issued by {self.auth.token_url}: the "
                          "API refuses the tokens it issues; check auth.scopes and what the client may do",
                          retryable=False)

    # --- the exchange ----------------------------------------------------------------
    def _fetch(self) -> str:
        if self._failure is not None:
            raise self._failure
        request = token_request(self.auth, self._client_id, self._client_secret, self._refresh_token)
        try:
            response = self.transport.send(request)
        except TransportError as exc:
            self.exchanges.append(TokenExchange(self.url, None, None))
            raise self._fail(f"the OAuth2 token endpoint could not be reached: {exc}", retryable=exc.retryable)
        try:
            answer = self._answer(response)
        except TokenError:
            self.exchanges.append(TokenExchange(self.url, response.status, response.elapsed))
            raise
        token = answer["access_token"]
        self._learn(token)
        rotated = answer.get("refresh_token")
        if self.auth.grant == "refresh_token" and isinstance(rotated, str) and rotated \
                and rotated != self._refresh_token:
            # RFC 6749 §6: the client must use the new one; the old one may be revoked now.
            self._learn(rotated)
            self._refresh_token = rotated
            if not self.warnings:
                self.warnings.append(ROTATED.format(env=self._env))
        expires = answer.get("expires_in")
        self.exchanges.append(TokenExchange(self.url, response.status, response.elapsed,
                                            float(expires) if isinstance(expires, (int, float))
                                            and not isinstance(expires, bool) else None))
        self._token = token
        return token

    def _answer(self, response: Response) -> dict[str, Any]:
        """The token response's JSON object (RFC 6749 §5.1), or a :class:`TokenError` saying why not."""
        what = f"the OAuth2 token endpoint (POST {self.url})"
        if not 200 <= response.status < 300:
            raise self._fail(self._refusal(what, response), retryable=response.status == 429 or response.status >= 500)
        try:
            answer = response.document("its answer")
        except BodyError as exc:
            raise self._fail(f"{what} answered HTTP {response.status}, but {exc}", retryable=False) from None
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token.strip():
            raise self._fail(f"{what} answered HTTP {response.status} without an access_token", retryable=False)
        kind = answer.get("token_type")
        if kind is not None and (not isinstance(kind, str) or kind.lower() != "bearer"):
            raise self._fail(f"{what} issued a token of type {kind!r}; portalspec sends Bearer tokens only",
                             retryable=False)
        try:
            encode_header(token)
        except SubstitutionError as exc:
            raise self._fail(f"{what} issued an access token that cannot be sent in a header: {exc}",
                             retryable=False) from None
        return answer

    def _refusal(self, what: str, response: Response) -> str:
        body = response.json()
        code = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), str) else None
        text = f"{what} answered HTTP {response.status}"
        if code is None:
            shown = response.excerpt(160, redact=self.redact)
            text += f": {shown}" if shown else ""
            code = "invalid_client" if response.status == 401 else None
        else:
            described = body.get("error_description")
            text += f": {code}" + (f" ({excerpt(described, 160, redact=self.redact)})"
                                   if isinstance(described, str) and described else "")
        if code == "invalid_grant" and self.auth.grant == "refresh_token":
            hint: str | None = _REFRESH_REFUSED.format(env=self._env)
        else:
            other = "body" if self.auth.client_auth == "basic" else "basic"
            hint = _HINTS.get(code or "", "").format(
                basic=f", and whether the endpoint wants them another way (client_auth: {other})") or None
        return text + (f"; {hint}" if hint else "")

    def _fail(self, message: str, *, retryable: bool) -> TokenError:
        error = TokenError(self.redact(message), retryable=retryable)
        if not retryable:
            self._failure = error  # it would answer the same: the run does not ask again
        return error

    def _learn(self, secret: str) -> None:
        self._masker = self._masker.including([secret])


def token_source(auth: Auth, credentials: Mapping[str, Any], transport: Transport, *, name: str) -> TokenSource | None:
    """The run's token source when the definition authenticates with OAuth2, else None."""
    return TokenSource(auth, credentials, transport, name=name) if ACCESS_TOKEN in auth.scheme.runtime else None


# --- serve's side -------------------------------------------------------------------------

@dataclass(frozen=True)
class TokenAnswer:
    """What serve's token endpoint answers: a status, a JSON body and headers."""

    status: int
    body: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()
    message: str | None = None  # for serve's log, on an error (never a secret)


def _error(status: int, code: str, description: str, *headers: tuple[str, str]) -> TokenAnswer:
    return TokenAnswer(status, {"error": code, "error_description": description},
                       (("Cache-Control", "no-store"), *headers), f"{code}: {description}")


class TokenIssuer:
    """serve's token endpoint: checks a token request as the definition's ``auth`` says and
    the values file expects (RFC 6749 §2.3.1, §4.4, §5, §6), and issues access tokens, which
    :meth:`accepts` then takes. ``uses``: each token is taken on that many requests, then
    refused (senders must refresh it); None: until :meth:`expire`."""

    def __init__(self, auth: Auth, env: Mapping[str, Any], *, uses: int | None = None):
        self.auth = auth
        self.env = env
        self.uses = uses
        self._live: dict[str, int | None] = {}  # token -> requests it may still be used on
        self._lock = threading.Lock()
        self.issued = 0

    def tokens(self) -> tuple[str, ...]:
        """The tokens it would take now (for serve's masker; never shown)."""
        with self._lock:
            return tuple(self._live)

    def answer(self, headers: Headers, body: bytes) -> TokenAnswer:
        """The answer to a POST to the token endpoint."""
        content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != FORM:
            return _error(400, "invalid_request", f"the token request must be form-encoded (Content-Type: {FORM})")
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        except (UnicodeDecodeError, ValueError):
            return _error(400, "invalid_request", "the token request is not UTF-8 form data")
        names = [name for name, _ in pairs]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:  # RFC 6749 §3.2: a parameter must not be sent more than once
            return _error(400, "invalid_request", f"repeated parameter(s): {', '.join(repeated)}")
        form = dict(pairs)
        problem = self._client(headers.get("Authorization"), form)
        if problem is not None:
            return problem
        grant = form.get("grant_type")
        if not grant:
            return _error(400, "invalid_request", "no grant_type")
        if grant != self.auth.grant:
            return _error(400, "unsupported_grant_type", f"this destination issues tokens for grant_type "
                                                         f"{self.auth.grant}, not {excerpt(grant, 40)}")
        if grant == "refresh_token":
            given = form.get("refresh_token")
            if not given:
                return _error(400, "invalid_request", "no refresh_token")
            if not same_secret(given, as_text(self.env.get("refresh_token", ""))):
                return _error(400, "invalid_grant", "the refresh token is not the one in the values file")
        scope = form.get("scope")
        wanted = set(self.auth.scopes)
        if scope is not None and set(scope.split()) != wanted or scope is None and wanted and grant != "refresh_token":
            # (a refresh may leave scope out: it then means the scopes granted before, §6)
            return _error(400, "invalid_scope", f"expected scope '{' '.join(self.auth.scopes)}'"
                                                + (f", got '{excerpt(scope, 80)}'" if scope is not None else ""))
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._live[token] = self.uses
            while len(self._live) > LIVE_TOKENS:
                del self._live[next(iter(self._live))]
            self.issued += 1
        answer: dict[str, Any] = {"access_token": token, "token_type": "Bearer", "expires_in": EXPIRES_IN}
        if self.auth.scopes:
            answer["scope"] = " ".join(self.auth.scopes)
        return TokenAnswer(200, answer, (("Cache-Control", "no-store"), ("Pragma", "no-cache")))

    def _client(self, authorization: str | None, form: Mapping[str, str]) -> TokenAnswer | None:
        """None when the client authenticated as ``client_auth`` says, with the expected credentials."""
        in_body = "client_secret" in form
        if authorization is not None and in_body:  # RFC 6749 §2.3: one method per request
            return _error(400, "invalid_request", "the client authenticated twice (HTTP Basic and form fields)")
        if self.auth.client_auth == "basic":
            scheme, _, encoded = (authorization or "").partition(" ")
            try:
                pair = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                pair = ""
            if scheme.lower() != "basic" or ":" not in pair:
                return _error(401, "invalid_client", "client credentials are expected by HTTP Basic (client_auth: basic)",
                              ("WWW-Authenticate", 'Basic realm="token"'))
            client_id, _, client_secret = (unquote_plus(part) for part in pair.partition(":"))
        else:
            if authorization is not None or not in_body:
                return _error(401, "invalid_client", "client credentials are expected as the form fields client_id "
                                                     "and client_secret (client_auth: body)")
            client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        if not (same_secret(client_id, as_text(self.env.get("client_id", "")))
                & same_secret(client_secret, as_text(self.env.get("client_secret", "")))):
            return _error(401, "invalid_client", "unknown client, or a wrong client secret")
        return None

    def spend(self, authorization: str | None) -> None:
        """An endpoint request carried ``authorization``: a token it names has one use less,
        and is refused once it has none left."""
        if self.uses is None or authorization is None:
            return
        with self._lock:
            for token, left in list(self._live.items()):
                if self.auth.scheme.accepts(authorization, {ACCESS_TOKEN: token}):
                    if left is not None and left <= 0:
                        del self._live[token]
                    elif left is not None:
                        self._live[token] = left - 1

    def accepts(self, authorization: str) -> bool:
        """``authorization`` is ``Bearer <a token this endpoint issued and still takes>``."""
        return any(self.auth.scheme.accepts(authorization, {ACCESS_TOKEN: token}) for token in self.tokens())

    def expire(self) -> int:
        """Refuse every token issued so far (a sender must refresh); how many there were."""
        with self._lock:
            count = len(self._live)
            self._live.clear()
        return count


__all__ = ["TOKEN_ENDPOINT", "TokenAnswer", "TokenError", "TokenExchange", "TokenIssuer", "TokenSource",
           "basic_credentials", "token_request", "token_source"]

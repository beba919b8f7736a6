"""Transport: sending a rendered :class:`Request` and reading the response. The only module
(with ``sync`` and ``serve``) that touches the network; building requests stays pure.

Responses are classified with the endpoint's ``errors:`` table (the portal's error
classifications): a matching status, and ``sub_error_code`` as a subset of the JSON body,
gives the definition's friendly message. Amplitude's retry rule decides what is retried:
connection errors, 429 and 5xx; other 4xx are final.
"""

from __future__ import annotations

import dataclasses
import email.utils
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence
from urllib.parse import urlsplit, urlunsplit

import httpx

from .auth import ACCESS_TOKEN
from .bodies import MAX_BYTES, BodyError, read_json
from .diagnostics import InputError, PortalspecError, excerpt
from .headers import Headers
from .model import ErrorClassification
from .request import Request

DEFAULT_TIMEOUT = 30.0
MAX_RESPONSE_BYTES = MAX_BYTES  # an answer to one request, read whole; larger is not an answer


class TransportError(PortalspecError):
    """The request could not be delivered. ``retryable``: the network failed (connection
    refused, timeout, reset) and trying again may help; False when the request itself cannot
    be sent (a header value HTTP forbids), which no retry will change."""

    reason = "connection failed"  # how a report names the failure

    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


class AccessTokens(Protocol):
    """Where :meth:`Transport.send` gets an access token for a request that needs one
    (:class:`portalspec.oauth2.TokenSource`). Both may raise :class:`TransportError`."""

    def token(self) -> str:
        """The current access token (fetched on first use)."""

    def refresh(self, stale: str) -> str:
        """A token other than ``stale``, which was refused: a new one, unless another
        request already got one."""

    def refused(self, what: str) -> TransportError:
        """The error for a request refused (401) with a freshly issued token too."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: Headers  # a plain tuple of (name, value) pairs is taken too
    body: bytes
    elapsed: float  # seconds

    def __post_init__(self) -> None:
        if not isinstance(self.headers, Headers):
            object.__setattr__(self, "headers", Headers(self.headers))

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def json(self) -> Any:
        """The body as JSON, or None when it is not usable JSON (see :meth:`document`)."""
        try:
            return self.document()
        except BodyError:
            return None

    def document(self, what: str = "the response") -> Any:
        """The body as JSON, read by the bounded parser: :class:`~portalspec.bodies.BodyError`
        says why it is not usable (not JSON, too large, too deep, NaN …)."""
        return read_json(self.body, what=what)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def excerpt(self, limit: int = 200, redact: Callable[[str], str] | None = None) -> str:
        """The body, short, on one line; ``redact`` is applied before it is cut."""
        return excerpt(self.text, limit, redact=redact)

    @property
    def retry_after(self) -> float | None:
        """``Retry-After`` in seconds (delta-seconds or an HTTP date), if present and sane."""
        value = self.header("Retry-After")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True)
class Classification:
    ok: bool
    retryable: bool
    reason: str  # "OK", the table's reason, or a generic one
    message: str | None = None  # the definition's friendly message, when a row matched


def _contains(body: Any, pattern: Any) -> bool:
    """``pattern`` is a subset of ``body`` (objects by key, recursively; others equal)."""
    if isinstance(pattern, dict):
        return isinstance(body, dict) and all(k in body and _contains(body[k], v) for k, v in pattern.items())
    return bool(body == pattern)


def classify(response: Response, errors: Sequence[ErrorClassification] = ()) -> Classification:
    if 200 <= response.status < 300:
        return Classification(True, False, "OK")
    retryable = response.status == 429 or response.status >= 500
    body = response.json()
    for row in errors:
        if row.status != response.status:
            continue
        pattern = row.sub_error_code
        if pattern is not None and not _contains(body, pattern):
            continue
        return Classification(False, retryable, row.reason or f"HTTP {response.status}", row.message)
    generic = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
               429: "Rate limited"}.get(response.status, "Server error" if response.status >= 500 else "Error")
    return Classification(False, retryable, f"{generic} (HTTP {response.status})")


def check_base_url(base_url: str) -> str:
    """``base_url`` if it can stand in for an endpoint's scheme and host; InputError otherwise."""
    try:
        parts = urlsplit(base_url)
        parts.port  # noqa: B018 - parsing the port is what raises for "host:x"
    except ValueError as exc:
        raise InputError(f"base URL {base_url!r} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"base URL {base_url!r} must look like http://host[:port] or https://host[:port]")
    return base_url


def rebase(url: str, base_url: str | None) -> str:
    """``url`` with its scheme and host (and port) replaced by ``base_url``'s — ``--base-url``
    aims a definition at staging or at ``portalspec serve``. A path in ``base_url`` is prefixed."""
    if not base_url:
        return url
    base, parts = urlsplit(base_url), urlsplit(url)
    path = base.path.rstrip("/") + parts.path
    return urlunsplit((base.scheme, base.netloc, path, parts.query, parts.fragment))


def _with_token(request: Request, placeholder: str, token: str) -> Request:
    """``request`` as it is sent: the access token in place of its placeholder (in memory only,
    for this one exchange), and no longer masked."""
    headers = Headers((name, value.replace(placeholder, token)) for name, value in request.headers)
    return dataclasses.replace(request, headers=headers,
                               masked=tuple(m for m in request.masked if m[0] != placeholder))


class Transport:
    """Sends requests over one pooled, thread-safe HTTP client.

    Every attempt is bounded: ``timeout`` seconds for the whole exchange — connecting,
    sending and the *complete* answer, checked as the answer arrives, so a peer that trickles
    its body a byte at a time cannot hold a run — and ``max_response_bytes`` for the answer.
    """

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT, base_url: str | None = None,
                 client: httpx.Client | None = None, max_response_bytes: int = MAX_RESPONSE_BYTES,
                 clock: Callable[[], float] = time.monotonic):
        self.base_url = check_base_url(base_url) if base_url else None
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self._clock = clock
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=False)

    def send(self, request: Request, tokens: AccessTokens | None = None) -> Response:
        """Send ``request`` and read the whole answer. A request that carries the access token
        placeholder (``auth: oauth2``) gets ``tokens``' token in its place; on a 401 the token
        is refreshed once and the request sent once more."""
        placeholder = next((sentinel for sentinel, name in request.masked if name == ACCESS_TOKEN), None)
        if placeholder is None:
            return self._send(request)
        if tokens is None:
            raise TransportError(f"{request.method} {rebase(request.url, self.base_url)}: needs an OAuth2 access "
                                 "token, and no token source was given", retryable=False)
        token = tokens.token()
        response = self._send(_with_token(request, placeholder, token))
        if response.status != 401:
            return response
        response = self._send(_with_token(request, placeholder, tokens.refresh(token)))
        if response.status == 401:
            raise tokens.refused(f"{request.method} {rebase(request.url, self.base_url)}")
        return response

    def _send(self, request: Request) -> Response:
        url = rebase(request.url, self.base_url)
        # Header values go on the wire as UTF-8 (httpx would refuse non-ASCII text).
        headers = [(name.encode("latin-1", "replace"), value.encode("utf-8")) for name, value in request.headers]
        start = self._clock()
        deadline = start + self.timeout
        what = f"{request.method} {url}"
        try:
            with self._client.stream(request.method, url, headers=headers, content=request.body) as reply:
                chunks: list[bytes] = []
                size = 0
                for chunk in reply.iter_bytes():  # decoded: a compressed answer is bounded as it expands
                    size += len(chunk)
                    if size > self.max_response_bytes:
                        raise TransportError(f"{what}: the answer is larger than {self.max_response_bytes:,} bytes; "
                                             "portalspec stopped reading it", retryable=False)
                    chunks.append(chunk)
                    if self._clock() > deadline:
                        raise TransportError(f"{what}: the answer did not arrive whole within {self.timeout:g} s "
                                             "(--timeout covers the whole response)")
                status, reply_headers = reply.status_code, Headers(reply.headers.multi_items())
        except httpx.LocalProtocolError as exc:
            raise TransportError(f"{what}: cannot be sent: {exc}", retryable=False) from None
        except httpx.TimeoutException as exc:
            raise TransportError(f"{what}: timed out after {self.timeout:g} s ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise TransportError(f"{what}: {exc or type(exc).__name__}") from None
        return Response(status, reply_headers, b"".join(chunks), self._clock() - start)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "Transport":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

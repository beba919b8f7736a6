"""Amplitude's Behavioral Cohorts API: list a project's cohorts and export one to a CSV file —
the source side of a sync, the cohort as Amplitude's own cohort-sync worker sees it.

An export takes three steps (Amplitude's docs, "Behavioral Cohorts API"):

1. ``GET /api/5/cohorts/request/{cohort_id}?props=0|1`` → 202 ``{"request_id", "cohort_id"}``;
   this is the call that counts toward the project's 500 downloads a month;
2. ``GET /api/5/cohorts/request-status/{request_id}`` → 202 ``JOB INPROGRESS`` … 200 ``JOB COMPLETED``;
3. ``GET /api/5/cohorts/request/{request_id}/file`` → the CSV, or a 302 to a pre-signed storage
   link valid for one minute; either may be gzip.

429 and 5xx answers and connection errors are retried with :class:`RetryPolicy` (``Retry-After``
honoured); other 4xx are final. A circulating OpenAPI text names a ``/request/{id}/status`` path
and ``queued/computing/complete/failed`` states; both are accepted too, since it costs a few lines.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Mapping, TypeVar
from urllib.parse import quote, urljoin, urlsplit

import httpx

from . import __version__
from .diagnostics import AmplitudeError, InputError, excerpt
from .headers import Headers
from .inputs import ExportFile, open_export
from .masking import Masker
from .retry import RetryPolicy
from .transport import Response

REGIONS: Mapping[str, str] = {"us": "https://amplitude.com", "eu": "https://analytics.eu.amplitude.com"}
DEFAULT_EXPORT_TIMEOUT = 15 * 60.0  # seconds; jobs commonly take 30-60 s, large cohorts longer
DEFAULT_POLL_INTERVAL = 5.0
# Polls slow down to this: a long job should not spend the app's 60 requests per 10 minutes.
MAX_POLL_INTERVAL = 30.0
HTTP_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
ID_COLUMNS = ("amplitude_id", "user_id")
LIMITS = ("Amplitude allows 60 cohort requests per 10 minutes, 5 concurrent requests "
          "and 500 downloads a month per project")

ProgressCallback = Callable[[float, str], None]  # (seconds since polling began, Amplitude's status)

_STATUS_PATHS = ("/api/5/cohorts/request-status/{}", "/api/5/cohorts/request/{}/status")  # official, seed
_DONE = {"JOB COMPLETED", "COMPLETED", "COMPLETE"}
_FAILED = {"JOB FAILED", "FAILED", "JOB FAILURE", "FAILURE", "JOB ERROR", "ERROR", "JOB CANCELLED", "CANCELLED"}
_REDIRECTS = {301, 302, 303, 307, 308}
_MAX_REDIRECTS = 5
_T = TypeVar("_T")


@dataclass(frozen=True)
class CohortInfo:
    """One cohort as ``GET /api/3/cohorts`` describes it (the fields a sync needs)."""

    id: str
    name: str
    description: str = ""
    size: int | None = None
    last_computed: datetime | None = None  # UTC
    archived: bool = False
    published: bool = False
    owners: tuple[str, ...] = ()
    app_id: str = ""

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "CohortInfo":
        owners = data.get("owners")
        if not isinstance(owners, list):  # the seed's single "owner"
            owners = [data["owner"]] if data.get("owner") else []
        size = data.get("size")
        return cls(
            id=str(data["id"]),
            name=str(data.get("name") or ""),
            description=str(data.get("description") or ""),
            size=int(size) if isinstance(size, (int, float)) and not isinstance(size, bool) else None,
            last_computed=_timestamp(data.get("lastComputed")),
            archived=bool(data.get("archived")),
            published=bool(data.get("published")),
            owners=tuple(str(o) for o in owners),
            app_id="" if data.get("appId") is None else str(data["appId"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "description": self.description, "size": self.size,
                "last_computed": self.last_computed.isoformat().replace("+00:00", "Z") if self.last_computed else None,
                "archived": self.archived, "published": self.published, "owners": list(self.owners),
                "app_id": self.app_id}


@dataclass(frozen=True)
class ExportRow:
    """One user of a cohort export. ``user_id`` is ``""`` for users without one, as in the file."""

    amplitude_id: str
    user_id: str
    properties: dict[str, str] = field(default_factory=dict)  # column -> value, with props=1
    line: int = field(default=0, compare=False)  # where the record starts in the file


@dataclass(frozen=True)
class DownloadResult:
    path: str
    cohort_id: str
    request_id: str  # valid at Amplitude for 7 days: fetching it again costs no download
    users: int
    columns: tuple[str, ...]
    bytes: int  # size of the CSV written (uncompressed)


@dataclass(frozen=True)
class RetryNotice:
    """Sent before each backoff sleep, so a CLI can say why it is waiting."""

    action: str  # "listing cohorts"
    reason: str  # "Amplitude is rate limiting (HTTP 429)"
    delay: float  # seconds about to be slept
    retry: int  # 1-based
    max_retries: int


class _Retryable(Exception):
    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(reason)
        self.reason, self.status, self.retry_after = reason, status, retry_after


class AmplitudeClient:
    """Amplitude's Behavioral Cohorts API over one pooled httpx client.

    ``sleep`` and ``clock`` are injectable so tests of backoff and polling take no time.
    """

    def __init__(self, api_key: str, secret_key: str, *, region: str = "us", base_url: str | None = None,
                 retry: RetryPolicy | None = None, on_retry: Callable[[RetryNotice], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 http: httpx.Client | None = None) -> None:
        if not api_key or not secret_key:
            raise AmplitudeError("Amplitude needs both the project's API key and its secret key")
        if region not in REGIONS:
            raise AmplitudeError(f"unknown Amplitude region {region!r}: expected one of {', '.join(REGIONS)}")
        base = (base_url or REGIONS[region]).rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise AmplitudeError(f"Amplitude URL {base_url!r} must look like https://host[:port]")
        self.base_url = base
        self.retry = retry or RetryPolicy()
        self._auth = httpx.BasicAuth(api_key, secret_key)
        # Amplitude's messages are quoted in errors: make sure they never echo a key back.
        self._redact = Masker(tuple(sorted({k for k in (api_key, secret_key) if k}, key=len, reverse=True)))
        self._on_retry = on_retry or (lambda notice: None)
        self._sleep, self._clock = sleep, clock
        self._owns_http = http is None
        # No client-wide auth: credentials go only on requests to Amplitude, never to the
        # storage host a file download redirects to.
        self._http = http or httpx.Client(timeout=HTTP_TIMEOUT, headers={"User-Agent": f"portalspec/{__version__}"})
        self._status_path: str | None = None  # learnt on the first status poll

    # --- the API -----------------------------------------------------------------------

    def list_cohorts(self) -> list[CohortInfo]:
        action = "listing cohorts"
        data = self._json(self._call("/api/3/cohorts", action), action)
        cohorts = data.get("cohorts") if isinstance(data, dict) else None
        if not isinstance(cohorts, list):
            raise AmplitudeError(f"unexpected answer from Amplitude while {action}: no \"cohorts\" list")
        return [CohortInfo.from_api(c) for c in cohorts if isinstance(c, dict) and c.get("id") not in (None, "")]

    def request_export(self, cohort_id: str, *, props: bool = False) -> str:
        """Ask Amplitude to prepare a cohort's file; the request id. Counts toward 500 a month."""
        if not str(cohort_id).strip():
            raise AmplitudeError("a cohort id is required")
        action = f"requesting an export of cohort {cohort_id}"
        try:
            reply = self._call(f"/api/5/cohorts/request/{_segment(cohort_id)}", action, params={"props": int(props)})
        except AmplitudeError as exc:
            if exc.status == 404:
                raise AmplitudeError(f"{exc} (is {cohort_id} a cohort of this project and region?)",
                                     status=404) from None
            raise
        data = self._json(reply, action)
        request_id = data.get("request_id") if isinstance(data, dict) else None
        if request_id in (None, ""):
            raise AmplitudeError(f"unexpected answer from Amplitude while {action}: no request_id")
        return str(request_id)

    def wait_for_export(self, request_id: str, *, timeout: float = DEFAULT_EXPORT_TIMEOUT,
                        poll_interval: float = DEFAULT_POLL_INTERVAL,
                        progress: ProgressCallback | None = None) -> None:
        """Poll until the export is ready; ``progress(elapsed, status)`` after every poll."""
        start, interval = self._clock(), poll_interval
        while True:
            status, done = self._status(request_id)
            elapsed = self._clock() - start
            if progress:
                progress(elapsed, status)
            if done:
                return
            if elapsed >= timeout:
                raise AmplitudeError(
                    f"export {request_id} is still {status} after {elapsed:.0f}s (timeout {timeout:g}s); Amplitude "
                    f"keeps preparing it, so fetch it later by its request id rather than requesting a new "
                    f"export (each counts toward the 500 a month)", request_id=request_id)
            self._sleep(max(0.0, min(interval, timeout - elapsed)))
            interval = min(interval * 1.5, max(MAX_POLL_INTERVAL, poll_interval))

    def download(self, cohort_id: str, dest_path: str | os.PathLike[str], *, props: bool = False,
                 request_id: str | None = None, timeout: float = DEFAULT_EXPORT_TIMEOUT,
                 poll_interval: float = DEFAULT_POLL_INTERVAL,
                 progress: ProgressCallback | None = None) -> DownloadResult:
        """Export a cohort to ``dest_path`` as plain CSV: request, wait, fetch, check, rename.

        With ``request_id`` (an earlier export, valid 7 days) no new export is requested and
        ``props`` is whatever that request asked. The file is checked as a cohort export before
        it replaces ``dest_path``: a failed or malformed download never leaves a file there.
        """
        dest = Path(dest_path)
        if dest.is_dir():
            raise InputError(f"{dest}: is a directory; name the file to write")
        # The temporary file comes first, so an unwritable destination fails before an export
        # is requested — every request counts toward the month's 500.
        try:
            handle = tempfile.NamedTemporaryFile("w+b", dir=dest.parent, prefix=f".{dest.name}.", suffix=".part",
                                                 delete=False)
        except OSError as exc:
            raise InputError(f"{dest}: cannot write there ({exc.strerror or exc})") from None
        partial = Path(handle.name)
        try:
            with handle:
                if request_id is None:
                    request_id = self.request_export(cohort_id, props=props)
                self.wait_for_export(request_id, timeout=timeout, poll_interval=poll_interval, progress=progress)
                size = self._fetch(request_id, handle)
            users, columns = _check_export(partial, request_id, dest)
            try:
                os.replace(partial, dest)
            except OSError as exc:
                raise InputError(f"{dest}: cannot write there ({exc.strerror or exc})") from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return DownloadResult(os.fspath(dest), str(cohort_id), request_id, users, columns, size)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> "AmplitudeClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- one step each ------------------------------------------------------------------

    def _status(self, request_id: str) -> tuple[str, bool]:
        """(Amplitude's status text, finished?); a failed job raises."""
        action = f"waiting for export {request_id}"
        paths = [self._status_path] if self._status_path else list(_STATUS_PATHS)
        for i, template in enumerate(paths):
            last = i == len(paths) - 1
            reply = self._call(template.format(_segment(request_id)), action, accept=() if last else (404,),
                               request_id=request_id)
            if reply.status_code != 404:
                self._status_path = template
                break
        data = _parse_json(reply)
        data = data if isinstance(data, dict) else {}
        raw = data.get("async_status", data.get("status"))
        # No status at all: the HTTP code is the documented signal (200 done, 202 not yet).
        if raw in (None, ""):
            raw = "JOB COMPLETED" if reply.status_code == 200 else "JOB INPROGRESS"
        text = str(raw)
        normal = " ".join(text.upper().replace("_", " ").split())
        if normal in _FAILED:
            detail = _detail(data)
            raise AmplitudeError(f"Amplitude could not prepare export {request_id}: {text}"
                                 + (f" ({self._redact(detail)})" if detail else "") + "; request a new export")
        return text, normal in _DONE

    def _fetch(self, request_id: str, out: IO[bytes]) -> int:
        """Stream the export's file into ``out`` (gunzipped); the bytes written."""
        action = f"downloading export {request_id}"
        url = f"{self.base_url}/api/5/cohorts/request/{_segment(request_id)}/file"

        def attempt() -> int:
            out.seek(0)
            out.truncate()
            target, to_amplitude = url, True
            for _ in range(_MAX_REDIRECTS + 1):
                with self._stream(target, to_amplitude) as reply:
                    if reply.status_code in _REDIRECTS:
                        location = reply.headers.get("location")
                        if not location:
                            raise AmplitudeError(f"Amplitude redirected without a Location while {action}")
                        # A pre-signed link carries its own authorisation; Amplitude's
                        # credentials must not travel to the storage host.
                        target, to_amplitude = urljoin(target, location), False
                        continue
                    self._check(reply, action, to_amplitude=to_amplitude)
                    return _copy(reply, out)
            raise AmplitudeError(f"too many redirects while {action}")

        return self._with_retries(action, attempt, request_id)

    # --- HTTP ----------------------------------------------------------------------------

    def _call(self, path: str, action: str, *, params: Mapping[str, Any] | None = None,
              accept: tuple[int, ...] = (), request_id: str | None = None) -> httpx.Response:
        def attempt() -> httpx.Response:
            try:
                reply = self._http.get(self.base_url + path, params=params, auth=self._auth, follow_redirects=False)
            except httpx.HTTPError as exc:
                raise _Retryable(_connection_problem(exc, self.base_url)) from None
            if reply.status_code not in accept:
                self._check(reply, action, to_amplitude=True)
            return reply

        return self._with_retries(action, attempt, request_id)

    @contextlib.contextmanager
    def _stream(self, url: str, to_amplitude: bool) -> Iterator[httpx.Response]:
        where = self.base_url if to_amplitude else _origin(url)  # never show a link's signature
        try:
            with self._http.stream("GET", url, auth=self._auth if to_amplitude else None,
                                   follow_redirects=False) as reply:
                yield reply
        except httpx.HTTPError as exc:
            raise _Retryable(_connection_problem(exc, where)) from None

    def _check(self, reply: httpx.Response, action: str, *, to_amplitude: bool) -> None:
        status = reply.status_code
        if 200 <= status < 300:
            return
        reply.read()
        message = self._redact(_message(reply))
        said = f": {message}" if message else ""
        who = "Amplitude" if to_amplitude else f"the download link's host ({_origin(str(reply.url))})"
        if status == 429:
            raise _Retryable(f"{who} is rate limiting (HTTP 429){said}", status=status, retry_after=_retry_after(reply))
        # A pre-signed link lives one minute: if it expired (403) asking Amplitude again gives a fresh one.
        if status >= 500 or (not to_amplitude and status == 403):
            raise _Retryable(f"{who} answered HTTP {status}{said}", status=status, retry_after=_retry_after(reply))
        if status == 401 and to_amplitude:
            raise AmplitudeError(f"Amplitude rejected the credentials (HTTP 401) while {action}{said}: check the "
                                 "API key and secret key, and the region (an EU project's keys work only on "
                                 "analytics.eu.amplitude.com)", status=status)
        raise AmplitudeError(f"{who} answered HTTP {status} while {action}{said}", status=status)

    def _with_retries(self, action: str, attempt: Callable[[], _T], request_id: str | None = None) -> _T:
        retries = 0
        while True:
            try:
                return attempt()
            except _Retryable as problem:
                if not self.retry.should_retry(retries):
                    gave_up = f"; gave up after {retries} retr{'y' if retries == 1 else 'ies'}" if retries else ""
                    limits = f" ({LIMITS})" if problem.status == 429 else ""
                    raise AmplitudeError(f"{problem.reason} while {action}{gave_up}{limits}",
                                         status=problem.status, request_id=request_id) from None
                retries += 1
                delay = self.retry.delay(retries, problem.retry_after)
                self._on_retry(RetryNotice(action, problem.reason, delay, retries, self.retry.max_retries))
                self._sleep(delay)

    def _json(self, reply: httpx.Response, action: str) -> Any:
        data = _parse_json(reply)
        if data is None:
            raise AmplitudeError(f"unexpected answer from Amplitude while {action}: not JSON "
                                 f"({self._redact(excerpt(reply.text))!r})")
        return data


# --- reading an export --------------------------------------------------------------------

def read_export(path: str | os.PathLike[str]) -> Iterator[ExportRow]:
    """The users of a cohort export CSV (gzip accepted), read lazily.

    The header is checked at once; a malformed record raises :class:`InputError` naming the
    file and the line where the record starts.
    """
    return _open_export(path, os.fspath(path))[1]


def _open_export(path: str | os.PathLike[str], name: str) -> tuple[list[str], Iterator[ExportRow]]:
    export = open_export(path, name)
    missing = [c for c in ID_COLUMNS if c not in export.header]
    if missing:
        export.close()
        raise InputError(f"{name}:{export.header_line}: the header lacks {' and '.join(missing)}; a cohort export "
                         f"starts with \"amplitude_id\",\"user_id\" (found: {', '.join(export.header)})")
    return export.header, _export_rows(export)


def _export_rows(export: ExportFile) -> Iterator[ExportRow]:
    header = export.header
    amplitude_id, user_id = header.index("amplitude_id"), header.index("user_id")
    properties = [(i, c) for i, c in enumerate(header) if i not in (amplitude_id, user_id)]
    for line, row in export.records():
        if len(row) != len(header):
            raise InputError(f"{export.name}:{line}: expected {len(header)} columns as in the header, found {len(row)}")
        yield ExportRow(row[amplitude_id], row[user_id], {c: row[i] for i, c in properties}, line)


def _check_export(path: Path, request_id: str, dest: Path) -> tuple[int, tuple[str, ...]]:
    """Users and columns of a downloaded file, which must be a well-formed export."""
    try:
        header, rows = _open_export(path, f"export {request_id}")
        return sum(1 for _ in rows), tuple(header)
    except InputError as exc:
        raise AmplitudeError(f"the file Amplitude sent is not a well-formed cohort export ({exc}); "
                             f"nothing was written to {dest}", request_id=request_id) from None


# --- helpers --------------------------------------------------------------------------------

class _Gunzip:
    """Decompresses a stream chunk by chunk when it starts with gzip's magic bytes (Amplitude
    may gzip the file itself, not only the transfer); anything else passes through."""

    def __init__(self) -> None:
        self._head = b""
        self._gzip: bool | None = None
        self._z: Any = None

    def feed(self, chunk: bytes) -> bytes:
        if self._gzip is None:
            self._head += chunk
            if len(self._head) < 2:
                return b""
            self._gzip = self._head[:2] == b"\x1f\x8b"
            chunk, self._head = self._head, b""
        if not self._gzip:
            return chunk
        out = []
        while chunk:
            if self._z is None or self._z.eof:  # a new gzip member (files may concatenate several)
                self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out.append(self._z.decompress(chunk))
            chunk = self._z.unused_data if self._z.eof else b""
        return b"".join(out)

    def finish(self) -> bytes:
        if self._gzip is None:
            return self._head
        if self._gzip and (self._z is None or not self._z.eof):
            raise zlib.error("the gzip stream ends early")
        return b""


def _copy(reply: httpx.Response, out: IO[bytes]) -> int:
    gunzip, written = _Gunzip(), 0
    try:
        for chunk in reply.iter_bytes():  # undoes any Content-Encoding
            data = gunzip.feed(chunk)
            out.write(data)
            written += len(data)
        tail = gunzip.finish()
    except zlib.error as exc:
        raise _Retryable(f"the cohort file is not valid gzip ({exc})") from None
    out.write(tail)
    out.flush()
    return written + len(tail)


def _segment(value: str) -> str:
    return quote(str(value), safe="")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _connection_problem(exc: httpx.HTTPError, where: str) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer from {where} in time ({type(exc).__name__})"
    return f"cannot reach {where} ({exc or type(exc).__name__})"


def _retry_after(reply: httpx.Response) -> float | None:
    # transport.Response already knows both Retry-After forms (seconds, HTTP date).
    return Response(reply.status_code, Headers(reply.headers.multi_items()), b"", 0.0).retry_after


def _parse_json(reply: httpx.Response) -> Any:
    try:
        return reply.json()
    except ValueError:
        return None


def _detail(data: Mapping[str, Any]) -> str:
    for key in ("error", "message", "detail", "errors"):
        value = data.get(key)
        if isinstance(value, dict):
            value = value.get("message") or value.get("error")
        if value:
            return excerpt(str(value))
    return ""


def _message(reply: httpx.Response) -> str:
    """What Amplitude said: a JSON error's message, else the body's first words."""
    data = _parse_json(reply)
    if isinstance(data, dict) and (detail := _detail(data)):
        return detail
    return excerpt(reply.text) if reply.content else ""


def _timestamp(value: Any) -> datetime | None:
    """``lastComputed``: epoch seconds or milliseconds (docs' examples differ), or ISO 8601."""
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            seconds = value / 1000 if value > 1e11 else value
            return datetime.fromtimestamp(seconds, tz=timezone.utc)
        if isinstance(value, str) and value:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    except (ValueError, OverflowError, OSError):
        pass
    return None


__all__ = ["AmplitudeClient", "CohortInfo", "DownloadResult", "ExportRow", "RetryNotice", "REGIONS",
           "DEFAULT_EXPORT_TIMEOUT", "DEFAULT_POLL_INTERVAL", "read_export"]

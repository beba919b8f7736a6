"""Amplitude's Behavioral Cohorts API: list a project's cohorts and export one to a CSV file —
the source side of a sync, the cohort as Amplitude's own cohort-sync worker sees it.

An export takes three steps (Amplitude's docs, "Behavioral Cohorts API"):

1. ``GET /api/5/cohorts/request/{cohort_id}?props=0|1`` → 202 ``{"request_id", "cohort_id"}``;
   this is the call that counts toward the project's 500 downloads a month;
2. ``GET /api/5/cohorts/request-status/{request_id}`` → 202 ``JOB INPROGRESS`` … 200 ``JOB COMPLETED``;
3. ``GET /api/5/cohorts/request/{request_id}/file`` → the CSV, or a 302 to a pre-signed storage
   link valid for one minute; either may be gzip.

The file is trusted only once it is whole: every gzip layer (the transfer's ``Content-Encoding``
and the file's own) is checked to its trailer (CRC and length, nothing after it), the CSV is
complete to its last row and newline, and it holds at least :data:`MIN_SIZE_SHARE` of the size
the cohort listing reported moments before. Only then does it replace the destination file.

An upload is ``POST /api/3/cohorts/upload`` (:meth:`AmplitudeClient.upload`): a new cohort, or
the whole membership of an existing one, from at most :data:`MAX_UPLOAD_IDS` ids.

Every answer is read with the bounded JSON parser (:func:`portalspec.bodies.read_json`), and
every text the client produces passes through one redactor, built from both keys and the
basic credential, before it is cut to an excerpt.

429 and 5xx answers and connection errors are retried with :class:`RetryPolicy` (``Retry-After``
honoured); other 4xx are final. A circulating OpenAPI text names a ``/request/{id}/status`` path
and ``queued/computing/complete/failed`` states; both are accepted too, since it costs a few lines.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, Mapping, TypeVar
from urllib.parse import quote, urljoin, urlsplit

import httpx

from . import __version__
from .auth import Auth
from .bodies import BodyError, read_json
from .diagnostics import AmplitudeError, InputError, excerpt
from .headers import Headers
from .inputs import SHAPES, ExportFile, open_export, read_users
from .masking import Masker
from .model import Definition, MappingField
from .retry import RetryPolicy
from .transport import Response
from .values import ADD, Values

REGIONS: Mapping[str, str] = {"us": "https://amplitude.com", "eu": "https://analytics.eu.amplitude.com"}
DEFAULT_EXPORT_TIMEOUT = 15 * 60.0  # seconds; jobs commonly take 30-60 s, large cohorts longer
DEFAULT_POLL_INTERVAL = 5.0
# Polls slow down to this: a long job should not spend the app's 60 requests per 10 minutes.
MAX_POLL_INTERVAL = 30.0
HTTP_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
ID_COLUMNS = ("amplitude_id", "user_id")
LIMITS = ("Amplitude allows 60 cohort requests per 10 minutes, 5 concurrent requests "
          "and 500 downloads a month per project")
# A download holding fewer users than this share of the size the cohort listing reported just
# before is refused as cut short. Not 1.0: a cohort recomputes between the listing and the export.
MIN_SIZE_SHARE = 0.9
MAX_ANSWER_BYTES = 16 * 1024 * 1024  # an API answer (the cohort listing is the largest)
MAX_ANSWER_DEPTH = 64  # nesting levels of an API answer (a cohort's definition is the deepest)
MAX_EXPORT_BYTES = 4 * 1024 ** 3  # an export file, uncompressed: 2 million users with properties fit
MAX_UPLOAD_IDS = 100_000  # Amplitude's limit of ids in one upload request
ID_TYPES: Mapping[str, str] = {"user_id": "BY_USER_ID", "amplitude_id": "BY_AMP_ID"}  # ours -> Amplitude's
MAX_AMPLITUDE_ID = 2 ** 63 - 1

ProgressCallback = Callable[[float, str], None]  # (seconds since polling began, Amplitude's status)

_STATUS_PATHS = ("/api/5/cohorts/request-status/{}", "/api/5/cohorts/request/{}/status")  # official, seed
_DONE = {"JOB COMPLETED", "COMPLETED", "COMPLETE"}
_FAILED = {"JOB FAILED", "FAILED", "JOB FAILURE", "FAILURE", "JOB ERROR", "ERROR", "JOB CANCELLED", "CANCELLED"}
_REDIRECTS = {301, 302, 303, 307, 308}
_MAX_REDIRECTS = 5
_T = TypeVar("_T")
# Control characters (C0, DEL, C1) and the Unicode line and paragraph separators: never in an id or name.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


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
class UploadResult:
    """What ``POST /api/3/cohorts/upload`` did."""

    cohort_id: str  # the new cohort's id, or existing_cohort_id's
    name: str
    id_type: str  # "user_id" or "amplitude_id"
    ids: int  # distinct ids sent
    replaced: bool  # an existing cohort's membership was replaced


@dataclass(frozen=True)
class UploadIds:
    """The ids a file gives for an upload, checked, without repeats, in file order."""

    ids: tuple[str, ...]
    skipped: tuple[str, ...] = ()  # "amplitude_id 123 (no user_id)": users the file names without such an id
    repeated: int = 0  # ids that appeared more than once


@dataclass(frozen=True)
class RetryNotice:
    """Sent before each backoff sleep, so a CLI can say why it is waiting."""

    action: str  # "listing cohorts"
    reason: str  # "Amplitude is rate limiting (HTTP 429)"
    delay: float  # seconds about to be slept
    retry: int  # 1-based
    max_retries: int


class _Retryable(Exception):
    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None,
                 sent: bool = True):
        super().__init__(reason)
        self.reason, self.status, self.retry_after = reason, status, retry_after
        self.sent = sent  # the request may have reached Amplitude (and been acted on)


@dataclass(frozen=True)
class _Answer:
    """One HTTP answer, its body read (at most the client's cap)."""

    status: int
    headers: httpx.Headers
    body: bytes
    url: str


# Raised when a bounded wait runs out: (what was last heard) -> the error to raise.
_Deadline = tuple[float, Callable[[str], AmplitudeError]]


class AmplitudeClient:
    """Amplitude's Behavioral Cohorts API over one pooled httpx client.

    ``sleep`` and ``clock`` are injectable so tests of backoff and polling take no time.
    ``max_answer_bytes`` caps an API answer; ``max_export_bytes`` an export file (uncompressed).
    """

    def __init__(self, api_key: str, secret_key: str, *, region: str = "us", base_url: str | None = None,
                 retry: RetryPolicy | None = None, on_retry: Callable[[RetryNotice], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 http: httpx.Client | None = None, max_answer_bytes: int = MAX_ANSWER_BYTES,
                 max_export_bytes: int = MAX_EXPORT_BYTES) -> None:
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
        self.max_answer_bytes, self.max_export_bytes = max_answer_bytes, max_export_bytes
        self._auth = httpx.BasicAuth(api_key, secret_key)
        # Amplitude's messages are quoted in errors: whatever spelling of a key or of the basic
        # credential they echo is masked, in every text the client produces, before any cut.
        credential = base64.b64encode(f"{api_key}:{secret_key}".encode("utf-8", "surrogatepass")).decode()
        self._redact = Masker.for_secrets([api_key, secret_key], derived=[credential])
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
        data = self._json(self._call("GET", "/api/3/cohorts", action), action)
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
            reply = self._call("GET", f"/api/5/cohorts/request/{_segment(cohort_id)}", action,
                               params={"props": int(props)})
        except AmplitudeError as exc:
            if exc.status == 404:
                raise AmplitudeError(f"{exc} (is {cohort_id} a cohort of this project and region?)",
                                     status=404) from None
            raise
        data = self._json(reply, action)
        request_id = data.get("request_id") if isinstance(data, dict) else None
        if not isinstance(request_id, (str, int)) or isinstance(request_id, bool) or not _plain_id(str(request_id)):
            raise AmplitudeError(f"unexpected answer from Amplitude while {action}: no usable request_id")
        return str(request_id)

    def wait_for_export(self, request_id: str, *, timeout: float = DEFAULT_EXPORT_TIMEOUT,
                        poll_interval: float = DEFAULT_POLL_INTERVAL,
                        progress: ProgressCallback | None = None) -> None:
        """Poll until the export is ready; ``progress(elapsed, status)`` after every poll.

        The whole wait — every poll request, its retries and the pauses between polls — ends
        by ``timeout`` seconds after the call, with an :class:`AmplitudeError` saying so."""
        start, interval = self._clock(), poll_interval
        last: list[str] = []  # the last status heard

        def timed_out(problem: str = "") -> AmplitudeError:
            elapsed = self._clock() - start
            state = (f"export {request_id} is still {last[-1]} after {elapsed:.0f}s" if last
                     else f"no status for export {request_id} after {elapsed:.0f}s")
            return AmplitudeError(
                f"timeout reached: {state} (timeout {timeout:g}s{'; the last poll: ' + problem if problem else ''}); "
                "Amplitude keeps preparing it, so fetch it later by its request id rather than requesting a new "
                "export (each counts toward the 500 a month)", request_id=request_id)

        deadline = (start + timeout, timed_out)
        while True:
            status, done = self._status(request_id, deadline)
            last.append(status)
            elapsed = self._clock() - start
            if progress:
                progress(elapsed, status)
            if done:
                return
            if elapsed >= timeout:
                raise timed_out()
            self._sleep(max(0.0, min(interval, timeout - elapsed)))
            interval = min(interval * 1.5, max(MAX_POLL_INTERVAL, poll_interval))

    def cohort_size(self, cohort_id: str) -> int | None:
        """The size the cohort listing reports for ``cohort_id`` (None: not listed, or no size)."""
        return next((c.size for c in self.list_cohorts() if c.id == str(cohort_id)), None)

    def download(self, cohort_id: str, dest_path: str | os.PathLike[str], *, props: bool = False,
                 request_id: str | None = None, timeout: float = DEFAULT_EXPORT_TIMEOUT,
                 poll_interval: float = DEFAULT_POLL_INTERVAL,
                 progress: ProgressCallback | None = None, expected_size: int | None = None,
                 check_size: bool = True, min_share: float = MIN_SIZE_SHARE) -> DownloadResult:
        """Export a cohort to ``dest_path`` as plain CSV: request, wait, fetch, check, rename.

        With ``request_id`` (an earlier export, valid 7 days) no new export is requested and
        ``props`` is whatever that request asked. The file is checked as a cohort export before
        it replaces ``dest_path``: a failed, cut-short or malformed download never leaves a file
        there. It must hold at least ``min_share`` of the cohort's size: ``expected_size`` when
        given, else the size the cohort listing reports just before the export is requested
        (one more API call). ``check_size=False`` skips that comparison.
        """
        dest = Path(dest_path)
        if dest.is_dir():
            raise InputError(f"{dest}: is a directory; name the file to write")
        if not 0 <= min_share <= 1:
            raise ValueError("min_share is a share of the cohort's size, between 0 and 1")
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
                if check_size and expected_size is None:
                    expected_size = self.cohort_size(cohort_id)  # moments before the export
                if request_id is None:
                    request_id = self.request_export(cohort_id, props=props)
                self.wait_for_export(request_id, timeout=timeout, poll_interval=poll_interval, progress=progress)
                size = self._fetch(request_id, handle)
            users, columns = _check_export(partial, request_id, dest)
            if check_size and expected_size is not None and users < min_share * expected_size:
                raise AmplitudeError(
                    f"the export of cohort {cohort_id} holds {users:,} user{'' if users == 1 else 's'}, but "
                    f"Amplitude listed the cohort with {expected_size:,} moments before: fewer than "
                    f"{min_share:.0%} of that looks like a cut-short export, so nothing was written to {dest}",
                    request_id=request_id)
            try:
                os.replace(partial, dest)
            except OSError as exc:
                raise InputError(f"{dest}: cannot write there ({exc.strerror or exc})") from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return DownloadResult(os.fspath(dest), str(cohort_id), request_id, users, columns, size)

    def upload(self, ids: Iterable[str], *, name: str, app_id: int | str | None = None, id_type: str = "user_id",
               existing_cohort_id: str | None = None, owner: str | None = None,
               published: bool = False) -> UploadResult:
        """Upload a cohort (``POST /api/3/cohorts/upload``): a new one named ``name``, or, with
        ``existing_cohort_id``, that cohort's whole membership replaced.

        ``ids`` are user ids (``id_type="user_id"``) or Amplitude ids (``"amplitude_id"``); they
        are checked before anything is sent (non-empty, no control characters; an Amplitude id
        is a decimal integer), repeats dropped, at most :data:`MAX_UPLOAD_IDS` of them.
        Without ``app_id`` the project id comes from the cohort listing (the existing cohort's,
        or the one every listed cohort shares). A new cohort is not sent twice: a 5xx or a
        dropped connection after sending is reported, not retried, since Amplitude may have
        created it; replacing a membership is retried as usual.
        """
        if id_type not in ID_TYPES:
            raise InputError(f"unknown id type {id_type!r}: expected {' or '.join(ID_TYPES)}")
        unique = check_ids(((f"id {n}", value) for n, value in enumerate(ids, 1)), id_type)
        return self._upload(unique.ids, name=name, app_id=app_id, id_type=id_type,
                            existing_cohort_id=existing_cohort_id, owner=owner, published=published)

    def _upload(self, ids: tuple[str, ...], *, name: str, app_id: int | str | None, id_type: str,
                existing_cohort_id: str | None, owner: str | None, published: bool) -> UploadResult:
        if not ids:
            raise InputError("no ids to upload: an empty cohort is refused (with --existing-cohort-id it would "
                             "empty that cohort)")
        if len(ids) > MAX_UPLOAD_IDS:
            raise InputError(f"{len(ids):,} ids to upload, but Amplitude takes at most {MAX_UPLOAD_IDS:,} in one "
                             "upload, and an upload replaces a cohort's whole membership, so it cannot be sent in "
                             "parts; nothing was sent")
        _check_text(name, "the cohort name")
        if owner is not None:
            _check_text(owner, "the owner")
        if existing_cohort_id is not None:
            _check_text(existing_cohort_id, "the existing cohort id")
        project = self._app_id(app_id, existing_cohort_id)
        body: dict[str, Any] = {"name": name, "app_id": project, "id_type": ID_TYPES[id_type], "ids": list(ids),
                                "published": bool(published)}
        if owner is not None:
            body["owner"] = owner
        if existing_cohort_id is not None:
            body["existing_cohort_id"] = existing_cohort_id
        action = (f"uploading cohort {name!r}" if existing_cohort_id is None
                  else f"uploading cohort {name!r} over cohort {existing_cohort_id}")
        content = json.dumps(body, ensure_ascii=False).encode("utf-8")
        reply = self._call("POST", "/api/3/cohorts/upload", action, content=content,
                           resend=existing_cohort_id is not None)
        data = self._json(reply, action)
        found = next((data[k] for k in ("cohort_id", "cohortId", "id") if isinstance(data, dict) and k in data), None)
        if isinstance(found, bool) or not isinstance(found, (str, int)) or not _plain_id(str(found)):
            if existing_cohort_id is None:
                raise AmplitudeError(f"unexpected answer from Amplitude while {action}: no usable cohort id; the "
                                     "cohort may have been created ('portalspec cohorts list' shows it)")
            found = existing_cohort_id
        return UploadResult(str(found), name, id_type, len(ids), existing_cohort_id is not None)

    def _app_id(self, app_id: int | str | None, existing_cohort_id: str | None) -> int:
        if app_id is not None:
            text = str(app_id).strip()
            if not text.isascii() or not text.isdigit() or int(text) <= 0:
                raise InputError(f"app id {app_id!r} is not a project id (a positive integer)")
            return int(text)
        cohorts = self.list_cohorts()
        if existing_cohort_id is not None:
            listed = next((c for c in cohorts if c.id == existing_cohort_id), None)
            if listed is None:
                raise AmplitudeError(f"Amplitude lists no cohort {existing_cohort_id} in this project "
                                     "('portalspec cohorts list' shows them)")
            known = {listed.app_id} - {""}
        else:
            known = {c.app_id for c in cohorts} - {""}
        if len(known) != 1 or not next(iter(known)).isdigit():
            raise InputError("give the project's id (app id, --app-id): the cohort listing does not tell it"
                             + (f" (it names {len(known)} projects)" if len(known) > 1 else ""))
        return int(next(iter(known)))

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> "AmplitudeClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- one step each ------------------------------------------------------------------

    def _status(self, request_id: str, deadline: _Deadline | None = None) -> tuple[str, bool]:
        """(Amplitude's status text, finished?); a failed job raises."""
        action = f"waiting for export {request_id}"
        paths = [self._status_path] if self._status_path else list(_STATUS_PATHS)
        for i, template in enumerate(paths):
            last = i == len(paths) - 1
            reply = self._call("GET", template.format(_segment(request_id)), action, accept=() if last else (404,),
                               request_id=request_id, deadline=deadline)
            if reply.status != 404:
                self._status_path = template
                break
        # No body at all: the HTTP code is the documented signal (200 done, 202 not yet).
        data = self._json(reply, action, request_id=request_id) if reply.body.strip() else {}
        data = data if isinstance(data, dict) else {}
        raw = data.get("async_status", data.get("status"))
        if raw in (None, ""):
            raw = "JOB COMPLETED" if reply.status == 200 else "JOB INPROGRESS"
        if not isinstance(raw, str):
            raise AmplitudeError(f"unexpected answer from Amplitude while {action}: the status is not text",
                                 request_id=request_id)
        text = excerpt(raw, 80, redact=self._redact)
        normal = " ".join(raw.upper().replace("_", " ").split())
        if normal in _FAILED:
            detail = _detail(data, self._redact)
            raise AmplitudeError(f"Amplitude could not prepare export {request_id}: {text}"
                                 + (f" ({detail})" if detail else "") + "; request a new export")
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
                    if not 200 <= reply.status_code < 300:
                        self._check(self._read(reply, action, complete=False), action, to_amplitude=to_amplitude)
                    return _copy(reply, out, self.max_export_bytes, action)
            raise AmplitudeError(f"too many redirects while {action}")

        return self._with_retries(action, attempt, request_id)

    # --- HTTP ----------------------------------------------------------------------------

    def _call(self, method: str, path: str, action: str, *, params: Mapping[str, Any] | None = None,
              content: bytes | None = None, accept: tuple[int, ...] = (), request_id: str | None = None,
              deadline: _Deadline | None = None, resend: bool = True) -> _Answer:
        """One API call with retries; ``deadline`` bounds every attempt, its reading and the
        pauses between attempts; ``resend=False`` retries only what surely never arrived."""
        headers = {"Content-Type": "application/json"} if content is not None else None

        def attempt() -> _Answer:
            timeout: httpx.Timeout = HTTP_TIMEOUT
            if deadline is not None:
                remaining = deadline[0] - self._clock()
                if remaining <= 0:
                    raise deadline[1]("")
                timeout = httpx.Timeout(min(60.0, remaining), connect=min(10.0, remaining))
            try:
                with self._http.stream(method, self.base_url + path, params=params, content=content,
                                       headers=headers, auth=self._auth, follow_redirects=False,
                                       timeout=timeout) as reply:
                    answer = self._read(reply, action, deadline=deadline,
                                        complete=200 <= reply.status_code < 300)
            except httpx.HTTPError as exc:
                raise _Retryable(self._redact(_connection_problem(exc, self.base_url)),
                                 sent=not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))) from None
            if answer.status not in accept:
                self._check(answer, action, to_amplitude=True)
            return answer

        return self._with_retries(action, attempt, request_id, deadline=deadline, resend=resend)

    def _read(self, reply: httpx.Response, action: str, *, deadline: _Deadline | None = None,
              complete: bool = True) -> _Answer:
        """The answer's body, at most ``max_answer_bytes``: more is an error when the whole body
        is needed (``complete``), else (an error's text) only the start is kept."""
        chunks: list[bytes] = []
        size = 0
        for chunk in reply.iter_bytes():
            if deadline is not None and self._clock() > deadline[0]:
                raise deadline[1]("the answer was still arriving")
            size += len(chunk)
            if size > self.max_answer_bytes:
                if complete:
                    raise AmplitudeError(f"unexpected answer from Amplitude while {action}: more than "
                                         f"{self.max_answer_bytes:,} bytes, more than an answer of this API holds",
                                         status=reply.status_code)
                chunks.append(chunk[: len(chunk) - (size - self.max_answer_bytes)])
                break
            chunks.append(chunk)
        return _Answer(reply.status_code, reply.headers, b"".join(chunks), str(reply.url))

    @contextlib.contextmanager
    def _stream(self, url: str, to_amplitude: bool) -> Iterator[httpx.Response]:
        where = self.base_url if to_amplitude else _origin(url)  # never show a link's signature
        try:
            # Only gzip may encode the transfer: portalspec checks its whole stream itself.
            with self._http.stream("GET", url, auth=self._auth if to_amplitude else None,
                                   headers={"Accept-Encoding": "gzip"}, follow_redirects=False) as reply:
                yield reply
        except httpx.HTTPError as exc:
            raise _Retryable(self._redact(_connection_problem(exc, where))) from None

    def _check(self, answer: _Answer, action: str, *, to_amplitude: bool) -> None:
        status = answer.status
        if 200 <= status < 300:
            return
        message = _message(answer.body, self._redact)
        said = f": {message}" if message else ""
        who = "Amplitude" if to_amplitude else f"the download link's host ({_origin(answer.url)})"
        if status == 429:  # refused unprocessed: safe to send again
            raise _Retryable(f"{who} is rate limiting (HTTP 429){said}", status=status,
                             retry_after=_retry_after(answer), sent=False)
        # A pre-signed link lives one minute: if it expired (403) asking Amplitude again gives a fresh one.
        if status >= 500 or (not to_amplitude and status == 403):
            raise _Retryable(f"{who} answered HTTP {status}{said}", status=status, retry_after=_retry_after(answer))
        if status == 401 and to_amplitude:
            raise AmplitudeError(f"Amplitude rejected the credentials (HTTP 401) while {action}{said}: check the "
                                 "API key and secret key, and the region (an EU project's keys work only on "
                                 "analytics.eu.amplitude.com)", status=status)
        raise AmplitudeError(f"{who} answered HTTP {status} while {action}{said}", status=status)

    def _with_retries(self, action: str, attempt: Callable[[], _T], request_id: str | None = None, *,
                      deadline: _Deadline | None = None, resend: bool = True) -> _T:
        retries = 0
        while True:
            try:
                return attempt()
            except _Retryable as problem:
                if problem.sent and not resend:
                    raise AmplitudeError(f"{problem.reason} while {action}; not retried, since Amplitude may have "
                                         "acted on it: check 'portalspec cohorts list' before trying again",
                                         status=problem.status, request_id=request_id) from None
                if not self.retry.should_retry(retries):
                    gave_up = f"; gave up after {retries} retr{'y' if retries == 1 else 'ies'}" if retries else ""
                    limits = f" ({LIMITS})" if problem.status == 429 else ""
                    raise AmplitudeError(f"{problem.reason} while {action}{gave_up}{limits}",
                                         status=problem.status, request_id=request_id) from None
                retries += 1
                delay = self.retry.delay(retries, problem.retry_after)
                if deadline is not None and self._clock() + delay >= deadline[0]:
                    raise deadline[1](problem.reason) from None
                self._on_retry(RetryNotice(action, problem.reason, delay, retries, self.retry.max_retries))
                self._sleep(delay)

    def _json(self, answer: _Answer, action: str, *, request_id: str | None = None) -> Any:
        try:
            return read_json(answer.body, what="the answer", max_bytes=self.max_answer_bytes,
                             max_depth=MAX_ANSWER_DEPTH)
        except BodyError as exc:
            start = excerpt(answer.body.decode("utf-8", "replace"), 60, redact=self._redact)
            raise AmplitudeError(f"unexpected answer from Amplitude while {action}: {self._redact(str(exc))}"
                                 + (f" ({start!r})" if start else ""), status=answer.status,
                                 request_id=request_id) from None


# --- reading an export --------------------------------------------------------------------

def read_export(path: str | os.PathLike[str]) -> Iterator[ExportRow]:
    """The users of a cohort export CSV (gzip accepted), read lazily.

    The header is checked at once; a malformed record, or a file cut short (no newline after
    its last line), raises :class:`InputError` naming the file and the line.
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
    """Users and columns of a downloaded file, which must be a well-formed export to its last row."""
    try:
        header, rows = _open_export(path, f"export {request_id}")
        return sum(1 for _ in rows), tuple(header)
    except InputError as exc:
        raise AmplitudeError(f"the file Amplitude sent is not a well-formed cohort export ({exc}); "
                             f"nothing was written to {dest}", request_id=request_id) from None


# --- the ids of an upload -------------------------------------------------------------------

def check_ids(ids: Iterable[tuple[str, Any]], id_type: str, *, limit: int | None = None) -> UploadIds:
    """``(ref, id)`` pairs checked for an upload of ``id_type``, repeats dropped (order kept).
    A bad id, or more than ``limit`` distinct ids, raises :class:`InputError` naming its
    ``ref`` ("users.csv line 7") — the reading stops there."""
    seen: dict[str, None] = {}
    repeated = 0
    for ref, value in ids:
        if limit is not None and len(seen) >= limit:
            raise InputError(f"{ref}: more than {limit:,} distinct ids; Amplitude takes at most {MAX_UPLOAD_IDS:,} "
                             "in one upload, and an upload replaces a cohort's whole membership, so it cannot be "
                             "sent in parts; nothing was sent")
        text = _id_text(value)
        if text is None:
            raise InputError(f"{ref}: the id is {type(value).__name__}, not text or a number")
        if text == "" or text.strip() == "":
            raise InputError(f"{ref}: the id is empty")
        if (bad := _CONTROL.search(text)) is not None:
            raise InputError(f"{ref}: the id {_show(text)} holds a control character "
                             f"(U+{ord(bad.group()):04X}); Amplitude would not find such a user")
        if id_type == "amplitude_id" and (not text.isascii() or not text.isdigit() or int(text) > MAX_AMPLITUDE_ID):
            raise InputError(f"{ref}: the id {_show(text)} is not an Amplitude id (a decimal integer); "
                             "upload user ids with --id-type user_id")
        if text in seen:
            repeated += 1
        else:
            seen[text] = None
    return UploadIds(tuple(seen), (), repeated)


def read_upload_ids(path: str | os.PathLike[str], id_type: str = "user_id") -> UploadIds:
    """The ids of ``id_type`` that a cohort file gives, for :meth:`AmplitudeClient.upload`.

    The file is any shape ``sync --cohort-file`` reads (an export CSV, JSON lines, a plain id
    list, the portal's test CSV with an ``add`` row per user), read as a definition with one
    mapping variable named ``id_type`` mapped to the user property of that name: an export's
    ``user_id`` (or ``amplitude_id``) column, a JSON line's ``user_id`` (or ``amplitude_id``)
    field, a plain list's ids, a test CSV's ``user_id`` (or ``amplitude_id``) column. A user the
    file names without such an id (an export row with an empty ``user_id``) is skipped and
    listed in ``skipped``; a bad id raises :class:`InputError` naming the file and line.
    """
    if id_type not in ID_TYPES:
        raise InputError(f"unknown id type {id_type!r}: expected {' or '.join(ID_TYPES)}")
    definition = Definition(name="upload", display_name="upload", type="list", auth=Auth("none"), endpoints=(),
                            mapping_fields=(MappingField(id_type, id_type, id_type),))
    name = os.fspath(path)
    source = read_users(name, definition, Values(mappings={id_type: id_type}), shapes=SHAPES)

    def pairs() -> Iterator[tuple[str, Any]]:
        for user in source:
            if user.operation != ADD:
                raise InputError(f"{name}: user {user.ref} is '{user.operation}', but an upload sends the whole "
                                 "cohort (everyone in it); remove the operation column or those rows")
            yield f"{name} {user.ref}", user.values[id_type]

    checked = check_ids(pairs(), id_type, limit=MAX_UPLOAD_IDS)
    return UploadIds(checked.ids, tuple(source.skipped), checked.repeated)


def _id_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _show(text: str) -> str:
    return excerpt(repr(text), 80, fold_space=False)


def _check_text(value: str, what: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{what} is empty")
    if (bad := _CONTROL.search(value)) is not None:
        raise InputError(f"{what} {_show(value)} holds a control character (U+{ord(bad.group()):04X})")


def _plain_id(text: str) -> bool:
    """An id Amplitude gave that portalspec can show and send back: short text, no control characters."""
    return 0 < len(text) <= 200 and text.strip() == text and _CONTROL.search(text) is None


# --- helpers --------------------------------------------------------------------------------

class _Gunzip:
    """Decompresses a stream chunk by chunk when it starts with gzip's magic bytes (Amplitude
    may gzip the file itself, not only the transfer); anything else passes through. With
    ``always`` the stream must be gzip (a gzip ``Content-Encoding``).

    The whole stream is checked: each member to its trailer (zlib checks the CRC and length),
    members may follow one another, and anything else after the last one is an error."""

    def __init__(self, *, always: bool = False) -> None:
        self._head = b""
        self._gzip: bool | None = True if always else None
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
            raise zlib.error("the gzip stream ends early (no trailer): the file was cut short")
        return b""


def _copy(reply: httpx.Response, out: IO[bytes], limit: int, action: str) -> int:
    """Write the body, every gzip layer undone and checked to its end; the bytes written."""
    codings = [c.strip().lower() for c in reply.headers.get("content-encoding", "").split(",")]
    codings = [c for c in codings if c not in ("", "identity")]
    unknown = [c for c in codings if c not in ("gzip", "x-gzip")]
    if unknown:
        raise AmplitudeError(f"the cohort file came with Content-Encoding {', '.join(unknown)} while {action}; "
                             "portalspec asks for gzip and checks it to its end, and cannot check that")
    # Content-Encoding layers are undone last to first, then the file's own gzip if it is one.
    layers = [_Gunzip(always=True) for _ in codings] + [_Gunzip()]
    written = 0
    try:
        for chunk in reply.iter_raw():  # the bytes as sent: httpx's decoder does not check the trailer
            for layer in layers:
                chunk = layer.feed(chunk)
            written += len(chunk)
            if written > limit:
                raise AmplitudeError(f"the cohort file is larger than {limit:,} bytes while {action}; "
                                     "portalspec does not write more")
            out.write(chunk)
        tail = b""
        for layer in layers:
            tail = layer.feed(tail) + layer.finish()
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
    if isinstance(exc, httpx.DecodingError):
        return f"the answer from {where} could not be decoded ({exc})"
    return f"cannot reach {where} ({exc or type(exc).__name__})"


def _retry_after(answer: _Answer) -> float | None:
    # transport.Response already knows both Retry-After forms (seconds, HTTP date).
    return Response(answer.status, Headers(answer.headers.multi_items()), b"", 0.0).retry_after


def _detail(data: Mapping[str, Any], redact: Callable[[str], str]) -> str:
    for key in ("error", "message", "detail", "errors"):
        value = data.get(key)
        if isinstance(value, dict):
            value = value.get("message") or value.get("error")
        if value:
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            return excerpt(text, redact=redact)
    return ""


def _message(body: bytes, redact: Callable[[str], str]) -> str:
    """What Amplitude said: a JSON error's message, else the body's first words; redacted."""
    try:
        data = read_json(body, what="the answer", max_depth=MAX_ANSWER_DEPTH)
    except BodyError:
        data = None
    if isinstance(data, dict) and (detail := _detail(data, redact)):
        return detail
    return excerpt(body.decode("utf-8", "replace"), redact=redact) if body else ""


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


__all__ = ["AmplitudeClient", "CohortInfo", "DownloadResult", "ExportRow", "RetryNotice", "UploadIds",
           "UploadResult", "REGIONS", "DEFAULT_EXPORT_TIMEOUT", "DEFAULT_POLL_INTERVAL", "ID_TYPES",
           "MAX_UPLOAD_IDS", "MIN_SIZE_SHARE", "check_ids", "read_export", "read_upload_ids"]

"""A local fake of Amplitude's Behavioral Cohorts API, served on 127.0.0.1 (a free port) from a
background thread, for tests of ``portalspec.amplitude`` and ``portalspec cohorts``.

It answers as Amplitude's docs describe: basic auth (401 otherwise), the cohort list, an export
request (202), status polls (``polls`` × 202 ``JOB INPROGRESS``, then 200 ``job_status``), and the
file — directly or as a 302 to a pre-signed-like path on the same server, which (like S3) refuses
a request that also carries an ``Authorization`` header. Every request is recorded, and
``fail(endpoint, status, times=K)`` makes the first K calls of an endpoint fail;
``answer(endpoint, status, body, headers=…)`` serves any body (bytes too) instead, once.

Uploads (``POST /api/3/cohorts/upload``) check the body as Amplitude's docs describe it and
create a cohort (or replace an existing one's members) from the users the fake knows — every
member of every cohort, by amplitude id or user id; an unknown id becomes a new user.

Endpoints are named ``list``, ``request``, ``status``, ``file``, ``presigned`` and ``upload``.
"""

from __future__ import annotations

import base64
import csv
import gzip
import io
import json
import threading
from dataclasses import dataclass
from typing import Any, Iterator

import pytest
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

API_KEY = "test-api-key-0123"
SECRET_KEY = "test-secret-key-4567"

COHORTS = [
    {"appId": 360829, "archived": False, "description": "Bought twice in 30 days", "id": "26umsb5",
     "name": "Loyal buyers", "owners": ["dataadmin@example.com"], "published": True, "size": 3,
     "type": "redshift", "lastMod": 1644006291, "createdAt": 1644006291, "lastComputed": 1644006292,
     "definition": {"version": 3}},
    {"appId": 360829, "archived": True, "description": None, "id": "s7xeonk", "name": "Old trial users",
     "owners": [], "published": False, "size": 0, "lastComputed": 1644006332000},
]

MEMBERS = {
    "26umsb5": [
        {"amplitude_id": "356896327775", "user_id": "alice@example.com", "country": "France", "plan": "pro"},
        {"amplitude_id": "356893815359", "user_id": "", "country": "Chile", "plan": ""},
        {"amplitude_id": "356893815360", "user_id": "bob \"the builder\", jr", "country": "Multi\nline", "plan": "free"},
    ],
    "s7xeonk": [],
}


@dataclass(frozen=True)
class Seen:
    endpoint: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names


def export_csv(members: list[dict[str, str]], props: bool) -> bytes:
    """A cohort file as Amplitude writes it: every field quoted, ids first."""
    columns = ["amplitude_id", "user_id"]
    if props:
        columns += [k for m in members for k in m if k not in columns]
        columns = list(dict.fromkeys(columns))
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(columns)
    for member in members:
        writer.writerow([member.get(c, "") for c in columns])
    return out.getvalue().encode("utf-8")


class _QuietHandler(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 - werkzeug's signature
        pass


class FakeAmplitude:
    def __init__(self, *, polls: int = 2, redirect: bool = True, compression: str = "gzip",
                 job_status: str = "JOB COMPLETED", seed_variant: bool = False) -> None:
        self.api_key, self.secret_key = API_KEY, SECRET_KEY
        self.cohorts: list[dict[str, Any]] = [dict(c) for c in COHORTS]
        self.members = {k: list(v) for k, v in MEMBERS.items()}
        self.polls = polls  # 202 answers before the job is done
        self.redirect = redirect  # the file endpoint answers 302 to a pre-signed link
        self.compression = compression  # "gzip" (the file itself), "content-encoding" or "none"
        self.job_status = job_status  # the final status, e.g. "JOB FAILED"
        self.seed_variant = seed_variant  # status at /request/{id}/status with queued/computing/complete
        self.file_body: bytes | None = None  # serve this instead of the cohort's CSV
        self.requests: list[Seen] = []
        self.uploads: list[dict[str, Any]] = []  # the JSON bodies of accepted uploads
        self._failures: dict[str, list[tuple[int, dict[str, str], bytes | str]]] = {}
        self._jobs: dict[str, dict[str, Any]] = {}
        self._objects: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._map = Map([
            Rule("/api/3/cohorts", endpoint="list"),
            Rule("/api/5/cohorts/request/<key>", endpoint="request"),
            Rule("/api/5/cohorts/request-status/<key>", endpoint="status"),
            Rule("/api/5/cohorts/request/<key>/status", endpoint="seed_status"),
            Rule("/api/5/cohorts/request/<key>/file", endpoint="file"),
            Rule("/api/3/cohorts/upload", endpoint="upload", methods=["POST"]),
            Rule("/s3/<key>", endpoint="presigned"),
        ])
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # --- configuration and inspection -------------------------------------------------------

    def fail(self, endpoint: str, status: int, *, times: int = 1, retry_after: str | None = None,
             body: str = "") -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        text = body or json.dumps({"error": {"message": f"injected failure {status}"}})
        self._failures.setdefault(endpoint, []).extend([(status, headers, text)] * times)

    def answer(self, endpoint: str, status: int, body: bytes | str, *, headers: dict[str, str] | None = None,
               times: int = 1) -> None:
        """Serve ``body`` as it is (no auth check, no compression) for the next ``times`` calls."""
        self._failures.setdefault(endpoint, []).extend([(status, dict(headers or {}), body)] * times)

    def clear_answers(self) -> None:
        """Forget every queued failure and answer not served yet."""
        with self._lock:
            self._failures.clear()

    def calls(self, endpoint: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.requests if s.endpoint == endpoint]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    # --- serving ----------------------------------------------------------------------------

    def __enter__(self) -> "FakeAmplitude":
        self._server = make_server("127.0.0.1", 0, self, threaded=True, request_handler=_QuietHandler)
        # A short poll interval only makes shutdown prompt; nothing waits on it.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01},
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        assert self._thread is not None
        self._thread.join()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self._respond(Request(environ))(environ, start_response)

    def _respond(self, request: Request) -> Response:
        adapter = self._map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except HTTPException as exc:
            return Response(json.dumps({"error": exc.description}), exc.code, mimetype="application/json")
        if endpoint == "seed_status":
            endpoint = "status" if self.seed_variant else "unknown"
        elif endpoint == "status" and self.seed_variant:
            endpoint = "unknown"
        with self._lock:
            self.requests.append(Seen(endpoint, request.method, request.path, dict(request.args),
                                      {k.lower(): v for k, v in request.headers.items()}))
            queue = self._failures.get(endpoint)
            failure = queue.pop(0) if queue else None
        if endpoint == "unknown":
            return _json({"error": "Not found"}, 404)
        if failure:
            status, headers, text = failure
            others = {k: v for k, v in headers.items() if k != "Content-Type"}
            return Response(text, status, headers=others, content_type=headers.get("Content-Type", "application/json"))
        if endpoint == "presigned":
            return self._presigned(request, args["key"])
        if not self._authorised(request):
            return Response("Invalid API key or secret key", 401, mimetype="text/plain")
        with self._lock:
            return getattr(self, f"_{endpoint}")(request, args.get("key"))

    def _authorised(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        expected = base64.b64encode(f"{self.api_key}:{self.secret_key}".encode()).decode()
        return header == f"Basic {expected}"

    def _list(self, request: Request, key: None) -> Response:
        return _json({"cohorts": self.cohorts})

    def _request(self, request: Request, cohort_id: str) -> Response:
        if cohort_id not in self.members:
            return _json({"error": {"message": f"Cohort {cohort_id} not found"}}, 404)
        request_id = f"req-{len(self._jobs) + 1}"
        self._jobs[request_id] = {"cohort_id": cohort_id, "props": request.args.get("props") == "1", "polls": 0}
        return _json({"request_id": request_id, "cohort_id": cohort_id}, 202)

    def _status(self, request: Request, request_id: str) -> Response:
        job = self._jobs.get(request_id)
        if job is None:
            return _json({"error": {"message": "Unknown request"}}, 404)
        job["polls"] += 1
        done = job["polls"] > self.polls
        if self.seed_variant:
            state = ("complete" if self.job_status == "JOB COMPLETED" else "failed") if done else (
                "queued" if job["polls"] == 1 else "computing")
            return _json({"request_id": request_id, "status": state})
        status = self.job_status if done else "JOB INPROGRESS"
        return _json({"request_id": request_id, "cohort_id": job["cohort_id"], "async_status": status},
                     200 if done else 202)

    def _file(self, request: Request, request_id: str) -> Response:
        job = self._jobs.get(request_id)
        if job is None or job["polls"] <= self.polls:
            return _json({"error": {"message": "Export not ready"}}, 404)
        body = self.file_body if self.file_body is not None else export_csv(self.members[job["cohort_id"]],
                                                                           job["props"])
        if self.redirect:
            key = f"{request_id}-{len(self._objects) + 1}.csv"
            self._objects[key] = body
            location = f"{request.host_url}s3/{key}?X-Amz-Expires=60&X-Amz-Signature=fakesignature"
            return Response("", 302, headers={"Location": location})
        return self._payload(body)

    def _upload(self, request: Request, key: None) -> Response:
        try:
            body = json.loads(request.get_data())
        except ValueError:
            return _json({"error": {"message": "Invalid JSON"}}, 400)
        problem = _upload_problem(body)
        if problem:
            return _json({"error": {"message": problem}}, 400)
        known = {m["amplitude_id"]: m for members in self.members.values() for m in members}
        by_user = {m["user_id"]: m for m in known.values() if m["user_id"]}
        members = []
        for value in body["ids"]:
            if body["id_type"] == "BY_AMP_ID":
                member = known.get(value) or {"amplitude_id": value, "user_id": ""}
            else:
                member = by_user.get(value) or {"amplitude_id": str(900000000000 + len(known)), "user_id": value}
            known[member["amplitude_id"]] = member
            by_user.setdefault(member["user_id"], member)
            members.append(member)
        cohort_id = body.get("existing_cohort_id")
        if cohort_id is not None:
            listed = next((c for c in self.cohorts if c["id"] == cohort_id), None)
            if listed is None:
                return _json({"error": {"message": f"Cohort {cohort_id} not found"}}, 404)
            listed.update(name=body["name"], size=len(members), published=body["published"])
        else:
            cohort_id = f"up{len(self.uploads) + 1:05d}"
            self.cohorts.append({"appId": body["app_id"], "archived": False, "description": None, "id": cohort_id,
                                 "name": body["name"], "owners": [body["owner"]] if body.get("owner") else [],
                                 "published": body["published"], "size": len(members)})
        self.members[cohort_id] = members
        self.uploads.append(body)
        return _json({"cohort_id": cohort_id})

    def _presigned(self, request: Request, key: str) -> Response:
        # S3 refuses a pre-signed request that carries a second authorisation.
        if "Authorization" in request.headers or "X-Amz-Signature" not in request.args:
            return Response("<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed"
                            "</Message></Error>", 400, mimetype="application/xml")
        with self._lock:
            body = self._objects.get(key)
        if body is None:
            return Response("<Error><Code>NoSuchKey</Code></Error>", 404, mimetype="application/xml")
        return self._payload(body)

    def _payload(self, body: bytes) -> Response:
        if self.compression == "gzip":
            return Response(gzip.compress(body), 200, mimetype="application/gzip")
        if self.compression == "content-encoding":
            return Response(gzip.compress(body), 200, headers={"Content-Encoding": "gzip"}, mimetype="text/csv")
        return Response(body, 200, mimetype="text/csv")


MAX_UPLOAD_IDS = 100_000


def _upload_problem(body: Any) -> str:
    """Why Amplitude would refuse an upload body ("" if it would not)."""
    if not isinstance(body, dict):
        return "The body must be a JSON object"
    allowed = {"name", "app_id", "id_type", "ids", "owner", "published", "existing_cohort_id"}
    if set(body) - allowed:
        return f"Unknown fields: {sorted(set(body) - allowed)}"
    if not isinstance(body.get("name"), str) or not body["name"]:
        return "name is required"
    if not isinstance(body.get("app_id"), int) or isinstance(body["app_id"], bool):
        return "app_id is required (an integer)"
    if body.get("id_type") not in ("BY_USER_ID", "BY_AMP_ID"):
        return "id_type must be BY_USER_ID or BY_AMP_ID"
    if not isinstance(body.get("published"), bool):
        return "published is required (a boolean)"
    ids = body.get("ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        return "ids must be a non-empty list of ids"
    if len(ids) > MAX_UPLOAD_IDS:
        return f"At most {MAX_UPLOAD_IDS} ids per request"
    if body["id_type"] == "BY_AMP_ID" and not all(i.isdigit() for i in ids):
        return "Amplitude ids are integers"
    for optional in ("owner", "existing_cohort_id"):
        if optional in body and not isinstance(body[optional], str):
            return f"{optional} must be a string"
    return ""


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status, mimetype="application/json")


@pytest.fixture
def fake_amplitude() -> Iterator[FakeAmplitude]:
    with FakeAmplitude() as server:
        yield server

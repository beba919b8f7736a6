"""Secrets never leave the process: a sync against a destination that echoes every spelling of
every secret back — in error bodies, retried answers and headers — and a sync into
`portalspec serve`, then every artefact is searched for every spelling (and the start of
every spelling, so a secret cut in half is found too): stdout, stderr, the state file,
serve's log, `/_portalspec/requests` and `/_portalspec/state`."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable, Iterable, Iterator
from urllib.parse import quote, quote_plus

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request as WsgiRequest
from werkzeug.wrappers import Response as WsgiResponse

from portalspec.testing import running_destination

API_KEY = 'akQ7/+=é "x\\y01'
SECRET_KEY = "skZ4=+/ü q'2&x"
TOKEN = 'tkW9/+ =é"\\3?#'
SECRETS = (API_KEY, SECRET_KEY, TOKEN)
BASIC = base64.b64encode(f"{API_KEY}:{SECRET_KEY}".encode()).decode()

DEFINITION = """\
portalspec: 1
name: leaky
display_name: Leaky
type: list
auth: {method: basic}
headers:
  X-Token: tok $token
custom_fields:
  - {variable: token, display_name: Token, type: string, secret: true}
mapping_fields:
  - {variable: uid, mapping_display_name: User ID Mapping, display_name: User ID}
endpoints:
  create_list:
    method: POST
    url: http://leaky.example/t/$token/lists?k=$token
    payload: '{"name": "$amp_cohort_name", "t": "$token"}'
    list_id: {path: id}
    example_response: {"id": "L1"}
  add_users:
    method: POST
    url: http://leaky.example/t/$token/lists/$list_id/add?k=$token
    payload: '{"ids": $items, "t": "$token"}'
    item_template: '"$uid"'
  remove_users:
    method: POST
    url: http://leaky.example/t/$token/lists/$list_id/remove?k=$token
    payload: '{"ids": $items, "t": "$token"}'
    item_template: '"$uid"'
"""


def spellings(secret: str) -> set[str]:
    """Every spelling a transport, a log or a traceback can give a secret — written here apart
    from portalspec's own redactor, so that this test checks it rather than repeats it."""
    found = {secret, repr(secret.encode())[2:-1]}
    for text in (json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]):
        found |= {text, text.replace("/", "\\/")}
    for encoded in (quote(secret, safe=""), quote_plus(secret), quote(secret, safe="/")):
        found |= {encoded, re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), encoded)}
    return found


EVERY = sorted({s for secret in SECRETS for s in spellings(secret)} | spellings(BASIC), key=len, reverse=True)


def leaks(text: str) -> list[str]:
    """Spellings (or their first 10 characters: a secret cut short) found in ``text``."""
    return [s for s in EVERY if s in text or (len(s) > 10 and s[:10] in text)]


class Echo:
    """A hostile destination: each answer echoes every spelling of every secret, placed so an
    excerpt's cut falls inside one; the first answer to each request is a retried 500."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, environ: dict, start_response):  # type: ignore[no-untyped-def]
        request = WsgiRequest(environ)
        echo = "x" * 140 + " ".join(EVERY) + " " + request.get_data(as_text=True) + str(dict(request.headers))
        key = request.path
        with self.lock:
            first = key not in self.seen
            self.seen.add(key)
        if request.path.endswith("/lists") and not first:
            answer = WsgiResponse(json.dumps({"id": "L1", "echo": echo}), 200, mimetype="application/json")
        else:
            status = 500 if first else 400
            answer = WsgiResponse(json.dumps({"error": echo, "secret": EVERY}), status, mimetype="application/json",
                                  headers=[("X-Echo", quote(echo[:2000]))])
        return answer(environ, start_response)


def write_case(folder: Path, definition: str, fields: dict[str, str], cohort: list[str]) -> Path:
    """A definition, its values file (these fields) and a cohort file, in ``folder``."""
    (folder / "integration.yaml").write_text(definition, encoding="utf-8")
    values = {"fields": fields, "mappings": {"uid": "user_id"}, "cohort": {"id": "9", "name": "Leak test"}}
    (folder / "values.yaml").write_text(json.dumps(values), encoding="utf-8")
    (folder / "cohort.txt").write_text("\n".join(cohort) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def files(tmp_path: Path) -> Path:
    return write_case(tmp_path, DEFINITION, {"api_key": API_KEY, "secret_key": SECRET_KEY, "token": TOKEN},
                      [f"{i:06x}-{i}@example.com" for i in range(30)])


@contextlib.contextmanager
def serving(app: Callable[..., Iterable[bytes]]) -> Iterator[str]:
    """A WSGI app served on a free local port, in a thread, for the block."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@pytest.fixture
def echo_server() -> Iterator[str]:
    with serving(Echo()) as url:
        yield url


def run_sync(files: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "portalspec", "sync", str(files / "integration.yaml"), "--values",
         str(files / "values.yaml"), "--cohort-file", str(files / "cohort.txt"), "--state", str(files / "s.db"),
         "--base-url", url, "--backoff-base", "0", "--max-retries", "1", "--timeout", "5", *extra],
        capture_output=True, text=True, timeout=120)


def state_bytes(files: Path) -> str:
    return "".join(p.read_bytes().decode("latin-1") + p.read_bytes().decode("utf-8", "replace")
                   for p in files.glob("s.db*"))


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_a_sync_against_a_destination_echoing_every_secret_leaks_none(files: Path, echo_server: str, fmt: str):
    result = run_sync(files, echo_server, "--format", fmt)
    assert result.returncode == 1, result.stderr  # the batches failed: owed, and said so
    assert "Traceback" not in result.stderr
    assert "********" in result.stdout + result.stderr  # the echoes were there, masked
    assert leaks(result.stdout) == [] and leaks(result.stderr) == []
    assert leaks(state_bytes(files)) == []


def test_a_sync_into_serve_leaks_no_secret_to_its_log_requests_or_state(files: Path):
    log: list[str] = []
    with running_destination(files / "integration.yaml", files / "values.yaml", log=log.append) as dest:
        result = run_sync(files, dest.url, "--format", "json")
        assert result.returncode == 0, result.stdout + result.stderr
        import urllib.request

        shown = {path: urllib.request.urlopen(dest.url + path, timeout=10).read().decode()
                 for path in ("/_portalspec/requests", "/_portalspec/state")}
    assert log and "********" in "\n".join(log) + shown["/_portalspec/requests"]
    assert leaks("\n".join(log)) == []
    assert leaks(shown["/_portalspec/requests"]) == [] and leaks(shown["/_portalspec/state"]) == []
    assert leaks(result.stdout + result.stderr) == [] and leaks(state_bytes(files)) == []


# --- OAuth2: the client secret, the refresh token (and a rotated one) and every access token --

CLIENT_ID, CLIENT_SECRET, REFRESH = "ciD3/+=é x", "csK8=+/ü q'2&x", 'rtF5/+ =é"\\9?#'
ACCESS, ACCESS_2, ROTATED = 'atQ9/+= "x\\y?#&%41', "atZ2/+=&x%20y", "rrW4/+=ö q&x#1"
OAUTH_EVERY = sorted({s for secret in (CLIENT_ID, CLIENT_SECRET, REFRESH, ACCESS, ACCESS_2, ROTATED)
                      for s in spellings(secret)}, key=len, reverse=True)

OAUTH_DEFINITION = """\
portalspec: 1
name: leaky-oauth
display_name: Leaky OAuth
type: list
auth: {method: oauth2, grant: refresh_token, token_url: "http://auth.leaky.example/oauth/token", scopes: [w]}
mapping_fields:
  - {variable: uid, mapping_display_name: User ID Mapping, display_name: User ID}
endpoints:
  create_list:
    method: POST
    url: http://leaky.example/lists
    payload: '{"name": "$amp_cohort_name"}'
    list_id: {path: id}
    example_response: {"id": "L1"}
  add_users:
    method: POST
    url: http://leaky.example/lists/$list_id/add
    payload: '{"ids": $items}'
    item_template: '"$uid"'
  remove_users:
    method: POST
    url: http://leaky.example/lists/$list_id/remove
    payload: '{"ids": $items}'
    item_template: '"$uid"'
"""


def oauth_leaks(text: str, every: list[str] = OAUTH_EVERY) -> list[str]:
    return [s for s in every if s in text or (len(s) > 10 and s[:10] in text)]


class OAuthEcho:
    """A hostile provider: its token endpoint issues ACCESS with a rotated refresh token, then
    ACCESS_2, echoing the request (client secret, refresh token) and every spelling of every
    secret; its API refuses each path's first request (401, so the token is refreshed), then
    echoes it all back in 500s and 400s — create_list aside, which then answers its id."""

    def __init__(self, token_status: int = 200) -> None:
        self.seen: set[str] = set()
        self.issued = 0
        self.token_status = token_status
        self.lock = threading.Lock()

    def __call__(self, environ: dict, start_response):  # type: ignore[no-untyped-def]
        request = WsgiRequest(environ)
        echo = "x" * 140 + " ".join(OAUTH_EVERY) + " " + request.get_data(as_text=True) + str(dict(request.headers))
        with self.lock:
            first = request.path not in self.seen
            self.seen.add(request.path)
            if request.path == "/oauth/token":
                self.issued += 1
                issued = self.issued
        if request.path == "/oauth/token":
            body = {"access_token": ACCESS if issued == 1 else ACCESS_2, "refresh_token": ROTATED, "echo": echo} \
                if self.token_status == 200 else {"error": "invalid_grant", "error_description": echo}
            answer = WsgiResponse(json.dumps(body), self.token_status, mimetype="application/json")
        elif first:
            answer = WsgiResponse(json.dumps({"error": echo}), 401, mimetype="application/json")
        elif request.path.endswith("/lists"):
            answer = WsgiResponse(json.dumps({"id": "L1", "echo": echo}), 200, mimetype="application/json")
        else:
            answer = WsgiResponse(json.dumps({"error": echo, "secret": OAUTH_EVERY}), 400, mimetype="application/json",
                                  headers=[("X-Echo", quote(echo[:2000]))])
        return answer(environ, start_response)


@pytest.fixture
def oauth_files(tmp_path: Path) -> Path:
    write_case(tmp_path, OAUTH_DEFINITION, {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                            "refresh_token": REFRESH}, [f"u{i}" for i in range(5)])
    (tmp_path / "users.csv").write_text("operation,uid\nadd,u1\nremove,u2\n", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_an_oauth2_sync_against_a_provider_echoing_every_secret_and_token_leaks_none(oauth_files: Path, fmt: str):
    app = OAuthEcho()
    with serving(app) as url:
        result = run_sync(oauth_files, url, "--format", fmt)
    assert result.returncode == 1, result.stderr  # the batches failed: owed, and said so
    assert "Traceback" not in result.stderr and app.issued == 3  # fetched, then refreshed on each path's first 401
    assert "rotates them" in result.stdout and "********" in result.stdout
    assert oauth_leaks(result.stdout) == [] and oauth_leaks(result.stderr) == []
    assert oauth_leaks(state_bytes(oauth_files)) == []


@pytest.mark.parametrize("status", [200, 400])
def test_an_oauth2_endpoint_test_against_an_echoing_provider_leaks_none(oauth_files: Path, status: int):
    with serving(OAuthEcho(status)) as url:
        result = subprocess.run(
            [sys.executable, "-m", "portalspec", "test", str(oauth_files / "integration.yaml"), "--values",
             str(oauth_files / "values.yaml"), "--users", str(oauth_files / "users.csv"), "--base-url", url,
             "--timeout", "5", "--format", "json"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert report["steps"][0]["endpoint"] == "token" and report["steps"][0]["ok"] is (status == 200)
    # (refused, the run learns no token: the echoed ones are text it cannot know to be tokens)
    known = OAUTH_EVERY if status == 200 else sorted(
        {s for secret in (CLIENT_ID, CLIENT_SECRET, REFRESH) for s in spellings(secret)}, key=len, reverse=True)
    assert oauth_leaks(result.stdout, known) == [] and oauth_leaks(result.stderr, known) == []


def test_an_oauth2_render_shows_no_credential_in_any_format(oauth_files: Path):
    (oauth_files / "users.csv").write_text("operation,uid\nadd,u1\n", encoding="utf-8")
    for fmt in ("json", "curl", "http", "har"):
        for reveal in ((), ("--reveal-secrets",)):
            result = subprocess.run(
                [sys.executable, "-m", "portalspec", "render", str(oauth_files / "integration.yaml"), "--values",
                 str(oauth_files / "values.yaml"), "--users", str(oauth_files / "users.csv"), "--format", fmt, *reveal],
                capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, result.stderr
            assert oauth_leaks(result.stdout) == [], (fmt, reveal)
            assert "LEAKY_OAUTH_ACCESS_TOKEN" in result.stdout or "Bearer ********" in result.stdout


def test_an_oauth2_sync_into_serve_leaks_no_token_to_its_log_requests_or_state(oauth_files: Path):
    log: list[str] = []
    issued: list[str] = []
    with running_destination(oauth_files / "integration.yaml", oauth_files / "values.yaml", log=log.append,
                             token_uses=1) as dest:
        tokens = dest.destination.tokens
        assert tokens is not None
        answer = tokens.answer

        def recording(*args):  # type: ignore[no-untyped-def]
            result = answer(*args)
            issued.append(result.body.get("access_token", ""))
            return result

        tokens.answer = recording  # type: ignore[method-assign]
        result = run_sync(oauth_files, dest.url, "--format", "json")
        assert result.returncode == 0, result.stdout + result.stderr
        import urllib.request

        shown = {path: urllib.request.urlopen(dest.url + path, timeout=10).read().decode()
                 for path in ("/_portalspec/requests", "/_portalspec/state")}
    assert len(issued) >= 2 and all(issued)  # (a token is good for 1 request: refreshed during the run)
    artefacts = ["\n".join(log), shown["/_portalspec/requests"], shown["/_portalspec/state"], result.stdout,
                 result.stderr, state_bytes(oauth_files)]
    every = sorted({s for secret in (CLIENT_ID, CLIENT_SECRET, REFRESH, *issued) for s in spellings(secret)},
                   key=len, reverse=True)
    assert [s for text in artefacts for s in every if s in text] == []
    assert "********" in shown["/_portalspec/requests"]

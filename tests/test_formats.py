"""Formats (json, curl, http, har): snapshots of every example, and curl/HTTP replayed against a local server.

Snapshots: tests/snapshots/<example>.<format> hold exactly what

    portalspec render integrations/<example>/integration.yaml --values .../values.yaml \
        --users .../users.csv --format <format> --now 2026-01-01T00:00:00Z --seed 7

prints. After an intended change to the output, rewrite them with

    PORTALSPEC_UPDATE_SNAPSHOTS=1 python3 -m pytest -q tests/test_formats.py

and read the diff before committing it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import portalspec
from portalspec import Cohort, Request, Values, read_users
from portalspec.formats import FORMATS, env_name, format_requests, to_curl, to_har_entry
from portalspec.masking import MASK

from .render_helpers import (EXAMPLES, KITCHEN, NOW_TEXT, VAULT, VAULT_API_KEY, VAULT_TOKEN, VAULT_USERS, VAULT_VALUES,
                             adds, cli, cli_render, compile_text, context, kitchen_values, render_example, write_files)

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
UPDATE = os.environ.get("PORTALSPEC_UPDATE_SNAPSHOTS") == "1"
CURL = shutil.which("curl") or "/usr/bin/curl"


# --- snapshots ------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", EXAMPLES)
def test_snapshot(name, fmt):
    result = cli_render(name, fmt)
    assert result.exit_code == 0, result.output
    path = SNAPSHOTS / f"{name}.{fmt}"
    if UPDATE:
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_bytes(result.stdout_bytes)
    assert path.is_file(), f"no snapshot {path.name}; create it with PORTALSPEC_UPDATE_SNAPSHOTS=1"
    assert result.stdout_bytes == path.read_bytes(), f"{path.name} differs; if intended, rewrite with " \
                                                     "PORTALSPEC_UPDATE_SNAPSHOTS=1 and review the diff"


def test_every_snapshot_belongs_to_an_example_and_format():
    assert sorted(p.name for p in SNAPSHOTS.iterdir() if not p.name.startswith(".")) == sorted(f"{n}.{f}" for n in EXAMPLES for f in FORMATS)


@pytest.mark.parametrize("name", EXAMPLES)
def test_json_snapshot_agrees_with_the_library(name):
    shown = json.loads((SNAPSHOTS / f"{name}.json").read_text(encoding="utf-8"))
    assert shown == [r.to_dict() for r in render_example(name, mask_secrets=True)]


@pytest.mark.parametrize("name", EXAMPLES)
def test_har_snapshot_is_a_har_log_of_the_requests(name):
    log = json.loads((SNAPSHOTS / f"{name}.har").read_text(encoding="utf-8"))["log"]
    assert log["version"] == "1.2" and log["creator"]["name"] == "portalspec"
    requests = render_example(name, mask_secrets=True)
    assert [e["comment"] for e in log["entries"]] == [r.endpoint for r in requests]
    for entry, request in zip(log["entries"], requests):
        assert entry["startedDateTime"] == "2026-01-01T00:00:00.000Z"
        assert entry == to_har_entry(request, "2026-01-01T00:00:00.000Z", env_prefix=name)  # (folder = name)
        body = entry["request"].get("postData")  # (none for a request without a body)
        assert entry["request"]["bodySize"] == (len(body["text"].encode("utf-8")) if body else 0)
        assert (body is None) == (request.body is None)


# --- the formats, one by one -----------------------------------------------------------------

def _request(url="https://api.example/a/b?x=1&y=%C3%A9&z=", body='{"a": "b"}', **kw) -> Request:
    headers = kw.pop("headers", (("Content-Type", "application/json"), ("X-K", "v")))
    return Request("POST", url, headers, None if body is None else body.encode("utf-8"), "add_users", 2, **kw)


def test_to_dict():
    assert _request().to_dict() == {"endpoint": "add_users", "method": "POST", "url": "https://api.example/a/b?x=1&y=%C3%A9&z=",
                                    "headers": {"Content-Type": "application/json", "X-K": "v"}, "body": '{"a": "b"}'}
    assert _request(body=None).to_dict()["body"] is None


def test_to_http_is_the_raw_message():
    text = _request(body='{"a": "é"}').to_http()
    assert text == ("POST /a/b?x=1&y=%C3%A9&z= HTTP/1.1\r\nHost: api.example\r\nContent-Type: application/json\r\n"
                    'X-K: v\r\nContent-Length: 11\r\n\r\n{"a": "é"}')
    assert _request(url="https://h.example:8443").to_http().startswith("POST / HTTP/1.1\r\nHost: h.example:8443\r\n")
    assert "Content-Length" not in _request(body=None).to_http()


def test_to_har_entry():
    entry = _request(body='{"a": "é"}').to_har_entry("2026-01-01T00:00:00.000Z")
    assert entry["startedDateTime"] == "2026-01-01T00:00:00.000Z"
    assert entry["comment"] == "add_users"
    request = entry["request"]
    assert request["method"] == "POST" and request["httpVersion"] == "HTTP/1.1"
    assert request["queryString"] == [{"name": "x", "value": "1"}, {"name": "y", "value": "é"}, {"name": "z", "value": ""}]
    assert request["headers"] == [{"name": "Content-Type", "value": "application/json"}, {"name": "X-K", "value": "v"}]
    assert request["postData"] == {"mimeType": "application/json", "text": '{"a": "é"}'}
    assert request["bodySize"] == 11
    assert "postData" not in _request(body=None).to_har_entry()["request"]


def _shell_words(command: str) -> list[str]:
    """The arguments the shell would pass to curl (the command run with printf instead)."""
    assert command.startswith("curl ")
    out = subprocess.run(["sh", "-c", "printf '%s\\0' " + command[len("curl "):]], capture_output=True, check=True)
    return out.stdout.decode("utf-8").split("\0")[:-1]


def test_to_curl_quotes_every_part_for_the_shell():
    nasty = """it's "quoted" $HOME `id` $(id) \\ ! * ? [a] {b,c} ~ \n\ttab é😀 '' '"""
    request = _request(url="https://api.example/it's/$x?q=[1]", body=json.dumps({"v": nasty}),
                       headers=(("Content-Type", "application/json"), ("X-V", nasty.replace("\n", " "))))
    words = _shell_words(request.to_curl())
    assert words == ["--globoff", "--path-as-is", "-X", "POST", "https://api.example/it's/$x?q=[1]",
                     "-H", "Content-Type: application/json", "-H", "X-V: " + nasty.replace("\n", " "),
                     "--data-raw", json.dumps({"v": nasty})]


def test_masked_curl_uses_shell_variables_named_by_prefix():
    values = Values({"api_key": "K", "account_token": "T"}, {"user_id": "user_id"}, Cohort("1", "c"))
    request = next(compile_text(VAULT).render(values, context=context(), mask_secrets=True))
    command = to_curl(request, "vault")
    lines = command.splitlines()
    assert lines[:3] == ["# Secrets are masked; export them first:", "#   export VAULT_ACCOUNT_TOKEN='...'",
                         "#   export VAULT_API_KEY='...'"]
    assert 'https://api.vault.example/accounts/"${VAULT_ACCOUNT_TOKEN}"' in command
    assert "-H 'X-Account: acct-'\"${VAULT_ACCOUNT_TOKEN}\"" in command
    assert "-H 'X-Api-Key: '\"${VAULT_API_KEY}\"" in command
    assert '"token": "\'"${VAULT_ACCOUNT_TOKEN}"\'"' in command
    assert "pssecret" not in command
    assert env_name("relay-basic", "api_key") == "RELAY_BASIC_API_KEY"
    assert env_name("", "api_key") == "API_KEY"
    assert env_name("8x8", "api_key") == "_8X8_API_KEY"  # a shell name cannot start with a digit


def test_masked_curl_of_an_integration_named_with_a_leading_digit_runs(server):
    integration = compile_text(KITCHEN.replace("name: kitchen", "name: 8x8"))
    request = next(integration.render(kitchen_values(), context=context(), mask_secrets=True))
    command = to_curl(request, integration.name)
    assert "#   export _8X8_BEARER_TOKEN='...'" in command
    _run_sh(command.replace(_origin(request), _local(server), 1), {"_8X8_BEARER_TOKEN": "tok"})
    [record] = _take(server)
    _assert_arrived(record, next(integration.render(kitchen_values(), context=context())))


def test_masked_basic_auth_in_curl_is_rebuilt_from_two_variables():
    request = render_example("relay-basic", mask_secrets=True)[0]
    command = to_curl(request, "relay-basic")
    assert '-u "${RELAY_BASIC_API_KEY}:${RELAY_BASIC_SECRET_KEY}"' in command
    assert "Authorization" not in command
    assert "#   export RELAY_BASIC_API_KEY='...'\n#   export RELAY_BASIC_SECRET_KEY='...'" in command


def test_format_requests_streams_each_format():
    requests = render_example("infobip", mask_secrets=True)
    curl = "".join(format_requests(requests, "curl", env_prefix="infobip"))
    assert curl.count("# Secrets are masked") == 1  # said once while it does not change
    assert [line for line in curl.splitlines() if line.startswith("# ") and "export" not in line and "Secrets" not in line] == [
        "# create_list", "# add_users (3 users)", "# remove_users (2 users)"]
    one = "".join(format_requests(render_example("relay-header")[-1:], "curl"))
    assert "# remove_users (1 user)\n" in one
    http = "".join(format_requests(requests, "http"))
    assert http.count(" HTTP/1.1\r\n") == 3
    assert "".join(format_requests([], "json")) == "[]\n"
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        list(format_requests(requests, "xml"))


# --- secrets in every format, through the CLI -------------------------------------------------

@pytest.fixture
def vault(tmp_path):
    return write_files(tmp_path, {"integration.yaml": VAULT, "values.yaml": VAULT_VALUES, "users.csv": VAULT_USERS})


def _vault_render(files, fmt, *extra):
    return cli("render", str(files["integration.yaml"]), "--values", str(files["values.yaml"]), "--users",
               str(files["users.csv"]), "--format", fmt, "--now", NOW_TEXT, "--seed", "7", *extra)


@pytest.mark.parametrize("fmt", FORMATS)
def test_secrets_are_masked_by_origin_in_every_format(vault, fmt):
    result = _vault_render(vault, fmt)
    assert result.exit_code == 0, result.output
    assert VAULT_TOKEN not in result.stdout and VAULT_API_KEY not in result.stdout
    assert "pssecret" not in result.stdout
    if fmt == "curl":
        assert result.stdout.count('"${VAULT_ACCOUNT_TOKEN}"') == 3 + 1 + 1 + 1  # URLs, header, two bodies
        assert "#   export VAULT_ACCOUNT_TOKEN='...'" in result.stdout
    else:
        # the URL path, the X-Account header, the auth header and the payloads
        assert f"/accounts/{MASK}/lists" in result.stdout
        assert f"acct-{MASK}" in result.stdout
        assert result.stdout.count(MASK) >= 3 * 2 + 1 + 2
    if fmt == "har":  # sizes are of the body as shown, as Content-Length is in the http format
        for entry in json.loads(result.stdout)["log"]["entries"]:
            body = entry["request"].get("postData")  # (none for a request without a body)
        assert entry["request"]["bodySize"] == (len(body["text"].encode("utf-8")) if body else 0)
    revealed = _vault_render(vault, fmt, "--reveal-secrets").stdout
    assert VAULT_TOKEN in revealed and VAULT_API_KEY in revealed and MASK not in revealed
    assert f"/accounts/{VAULT_TOKEN}/lists" in revealed


# --- replaying against a local server --------------------------------------------------------

class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _record(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        # http.server decodes header bytes as latin-1; undo it to compare UTF-8 text
        headers = [(k, v.encode("latin-1").decode("utf-8")) for k, v in self.headers.items()]
        with self.server.lock:  # type: ignore[attr-defined]
            self.server.records.append((self.command, self.path, headers, body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _record

    def log_message(self, *args) -> None:  # quiet
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    httpd.records, httpd.lock = [], threading.Lock()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _take(server) -> list:
    with server.lock:
        records, server.records[:] = list(server.records), []
    return records


def _local(server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def _origin(request: Request) -> str:
    parts = urlsplit(request.url)
    return f"{parts.scheme}://{parts.netloc}"


def _run_sh(command: str, extra_env: dict[str, str] | None = None) -> None:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(NO_PROXY="*", PATH=os.path.dirname(CURL) + os.pathsep + env.get("PATH", ""), **(extra_env or {}))
    done = subprocess.run(["sh", "-c", command], capture_output=True, timeout=30, env=env)
    assert done.returncode == 0, done.stderr.decode()


def _assert_arrived(record, request: Request) -> None:
    method, path, headers, body = record
    assert method == request.method
    assert path == request.target
    for name, value in request.headers:
        arrived = [v for k, v in headers if k.lower() == name.lower()]
        assert arrived == [value], (name, arrived, value)
    assert body == (request.body if request.body is not None else b"")  # no body arrives as empty


def _commands(curl_text: str) -> list[str]:
    blocks = curl_text.split("\n\n")
    return [b for b in blocks if "curl " in b]


@pytest.mark.parametrize("name", EXAMPLES)
def test_curl_output_reproduces_the_requests_byte_for_byte(server, name):
    requests = render_example(name)
    result = cli_render(name, "curl", "--reveal-secrets")
    assert result.exit_code == 0
    commands = _commands(result.stdout)
    assert len(commands) == len(requests)
    for command, request in zip(commands, requests):
        assert command.count(_origin(request)) == 1
        # A runtime credential (OAuth2's access token) stays a shell variable even revealed:
        # exported as the placeholder the library's request carries, it arrives as that.
        runtime = {env_name(name, variable): sentinel for sentinel, variable in request.masked
                   if variable.startswith("@")}
        _run_sh(command.replace(_origin(request), _local(server), 1), runtime)
        [record] = _take(server)
        _assert_arrived(record, request)


def test_curl_reproduces_awkward_values_and_an_empty_header(server):
    values = kitchen_values("Q\"é\u2028 it's $HOME", label="a\\b'`id`", segment="../x y", query="&=#%", tag="")
    requests = list(compile_text(KITCHEN).render(values, adds("é", "\n", "it's", "😀"), context=context()))
    assert requests[0].header("X-Tag") == ""
    for request in requests:
        command = to_curl(request)
        _run_sh(command.replace(_origin(request), _local(server), 1))
        [record] = _take(server)
        _assert_arrived(record, request)


def test_masked_curl_runs_with_the_secret_exported(server, vault):
    integration = compile_text(VAULT)
    values = Values({"api_key": VAULT_API_KEY, "account_token": VAULT_TOKEN}, {"user_id": "user_id"},
                    Cohort("11", "Vault users"))
    requests = list(integration.render(values, read_users(vault["users.csv"], integration.definition, values),
                                       context=context()))
    commands = _commands(_vault_render(vault, "curl").stdout)
    assert len(commands) == len(requests) == 3
    assert all(VAULT_TOKEN not in c for c in commands)
    secrets = {"VAULT_API_KEY": VAULT_API_KEY, "VAULT_ACCOUNT_TOKEN": VAULT_TOKEN}
    for command, request in zip(commands, requests):
        _run_sh(command.replace(_origin(request), _local(server), 1), secrets)
        [record] = _take(server)
        _assert_arrived(record, request)


def test_masked_basic_auth_curl_runs_with_both_secrets_exported(server):
    real = render_example("relay-basic")[0]
    command = _commands("".join(format_requests(render_example("relay-basic", mask_secrets=True)[:1], "curl",
                                                env_prefix="relay-basic")))[0]
    assert "test-key-123" not in command
    _run_sh(command.replace(_origin(real), _local(server), 1),
            {"RELAY_BASIC_API_KEY": "test-key-123", "RELAY_BASIC_SECRET_KEY": "test-secret-456"})
    [record] = _take(server)
    _assert_arrived(record, real)


def test_raw_http_output_is_what_a_server_reads(server):
    requests = render_example("nested-audiences") + list(compile_text(KITCHEN).render(
        kitchen_values('Q"é\u2028', label="a\\b", segment="../x", query="&="), adds("é", "\n"), context=context()))
    for request in requests:
        with socket.create_connection(server.server_address, timeout=10) as conn:
            conn.sendall(request.to_http().encode("utf-8"))
            conn.recv(65536)
        [record] = _take(server)
        _assert_arrived(record, request)


@pytest.mark.parametrize("odd", ["\u0085", "\u2028", "\u2029", "\x1c"])
def test_json_output_stays_json_whatever_a_header_or_body_holds(odd):
    """A regression: the re-indent split lines at U+0085 and U+2028/2029 inside strings."""
    request = _request(headers=(("X-K", f"a{odd}b"),), body=json.dumps({"v": f"x{odd}y"}, ensure_ascii=False))
    shown = json.loads("".join(format_requests([request, request], "json")))
    assert shown[0]["headers"]["X-K"] == f"a{odd}b" and json.loads(shown[1]["body"]) == {"v": f"x{odd}y"}


@pytest.mark.parametrize("value", ["\x0b", "\x0c", "a\x0bb"])
def test_a_header_value_with_a_control_character_is_refused_not_dropped(value):
    """A regression: curl dropped a header whose value was only \\x0b or \\x0c."""
    integration = compile_text(KITCHEN)
    with pytest.raises(portalspec.InputError, match=r"control character \(U\+000[BC]\)"):
        list(integration.render(kitchen_values(tag=value), context=context()))

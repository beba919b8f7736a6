"""OAuth2 (`auth: {method: oauth2, …}`, PS515), end to end: the token placeholder in every
render format, the token endpoint's two sides (portalspec.oauth2), refresh on a 401, rotation,
token endpoint failures, and `test` and `sync` against `portalspec serve`."""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import parse_qsl

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import portalspec
from portalspec import User, Values, validate
from portalspec.auth import ACCESS_TOKEN, AUTH_METHODS
from portalspec.destination import Faults, build_destination
from portalspec.endpoint_test import run_endpoint_test
from portalspec.formats import FORMATS
from portalspec.headers import Headers
from portalspec.inputs import from_environment, load_values
from portalspec.oauth2 import TokenError, TokenIssuer, TokenSource, basic_credentials, token_request
from portalspec.sync import State, SyncOptions, sync
from portalspec.testing import running_destination
from portalspec.transport import Transport, TransportError

from .conftest import MINIMAL, edit
from .render_helpers import NOW_TEXT, cli

EXAMPLE = Path(__file__).resolve().parent / "data" / "oauth2-audiences"
DEFINITION, VALUES, USERS = EXAMPLE / "integration.yaml", EXAMPLE / "values.yaml", EXAMPLE / "users.csv"
UPDATE = os.environ.get("PORTALSPEC_UPDATE_SNAPSHOTS") == "1"
CLIENT_SECRET, REFRESH = "test-secret/+= é", "test-refresh-1/xyz"  # as in values.yaml
ENV = "OAUTH2_AUDIENCES_REFRESH_TOKEN"
API = "https://api.audiences.example/v2/accounts/acct-42/audiences"


def integration() -> portalspec.Integration:
    return portalspec.compile(portalspec.load(DEFINITION))


def values() -> Values:
    return load_values(VALUES)


def users() -> list[User]:
    return list(portalspec.read_users(USERS, integration().definition, values()))  # (read whole: the file is closed)


def render(fmt: str, *extra: str) -> str:
    result = cli("render", str(DEFINITION), "--values", str(VALUES), "--users", str(USERS), "--format", fmt,
                 "--now", NOW_TEXT, "--seed", "7", *extra)
    assert result.exit_code == 0, result.output
    return result.stdout_bytes.decode("utf-8")  # (stdout would turn the raw HTTP's CRLF into LF)


# --- validate, vars, the model -----------------------------------------------------------

def test_the_example_is_valid_and_only_oauth2_is_beyond_the_portal():
    assert [d for d in validate(DEFINITION) if d.is_error] == []
    assert {d.code for d in validate(DEFINITION, target="portal") if d.is_error} == {"PS515"}
    refused = cli("validate", "--target", "portal", str(DEFINITION))
    assert refused.exit_code == 1 and "error[PS515]: the Developer Portal cannot express this: OAuth2" in refused.output
    assert "nearest portal way: bearer with a long-lived token" in refused.output


def test_the_model_holds_the_settings_and_the_schema_defaults():
    auth = integration().definition.auth
    assert (auth.method, auth.grant, auth.token_url, auth.scopes, auth.client_auth) == \
        ("oauth2", "refresh_token", "https://auth.audiences.example/oauth/token",
         ("audiences.read", "audiences.write"), "body")
    assert auth.variables == ("client_id", "client_secret", "refresh_token")
    assert integration().definition.secret_variables >= {"client_id", "client_secret", "refresh_token"}


OAUTH2_MINIMAL = edit(MINIMAL, "auth:\n  method: bearer\n",
                      "auth:\n  method: oauth2\n  grant: client_credentials\n  token_url: https://auth.acme.example/t\n")


CC = "auth:\n  method: oauth2\n  grant: client_credentials\n  token_url: https://a.example/t\n"


@pytest.mark.parametrize("auth, code, path, says", [
    ("auth:\n  method: oauth2\n  token_url: https://a.example/t\n", "PS101", ("auth",), "'grant'"),
    ("auth:\n  method: oauth2\n  grant: client_credentials\n", "PS101", ("auth",), "'token_url'"),
    (CC.replace("client_credentials", "password"), "PS104", ("auth", "grant"), '"refresh_token"'),
    (CC.replace("/t\n", "/$x\n"), "PS105", ("auth", "token_url"), "(the token endpoint's url (oauth2))"),
    (CC.replace("https:", "ftp:"), "PS105", ("auth", "token_url"), "ftp://a.example/t"),
    (CC + "  scopes: ['a b']\n", "PS105", ("auth", "scopes", 0), "'a b'"),
    (CC + "  client_auth: jwt\n", "PS104", ("auth", "client_auth"), '"body", "basic"'),
    (CC + "  header_name: X\n", "PS102", ("auth", "header_name"), "unknown key 'header_name'"),
    ("auth:\n  method: bearer\n  grant: client_credentials\n", "PS102", ("auth", "grant"), "unknown key 'grant'"),
])
def test_bad_oauth2_settings_are_positioned_schema_errors(auth: str, code: str, path: tuple, says: str):
    found = [d for d in validate(edit(MINIMAL, "auth:\n  method: bearer\n", auth)) if d.is_error]
    assert [(d.code, d.path) for d in found] == [(code, path)], [d.format() for d in found]
    assert says in found[0].message and found[0].line is not None


def test_an_oauth2_variable_declared_again_is_ps203():
    text = edit(OAUTH2_MINIMAL, "  - variable: region\n", "  - variable: client_secret\n")
    assert "PS203" in {d.code for d in validate(text)}


# --- render: the access token is a placeholder in every format ----------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_render_snapshot(fmt: str):
    shown = render(fmt)
    path = EXAMPLE / f"render.{fmt}"
    if UPDATE:
        path.write_bytes(shown.encode("utf-8"))
    assert shown.encode("utf-8") == path.read_bytes(), f"{path.name} differs; rewrite with PORTALSPEC_UPDATE_SNAPSHOTS=1"


# What each format shows in place of the access token (the values file has none to show).
PLACEHOLDERS = {
    "json": '"Authorization": "Bearer ********"',
    "http": "Authorization: Bearer ********\r\n",
    "curl": """-H 'Authorization: Bearer '"${OAUTH2_AUDIENCES_ACCESS_TOKEN}\"""",
    "har": '"value": "Bearer $OAUTH2_AUDIENCES_ACCESS_TOKEN"',
}


@pytest.mark.parametrize("reveal", [(), ("--reveal-secrets",)])
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_shows_a_placeholder_for_the_token_even_when_revealing(fmt: str, reveal: tuple[str, ...]):
    shown = render(fmt, *reveal)
    assert shown.count(PLACEHOLDERS[fmt]) == 4  # create_list, two adds, one remove
    assert "pssecret" not in shown  # no sentinel escapes
    for secret in (CLIENT_SECRET, REFRESH, "test-client-7Qx"):  # only the token endpoint sees these
        assert secret not in shown and json.dumps(secret)[1:-1] not in shown


def test_curl_says_where_the_access_token_comes_from():
    exports = render("curl").split("# create_list")[0]
    assert exports == ("# Secrets are masked; export them first:\n#   export OAUTH2_AUDIENCES_ACCESS_TOKEN='...'"
                       "  # an OAuth2 access token: portalspec test and sync fetch one from token_url\n")


def test_a_custom_field_named_access_token_is_not_the_runtime_token():
    # (Meta's definition has one: it is a secret like any other, and stays "********" in HAR.)
    text = edit(MINIMAL, "  - variable: region\n", "  - variable: access_token\n    secret: true\n")
    text = edit(text, "  X-Region: $region", "  X-Token: $access_token")
    request = next(portalspec.compile(portalspec.load(text)).render(
        Values({"bearer_token": "b", "access_token": "eu"}, {"user_id": "user_id"}, portalspec.Cohort("1", "c")),
        mask_secrets=True))
    assert [name for _, name in request.masked] == ["access_token", "bearer_token"]
    assert {h["name"]: h["value"] for h in request.to_har_entry()["request"]["headers"]}["X-Token"] == "********"


def test_the_request_carries_the_placeholder_and_the_token_is_filled_in_only_as_sent():
    request = next(integration().render(values(), users()))  # secrets revealed, the token still unknown
    [(sentinel, name)] = request.masked
    assert name == ACCESS_TOKEN and request.header("Authorization") == f"Bearer {sentinel}"
    seen: list[httpx.Request] = []
    transport = Transport(client=httpx.Client(transport=httpx.MockTransport(
        lambda r: seen.append(r) or httpx.Response(200, json={"access_token": "AT-1"} if "token" in r.url.path
                                                   else {"audience": {"id": "a"}}))))
    tokens = TokenSource(integration().definition.auth, values().fields, transport, name="oauth2-audiences")
    assert transport.send(request, tokens).status == 200
    assert seen[-1].headers["Authorization"] == "Bearer AT-1" and request.header("Authorization") == f"Bearer {sentinel}"
    with pytest.raises(TransportError, match="needs an OAuth2 access token, and no token source was given"):
        transport.send(request)


# --- the token request (RFC 6749 §4.4.2, §6, §2.3.1) --------------------------------------

def test_the_token_request_is_a_form_post_with_the_grant_and_the_credentials():
    request = token_request(integration().definition.auth, "cid", CLIENT_SECRET, REFRESH)
    assert (request.method, request.url, request.endpoint) == ("POST", "https://auth.audiences.example/oauth/token",
                                                               "token")
    assert request.header("Content-Type") == "application/x-www-form-urlencoded"
    assert dict(parse_qsl(request.text or "")) == {
        "grant_type": "refresh_token", "refresh_token": REFRESH, "scope": "audiences.read audiences.write",
        "client_id": "cid", "client_secret": CLIENT_SECRET}
    assert request.header("Authorization") is None


def test_client_credentials_with_basic_client_auth_and_no_scopes():
    auth = portalspec.load(edit(OAUTH2_MINIMAL, "  token_url: https://auth.acme.example/t\n",
                                "  token_url: https://auth.acme.example/t\n  client_auth: basic\n")).auth
    request = token_request(auth, "a:b é", "p+q/r", None)
    assert dict(parse_qsl(request.text or "")) == {"grant_type": "client_credentials"}
    scheme, encoded = (request.header("Authorization") or "").split(" ")
    assert scheme == "Basic" and base64.b64decode(encoded).decode() == "a%3Ab+%C3%A9:p%2Bq%2Fr"  # §2.3.1


# --- serve's token endpoint ---------------------------------------------------------------

def issuer(**changes: Any) -> TokenIssuer:
    auth = integration().definition.auth
    return TokenIssuer(auth.__class__(**{**auth.__dict__, **changes}), values().fields)


def form(**fields: str) -> bytes:
    return "&".join(f"{k}={v}" for k, v in fields.items()).encode()


GOOD = dict(grant_type="refresh_token", refresh_token="test-refresh-1%2Fxyz", scope="audiences.write+audiences.read",
            client_id="test-client-7Qx", client_secret="test-secret%2F%2B%3D+%C3%A9")
FORM_HEADERS = Headers({"Content-Type": "application/x-www-form-urlencoded"})


def test_serve_issues_a_token_for_the_expected_request_and_then_takes_only_it():
    tokens = issuer()
    answer = tokens.answer(FORM_HEADERS, form(**GOOD))
    assert answer.status == 200 and answer.body["token_type"] == "Bearer" and answer.body["expires_in"] == 3600
    assert ("Cache-Control", "no-store") in answer.headers
    token = answer.body["access_token"]
    assert tokens.accepts(f"Bearer {token}") and tokens.accepts(f"bearer {token}")
    assert not tokens.accepts(f"Bearer {token}x") and not tokens.accepts(f"Basic {token}")
    assert tokens.expire() == 1 and not tokens.accepts(f"Bearer {token}")


@pytest.mark.parametrize("change, status, error", [
    (dict(client_secret="nope"), 401, "invalid_client"),
    (dict(client_id="other"), 401, "invalid_client"),
    (dict(grant_type="client_credentials"), 400, "unsupported_grant_type"),
    (dict(refresh_token="old"), 400, "invalid_grant"),
    (dict(refresh_token=""), 400, "invalid_request"),
    (dict(scope="audiences.write"), 400, "invalid_scope"),
    (dict(grant_type=""), 400, "invalid_request"),
])
def test_serve_refuses_a_token_request_as_rfc_6749_says(change: dict[str, str], status: int, error: str):
    answer = issuer().answer(FORM_HEADERS, form(**{**GOOD, **change}))
    assert (answer.status, answer.body["error"]) == (status, error)
    assert "access_token" not in answer.body


def test_serve_refuses_bodies_and_client_auth_it_does_not_expect():
    assert issuer().answer(Headers({"Content-Type": "application/json"}), b"{}").body["error"] == "invalid_request"
    twice = form(**GOOD) + b"&scope=x"
    assert "repeated" in issuer().answer(FORM_HEADERS, twice).body["error_description"]
    basic = FORM_HEADERS.set("Authorization", basic_credentials("test-client-7Qx", CLIENT_SECRET))
    assert issuer().answer(basic, form(**GOOD)).body["error"] == "invalid_request"  # two client auths
    no_secret = {k: v for k, v in GOOD.items() if k != "client_secret"}
    assert issuer().answer(basic, form(**no_secret)).status == 401  # the definition says body
    by_basic = issuer(client_auth="basic")
    assert by_basic.answer(basic, form(**no_secret)).status == 200
    refused = by_basic.answer(FORM_HEADERS, form(**GOOD))
    assert refused.status == 401 and ("WWW-Authenticate", 'Basic realm="token"') in refused.headers


def test_a_refresh_may_leave_the_scope_out_but_client_credentials_may_not():
    assert issuer().answer(FORM_HEADERS, form(**{k: v for k, v in GOOD.items() if k != "scope"})).status == 200
    cc = issuer(grant="client_credentials")
    body = {k: v for k, v in GOOD.items() if k not in ("scope", "refresh_token")}
    assert cc.answer(FORM_HEADERS, form(**{**body, "grant_type": "client_credentials"})).body["error"] == "invalid_scope"


def test_a_token_is_taken_on_token_uses_requests_then_refused():
    tokens = TokenIssuer(integration().definition.auth, values().fields, uses=2)
    token = tokens.answer(FORM_HEADERS, form(**GOOD)).body["access_token"]
    verdicts = []
    for _ in range(3):
        tokens.spend(f"Bearer {token}")
        verdicts.append(tokens.accepts(f"Bearer {token}"))
    assert verdicts == [True, True, False]


@settings(max_examples=120, deadline=None)
@given(client_id=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20),
       secret=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20),
       refresh=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20),
       client_auth=st.sampled_from(["body", "basic"]))
def test_hostile_credentials_round_trip_through_the_token_request_to_serve(client_id, secret, refresh, client_auth):
    """Whatever the credentials hold (&, =, +, :, %, quotes, any script), the token request
    carries them so that the token endpoint reads back exactly them, by body or by Basic."""
    auth = integration().definition.auth
    auth = auth.__class__(**{**auth.__dict__, "client_auth": client_auth})
    request = token_request(auth, client_id, secret, refresh)
    expected = {"client_id": client_id, "client_secret": secret, "refresh_token": refresh}
    assert TokenIssuer(auth, expected).answer(request.headers, request.body or b"").status == 200
    wrong = {**expected, "client_secret": secret + "x"}
    assert TokenIssuer(auth, wrong).answer(request.headers, request.body or b"").status == 401


# --- the token source: fetched once, refreshed on a 401, rotation, failures ---------------

class Provider:
    """A token endpoint and an API behind httpx.MockTransport. ``tokens``: what successive token
    requests answer (a dict, or (status, body)); the API takes only ``accepted`` tokens."""

    def __init__(self, *tokens: Any, accepted: Callable[[str], bool] = lambda t: True):
        self.tokens = list(tokens)
        self.accepted = accepted
        self.token_requests: list[dict[str, str]] = []
        self.api: list[str] = []  # the Authorization of each API request

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path in ("/oauth/token", "/t"):
            self.token_requests.append(dict(parse_qsl(request.content.decode())))
            answer = self.tokens.pop(0) if len(self.tokens) > 1 else self.tokens[0]
            status, body = answer if isinstance(answer, tuple) else (200, answer)
            return httpx.Response(status, content=body if isinstance(body, bytes) else json.dumps(body).encode())
        authorization = request.headers.get("Authorization", "")
        self.api.append(authorization)
        if not self.accepted(authorization.removeprefix("Bearer ")):
            return httpx.Response(401, json={"error": "invalid_token", "echo": authorization})
        if request.url.path.endswith("/audiences"):
            return httpx.Response(200, json={"audience": {"id": "aud_9"}})
        return httpx.Response(200, json={"ok": True})

    def transport(self, **options: Any) -> Transport:
        return Transport(client=httpx.Client(transport=httpx.MockTransport(self)), **options)


def run_test(provider: Provider, the_values: Values | None = None) -> portalspec.endpoint_test.EndpointTestReport:
    return run_endpoint_test(integration(), the_values or values(), users(), transport=provider.transport())


def test_the_token_is_fetched_once_per_run_and_shown_as_the_first_step():
    provider = Provider({"access_token": "AT-1", "token_type": "bearer", "expires_in": 60})
    report = run_test(provider)
    assert report.passed, report.to_text()
    assert len(provider.token_requests) == 1 and set(provider.api) == {"Bearer AT-1"} and len(provider.api) == 4
    step = report.steps[0]
    assert (step.endpoint, step.method, step.url, step.status) == ("token", "POST",
                                                                   "https://auth.audiences.example/oauth/token", 200)
    assert step.message == "access token obtained (expires in 60 s)" and "users" not in "".join(step.to_text())
    assert "AT-1" not in report.to_text() + json.dumps(report.to_dict())


def test_a_401_refreshes_the_token_once_and_sends_the_request_again():
    provider = Provider({"access_token": "AT-old"}, {"access_token": "AT-new"}, accepted=lambda t: t == "AT-new")
    report = run_test(provider)
    assert report.passed, report.to_text()
    assert provider.api == ["Bearer AT-old", "Bearer AT-new", "Bearer AT-new", "Bearer AT-new", "Bearer AT-new"]
    assert len(provider.token_requests) == 2


def test_a_second_401_with_a_fresh_token_is_a_clear_error():
    provider = Provider({"access_token": "AT-1"}, {"access_token": "AT-2"}, accepted=lambda t: False)
    report = run_test(provider)
    create = report.steps[1]
    assert not create.ok and create.reason == "OAuth2 token"
    assert "HTTP 401 again with an access token just issued by https://auth.audiences.example/oauth/token" \
        in (create.message or "")
    assert provider.api == ["Bearer AT-1", "Bearer AT-2"]  # retried once, not more
    assert "AT-1" not in report.to_text() and "AT-2" not in report.to_text()


def test_concurrent_refusals_refresh_once():
    provider = Provider({"access_token": "AT-1"}, {"access_token": "AT-2"})
    tokens = TokenSource(integration().definition.auth, values().fields, provider.transport(), name="x")
    assert tokens.token() == "AT-1"
    assert tokens.refresh("AT-1") == "AT-2"
    assert tokens.refresh("AT-1") == "AT-2"  # refused with the old one: the new one, no new fetch
    assert len(provider.token_requests) == 2


def test_a_rotated_refresh_token_is_used_and_reported_without_showing_it():
    provider = Provider({"access_token": "AT-1", "refresh_token": "RT-rotated-1"},
                        {"access_token": "AT-2", "refresh_token": "RT-rotated-2"}, accepted=lambda t: t == "AT-2")
    report = run_test(provider)
    assert report.passed, report.to_text()
    assert [r["refresh_token"] for r in provider.token_requests] == [REFRESH, "RT-rotated-1"]  # RFC 6749 §6
    [warning] = report.warnings
    assert "rotates them" in warning and ENV in warning and "yourself" in warning
    shown = report.to_text() + json.dumps(report.to_dict())
    assert f"warning: {warning}" in report.to_text() and "RT-rotated" not in shown


def test_client_credentials_ignores_a_refresh_token_in_the_answer():
    definition = portalspec.load(OAUTH2_MINIMAL)
    provider = Provider({"access_token": "AT", "refresh_token": "RT"})
    tokens = TokenSource(definition.auth, {"client_id": "c", "client_secret": "s"}, provider.transport(), name="acme")
    assert tokens.token() == "AT" and tokens.warnings == []
    assert provider.token_requests == [{"grant_type": "client_credentials", "client_id": "c", "client_secret": "s"}]


@pytest.mark.parametrize("answer, retryable, says", [
    ((400, {"error": "invalid_grant", "error_description": f"bad {REFRESH}"}), False,
     f"answered HTTP 400: invalid_grant (bad ********); the refresh token was refused (expired, revoked, or "
     f"replaced by a rotated one): authorize again, and put the new refresh token in the values file or {ENV}"),
    ((401, {"error": "invalid_client"}), False, "invalid_client; check client_id and client_secret in the values "
                                                "file, and whether the endpoint wants them another way (client_auth: basic)"),
    ((401, b"<html>no</html>"), False, "answered HTTP 401: <html>no</html>; check client_id and client_secret"),
    ((400, {"error": "invalid_scope"}), False, "invalid_scope; check auth.scopes"),
    ((503, b""), True, "answered HTTP 503"),
    ((429, {"error": "slow_down"}), True, "answered HTTP 429: slow_down"),
    ((200, b"<html>login</html>"), False, "answered HTTP 200, but its answer is not JSON"),
    ((200, {"token": "x"}), False, "answered HTTP 200 without an access_token"),
    ((200, {"access_token": ""}), False, "without an access_token"),
    ((200, ["AT"]), False, "without an access_token"),
    ((200, {"access_token": "AT", "token_type": "mac"}), False, "issued a token of type 'mac'; portalspec sends Bearer"),
    ((200, {"access_token": "A\r\nX-Evil: 1"}), False, "issued an access token that cannot be sent in a header"),
])
def test_token_endpoint_failures_are_clear_and_leak_no_secret(answer: Any, retryable: bool, says: str):
    provider = Provider(answer)
    tokens = TokenSource(integration().definition.auth, values().fields, provider.transport(), name="oauth2-audiences")
    with pytest.raises(TokenError) as caught:
        tokens.token()
    assert caught.value.retryable is retryable
    assert says in str(caught.value)
    assert "the OAuth2 token endpoint (POST https://auth.audiences.example/oauth/token)" in str(caught.value)
    assert CLIENT_SECRET not in str(caught.value) and REFRESH not in str(caught.value)
    with pytest.raises(TokenError):
        tokens.token()
    # A failure the endpoint would repeat is not asked again; a passing one (5xx, 429) may be.
    assert len(provider.token_requests) == (2 if retryable else 1)


def test_a_failed_token_endpoint_fails_the_test_and_sends_nothing():
    provider = Provider((400, {"error": "invalid_grant"}))
    report = run_test(provider)
    assert not report.passed and provider.api == []
    assert [(s.endpoint, s.sent) for s in report.steps] == [
        ("token", True), ("create_list", False), ("add_users", False), ("remove_users", False)]
    assert report.steps[0].status == 400 and report.steps[1].message == "there is no OAuth2 access token to send it with"
    assert "[FAIL] token" in report.to_text()


@pytest.fixture
def silent_peer() -> Iterator[str]:
    """A token endpoint that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()


def test_a_token_endpoint_that_never_answers_times_out_clearly(silent_peer: str):
    with Transport(base_url=silent_peer, timeout=0.5) as transport:
        tokens = TokenSource(integration().definition.auth, values().fields, transport, name="oauth2-audiences")
        with pytest.raises(TokenError, match=r"could not be reached: POST http://127\.0\.0\.1:\d+/oauth/token: "
                                             r"timed out after 0\.5 s") as caught:
            tokens.token()
    assert caught.value.retryable


def test_a_token_endpoint_echoing_secrets_and_tokens_is_masked():
    provider = Provider((400, {"error": "invalid_request", "error_description": f"{CLIENT_SECRET} {REFRESH}"}))
    report = run_test(provider)
    shown = report.to_text() + json.dumps(report.to_dict(), ensure_ascii=False)
    assert CLIENT_SECRET not in shown and REFRESH not in shown and "********" in shown
    echo = Provider({"access_token": "AT-echoed-1"}, accepted=lambda t: False)  # the API echoes the header
    shown = run_test(echo).to_text()
    assert "AT-echoed-1" not in shown


# --- the values: the refresh token from the environment -----------------------------------

def test_the_refresh_token_may_come_from_the_environment(tmp_path: Path):
    text = VALUES.read_text(encoding="utf-8").replace('  refresh_token: "test-refresh-1/xyz"\n', "")
    (tmp_path / "values.yaml").write_text(text, encoding="utf-8")
    definition = integration().definition
    assert "refresh_token" not in load_values(tmp_path / "values.yaml").fields
    with pytest.raises(portalspec.InputError, match=f"missing required field 'Refresh Token' \\(refresh_token\\) "
                                                    f"for oauth2 auth \\(or the environment variable {ENV}\\)"):
        integration().bind(load_values(tmp_path / "values.yaml", definition, environ={}))
    found = load_values(tmp_path / "values.yaml", definition, environ={ENV: "from-env"})
    assert found.fields["refresh_token"] == "from-env"
    # The values file comes first; an empty variable is no value.
    assert from_environment(values(), definition, {ENV: "env"}).fields["refresh_token"] == REFRESH
    assert "refresh_token" not in from_environment(load_values(tmp_path / "values.yaml"), definition, {ENV: ""}).fields
    result = cli("render", str(DEFINITION), "--values", str(tmp_path / "values.yaml"), "--users", str(USERS),
                 env={ENV: "from-env"})
    assert result.exit_code == 0 and "from-env" not in result.output


def test_only_a_rotating_variable_comes_from_the_environment():
    definition = integration().definition
    taken = from_environment(Values({}, {}), definition, {"OAUTH2_AUDIENCES_CLIENT_SECRET": "s", ENV: "r"})
    assert dict(taken.fields) == {"refresh_token": "r"}
    assert [v.name for v in AUTH_METHODS["oauth2"].declared({"grant": "client_credentials"})] == \
        ["client_id", "client_secret"]


# --- test and sync against serve, end to end ----------------------------------------------

def test_test_and_sync_run_against_serve_through_the_cli(tmp_path: Path):
    cohort = tmp_path / "cohort.txt"
    cohort.write_text("u-1\nu-2\nu-5\n", encoding="utf-8")
    with running_destination(DEFINITION, VALUES) as dest:
        tested = cli("test", str(DEFINITION), "--values", str(VALUES), "--users", str(USERS), "--base-url", dest.url)
        assert tested.exit_code == 0, tested.output
        assert f"[ok  ] token         POST {dest.url}/oauth/token" in tested.output
        synced = cli("sync", str(DEFINITION), "--values", str(VALUES), "--cohort-file", str(cohort),
                     "--state", str(tmp_path / "s.db"), "--base-url", dest.url, "--format", "json")
        assert synced.exit_code == 0, synced.output
        report = json.loads(synced.output)
        assert (report["outcome"], report["delivered"], report["warnings"]) == ("succeeded", 3, [])
        lists = {item["id"]: sorted(m["key"] for m in item["members"]) for item in dest.state()["lists"]}
        token_calls = [r for r in dest.requests() if r["endpoint"] == "token"]
    assert lists == {"aud_1": ["u-1", "u-2", "u-3"], "aud_2": ["u-1", "u-2", "u-5"]}
    assert [r["status"] for r in token_calls] == [200, 200]  # once per run
    assert all(CLIENT_SECRET not in json.dumps(r) and "test-refresh" not in r["body"] for r in token_calls)
    assert "grant_type=refresh_token" in token_calls[0]["body"] and "scope=audiences.read+audiences.write" \
        in token_calls[0]["body"]


def test_serve_lists_the_token_endpoint_and_refuses_other_bearer_tokens():
    destination = build_destination(DEFINITION, VALUES)
    try:
        assert destination.routes()[0] == "POST /oauth/token  (token)"
        from werkzeug.test import Client

        client = Client(destination)
        refused = client.post("/v2/accounts/acct-42/audiences", json={"name": "[Amplitude] Beta users",
                                                                      "source": "amplitude"},
                              headers={"Authorization": "Bearer guessed"})
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        assert client.get("/oauth/token").status_code == 405
        assert client.get("/_portalspec/expire-tokens").status_code == 405
        assert client.post("/_portalspec/expire-tokens").get_json() == {"expired": 0}
    finally:
        destination.store.close()


def test_sync_refreshes_when_serve_expires_its_tokens_and_stores_none(tmp_path: Path):
    issued: list[str] = []
    with running_destination(DEFINITION, VALUES, token_uses=2) as dest, Transport(base_url=dest.url) as transport, \
            State(str(tmp_path / "s.db")) as state:
        answer = dest.destination.tokens.answer  # type: ignore[union-attr]

        def recording(*args: Any) -> Any:
            result = answer(*args)
            issued.append(result.body.get("access_token", ""))
            return result

        dest.destination.tokens.answer = recording  # type: ignore[union-attr,method-assign]
        cohort = [User("add", {"user_id": f"u-{i}"}, key=f"u-{i}") for i in range(7)]
        report = sync(integration(), values(), cohort, state=state, transport=transport,
                      options=SyncOptions(concurrency=1))
        assert report.ok and report.delivered == 7, report.errors
        statuses = [(r["endpoint"], r["status"]) for r in dest.requests()]
    # create_list + 4 batches of 2: each token is taken twice, then refused once and refreshed.
    assert statuses.count(("token", 200)) == len(issued) == 3 and statuses.count(("add_users", 401)) == 2
    stored = "".join(p.read_bytes().decode("latin-1") for p in tmp_path.glob("s.db*"))
    assert all(issued) and not any(token in stored or token in json.dumps(report.to_dict()) for token in issued)


def test_after_serve_expires_every_token_a_request_refreshes_once():
    with running_destination(DEFINITION, VALUES) as dest, Transport(base_url=dest.url) as transport:
        tokens = TokenSource(integration().definition.auth, values().fields, transport, name="oauth2-audiences")
        first = tokens.token()
        assert dest.expire_tokens() == {"expired": 1}
        create = integration().bind(values()).create_list()
        assert transport.send(create, tokens).status == 200
        assert tokens.token() != first
        assert [(r["endpoint"], r["status"]) for r in dest.requests()] == [
            ("token", 200), ("create_list", 401), ("token", 200), ("create_list", 200)]


def test_sync_fails_cleanly_when_the_token_endpoint_refuses_and_keeps_everyone_owed(tmp_path: Path):
    bad = tmp_path / "values.yaml"
    bad.write_text(VALUES.read_text(encoding="utf-8").replace("test-refresh-1/xyz", "revoked"), encoding="utf-8")
    with running_destination(DEFINITION, VALUES) as dest, Transport(base_url=dest.url) as transport, \
            State(":memory:") as state:
        report = sync(integration(), load_values(bad), [User("add", {"user_id": "u-1"}, key="u-1")], state=state,
                      transport=transport)
        assert [r["endpoint"] for r in dest.requests()] == ["token"]
    assert report.outcome == "failed" and report.undelivered == 1 and report.requests == 0
    [error] = report.errors
    assert error.startswith("the OAuth2 token endpoint (POST") and "invalid_grant" in error
    assert error.endswith("; nothing was sent") and "revoked" not in error


def test_a_rotated_refresh_token_finds_the_same_sync_and_list(tmp_path: Path):
    rotated = tmp_path / "values.yaml"
    rotated.write_text(VALUES.read_text(encoding="utf-8").replace("test-refresh-1/xyz", "rotated-2"), encoding="utf-8")
    provider = Provider({"access_token": "AT"})
    with State(str(tmp_path / "s.db")) as state:
        for values_file, ids in ((VALUES, ["u-1"]), (rotated, ["u-1", "u-2"])):
            report = sync(integration(), load_values(values_file), [User("add", {"user_id": i}, key=i) for i in ids],
                          state=state, transport=provider.transport())
            assert report.ok, report.errors
    # The second run (another refresh token) is the same destination: its list, one user entering.
    assert report.created_list is False and report.list_id == "aud_9" and report.entering == 1
    assert [r["refresh_token"] for r in provider.token_requests] == [REFRESH, "rotated-2"]


def test_the_sync_report_carries_the_rotation_warning():
    provider = Provider({"access_token": "AT", "refresh_token": "RT-new"})
    with State(":memory:") as state:
        report = sync(integration(), values(), [User("add", {"user_id": "u-1"}, key="u-1")], state=state,
                      transport=provider.transport())
    assert report.ok and len(report.warnings) == 1 and "rotates them" in report.warnings[0]
    assert report.to_dict()["warnings"] == list(report.warnings) and "RT-new" not in json.dumps(report.to_dict())


def test_a_dry_run_asks_for_no_token():
    provider = Provider({"access_token": "AT"})
    with State(":memory:") as state:
        report = sync(integration(), values(), [User("add", {"user_id": "u-1"}, key="u-1")], state=state,
                      transport=provider.transport(), options=SyncOptions(dry_run=True))
    assert report.outcome == "dry-run" and provider.token_requests == []


def test_faults_refuse_a_token_good_for_no_request():
    with pytest.raises(portalspec.InputError, match="1 request or more"):
        Faults(token_uses=0)


def test_client_credentials_with_basic_auth_runs_against_serve(tmp_path: Path):
    text = edit(OAUTH2_MINIMAL, "  token_url: https://auth.acme.example/t\n",
                "  token_url: https://auth.acme.example/t\n  client_auth: basic\n  scopes: [lists]\n")
    (tmp_path / "integration.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "values.yaml").write_text(json.dumps({
        "fields": {"client_id": "id:é", "client_secret": "s&e=c+r/t"}, "mappings": {"user_id": "user_id"},
        "cohort": {"id": "1", "name": "C"}}), encoding="utf-8")
    the_integration = portalspec.compile(portalspec.load(tmp_path / "integration.yaml"))
    with running_destination(tmp_path / "integration.yaml", tmp_path / "values.yaml") as dest, \
            Transport(base_url=dest.url) as transport:
        report = run_endpoint_test(the_integration, load_values(tmp_path / "values.yaml"),
                                   [User("add", {"user_id": "a"}), User("remove", {"user_id": "b"})],
                                   transport=transport)
        assert report.passed, report.to_text()
        [token] = [r for r in dest.requests() if r["endpoint"] == "token"]
    assert token["headers"]["Authorization"] == "********" and token["body"] == "grant_type=client_credentials&scope=lists"


@settings(max_examples=100, deadline=None)
@given(token=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40))
def test_any_visible_ascii_access_token_is_sent_exactly_and_taken_back(token: str):
    """The token the endpoint issues is the one the API gets, byte for byte, in Bearer form, and
    the one serve's check takes back; no preview ever held it."""
    provider = Provider({"access_token": token})
    request = integration().bind(values()).create_list()
    shown = request.header("Authorization")
    with provider.transport() as transport:
        tokens = TokenSource(integration().definition.auth, values().fields, transport, name="x")
        assert transport.send(request, tokens).status == 200
    assert provider.api == [f"Bearer {token}"] and request.header("Authorization") == shown  # (still the placeholder)
    assert AUTH_METHODS["oauth2"].accepts(provider.api[0], {ACCESS_TOKEN: token})
    assert not AUTH_METHODS["oauth2"].accepts(provider.api[0] + "x", {ACCESS_TOKEN: token})


def test_serve_takes_an_endpoints_own_bearer_key_beside_oauth2_tokens_elsewhere(tmp_path: Path):
    """With OAuth2 at the top and create_list's own bearer key (PS520), serve checks each
    endpoint's credential by its own method: the key on create_list, an issued token on the
    others — never an issued token where the key is due, nor the key where a token is."""
    text = (EXAMPLE / "integration.yaml").read_text(encoding="utf-8")
    text = text.replace("  - {variable: account, display_name: Account ID, type: string}\n",
                        "  - {variable: account, display_name: Account ID, type: string}\n"
                        "  - {variable: admin_key, display_name: Admin key, type: string, secret: true}\n")
    text = text.replace("  create_list:\n    method: POST\n",
                        "  create_list:\n    method: POST\n    auth: {method: bearer, fields: {bearer_token: admin_key}}\n")
    definition, values_file = tmp_path / "integration.yaml", tmp_path / "values.yaml"
    definition.write_text(text, encoding="utf-8")
    values_file.write_text((EXAMPLE / "values.yaml").read_text(encoding="utf-8")
                           .replace("  account: acct-42\n", "  account: acct-42\n  admin_key: adm-1\n"),
                           encoding="utf-8")
    assert not [d for d in validate(text) if d.is_error]
    with running_destination(definition, values_file) as dest:
        token = httpx.post(dest.url + "/oauth/token", content=form(**GOOD),
                           headers=dict(FORM_HEADERS)).json()["access_token"]
        create = API.replace("https://api.audiences.example", dest.url)
        body = {"name": "[Amplitude] Beta users", "source": "amplitude"}
        assert httpx.post(create, json=body, headers={"Authorization": f"Bearer {token}"}).status_code == 401
        created = httpx.post(create, json=body, headers={"Authorization": "Bearer adm-1"})
        assert created.status_code == 200
        members = f"{create}/{created.json()['audience']['id']}/members"
        add = {"members": [{"id": "u1"}]}
        assert httpx.post(members, json=add, headers={"Authorization": "Bearer adm-1"}).status_code == 401
        assert httpx.post(members, json=add, headers={"Authorization": f"Bearer {token}"}).status_code == 200

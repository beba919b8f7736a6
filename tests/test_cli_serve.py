"""``portalspec serve`` as a real process: starts, answers, logs, stops cleanly on Ctrl-C."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from portalspec.cli import main

from .conftest import REPO

INFOBIP = REPO / "integrations" / "infobip"
AUTH = {"Authorization": "App test-key-123"}
CREATE = {"name": "[Amplitude] Beta users: 1234",
          "context": {"integration": {"name": "Amplitude Cohort Sync", "version": "1.0.0"}}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(*options: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "portalspec", "serve", str(INFOBIP / "integration.yaml"),
         "--values", str(INFOBIP / "values.yaml"), "--port", str(port), *options],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    deadline = time.monotonic() + 15
    while True:  # bounded: until it accepts a connection, it exits, or the deadline passes
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                out, err = process.communicate()
                pytest.fail(f"serve did not start (exit {process.returncode}): {err}")
            time.sleep(0.02)


def interrupt(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return process.returncode, err


def test_serve_answers_logs_one_line_per_request_and_stops_cleanly_on_ctrl_c():
    process, url = start()
    try:
        response = httpx.post(f"{url}/people/2/lists", json=CREATE, headers=AUTH, timeout=10)
        state = httpx.get(f"{url}/_portalspec/state", timeout=10).json()
    finally:
        code, err = interrupt(process)
    assert response.status_code == 200 and response.json() == {"listId": 1}
    assert state["lists"][0]["id"] == 1
    assert code == 0
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    lines = err.splitlines()
    assert lines[0] == f"portalspec serve: infobip at {url} (state: in memory; Ctrl-C to stop)"
    assert "  POST /people/2/lists/$list_id/add  (add_users)" in lines
    requests = [line for line in lines if line.startswith(("POST ", "GET "))]
    assert len(requests) == 2
    assert requests[0].startswith("POST /people/2/lists 200 create_list ")
    assert requests[1].startswith("GET /_portalspec/state 200 ")
    assert lines[-1] == "portalspec serve: stopped"


def test_serve_passes_the_fault_options_on():
    process, url = start("--fail-rate", "1", "--fail-status", "429", "--retry-after", "5", "--latency", "1",
                         "--seed", "3")
    try:
        response = httpx.post(f"{url}/people/2/lists", json=CREATE, headers=AUTH, timeout=10)
    finally:
        code, err = interrupt(process)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "5" and response.headers["X-Portalspec-Latency-Ms"] == "1"
    assert code == 0
    assert any(line.startswith("POST /people/2/lists 429 create_list") and "[injected]" in line
               for line in err.splitlines())


def test_a_port_in_use_is_a_one_line_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = CliRunner().invoke(main, ["serve", str(INFOBIP / "integration.yaml"), "--values",
                                           str(INFOBIP / "values.yaml"), "--port", str(busy.getsockname()[1])])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot listen on 127.0.0.1:") and result.stderr.count("\n") == 1


def test_values_that_do_not_fit_are_a_clear_error(tmp_path: Path):
    values = tmp_path / "values.yaml"
    values.write_text("fields: {}\nmappings: {user_id_field_amplitude: user_id}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["serve", str(INFOBIP / "integration.yaml"), "--values", str(values)])
    assert result.exit_code == 1
    assert "missing required field 'API Key' (api_key)" in result.stderr
    assert "Traceback" not in result.output


def test_a_state_file_of_another_integration_is_refused(tmp_path: Path):
    from portalspec.store import Store

    state = tmp_path / "state.db"
    Store(str(state), integration="flagsmith").close()
    result = CliRunner().invoke(main, ["serve", str(INFOBIP / "integration.yaml"), "--values",
                                       str(INFOBIP / "values.yaml"), "--state", str(state)])
    assert result.exit_code == 1 and "holds the state of integration 'flagsmith'" in result.stderr


def test_only_500_and_429_can_be_injected():
    result = CliRunner().invoke(main, ["serve", str(INFOBIP / "integration.yaml"), "--values",
                                       str(INFOBIP / "values.yaml"), "--fail-status", "404"])
    assert result.exit_code == 2


def test_serve_passes_the_limits_on():
    process, url = start("--max-body-bytes", "300", "--request-log", "2", "--socket-timeout", "0.5",
                         "--body-timeout", "30")
    try:
        too_large = httpx.post(f"{url}/people/2/lists", content=b"x" * 400, headers=AUTH, timeout=10)
        with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=10) as sock:
            sock.sendall(b"POST /people/2/lists HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{")
            short = b""
            while chunk := sock.recv(65536):  # the server answers, then closes: bounded by its 0.5 s
                short += chunk
        created = httpx.post(f"{url}/people/2/lists", json=CREATE, headers=AUTH, timeout=10)
        log = httpx.get(f"{url}/_portalspec/requests", timeout=10).json()
    finally:
        code, err = interrupt(process)
    assert too_large.status_code == 413 and "300" in too_large.json()["error"]
    assert short.startswith(b"HTTP/1.1 408")
    assert created.status_code == 200
    assert [r["status"] for r in log] == [408, 200]  # the last 2 of 3
    assert code == 0 and "Traceback" not in err


def test_the_limits_are_checked():
    for option in (["--max-body-bytes", "0"], ["--request-log", "0"], ["--socket-timeout", "0"]):
        result = CliRunner().invoke(main, ["serve", str(INFOBIP / "integration.yaml"), "--values",
                                           str(INFOBIP / "values.yaml"), *option])
        assert result.exit_code == 2, option

"""``serve`` over a real socket, under abuse: bodies that never come, bodies too large.

Every wait is bounded: the server's socket timeout is small (0.5 s) and the client's own
timeout (10 s) only turns a hang into a failure; nothing here sleeps to measure time.
"""

from __future__ import annotations

import json
import socket
from typing import Iterator

import httpx
import pytest

from portalspec.testing import RunningDestination, running_destination

from .conftest import REPO

INFOBIP = REPO / "integrations" / "infobip"
AUTH = {"Authorization": "App test-key-123"}
CREATE = {"name": "[Amplitude] Beta users: 1234",
          "context": {"integration": {"name": "Amplitude Cohort Sync", "version": "1.0.0"}}}
CLIENT_WAIT = 10.0  # far above the server's 0.5 s: reached only if the server hangs


@pytest.fixture
def served() -> Iterator[RunningDestination]:
    with running_destination(INFOBIP / "integration.yaml", INFOBIP / "values.yaml", socket_timeout=0.5,
                             max_body_bytes=1000) as destination:
        yield destination


def exchange(url: str, raw: bytes) -> bytes:
    """Send ``raw`` and read until the server closes the connection."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=CLIENT_WAIT) as sock:
        sock.sendall(raw)
        answer = b""
        while chunk := sock.recv(65536):  # b"": the server closed the connection
            answer += chunk
    return answer


def head(path: str, **headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
             f"Authorization: {AUTH['Authorization']}", *(f"{k.replace('_', '-')}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def status_and_body(answer: bytes) -> tuple[int, dict[str, object]]:
    top, _, body = answer.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in top.lower():
        size, _, rest = body.partition(b"\r\n")
        body = rest[:int(size, 16)]
    return int(top.split()[1]), json.loads(body)


def still_answers(destination: RunningDestination) -> None:
    response = httpx.post(f"{destination.url}/people/2/lists", json=CREATE, headers=AUTH, timeout=CLIENT_WAIT)
    assert response.status_code == 200


def test_a_body_shorter_than_its_content_length_times_out_with_408_and_frees_the_connection(served):
    answer = exchange(served.url, head("/people/2/lists", Content_Length="100") + b'{"name": ')
    status, body = status_and_body(answer)
    assert status == 408 and "timed out" in str(body["error"])
    assert served.state()["lists"] == []
    assert served.requests()[-1]["status"] == 408
    still_answers(served)


def test_a_connection_that_sends_nothing_is_closed(served):
    assert exchange(served.url, b"") == b""  # closed by the server after its timeout, no answer owed
    assert exchange(served.url, b"POST /people/2/li") == b""  # a request line that never ends
    still_answers(served)


def test_a_declared_body_over_the_cap_is_413_and_the_client_sees_it(served):
    response = httpx.post(f"{served.url}/people/2/lists", content=b"x" * 5000, headers=AUTH, timeout=CLIENT_WAIT)
    assert response.status_code == 413 and "1,000" in response.json()["error"]
    assert served.state()["lists"] == []
    still_answers(served)


def test_a_chunked_body_over_the_cap_is_413(served):
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"x" * 300

    response = httpx.post(f"{served.url}/people/2/lists", content=chunks(), headers=AUTH, timeout=CLIENT_WAIT)
    assert response.status_code == 413, response.text
    assert served.state()["lists"] == []
    still_answers(served)


def test_a_chunked_body_within_the_cap_is_read(served):
    def chunks() -> Iterator[bytes]:
        text = json.dumps(CREATE).encode()
        yield text[:10]
        yield text[10:]

    response = httpx.post(f"{served.url}/people/2/lists", content=chunks(), headers=AUTH, timeout=CLIENT_WAIT)
    assert response.status_code == 200 and response.json() == {"listId": 1}


def test_a_body_without_length_or_chunks_is_empty_so_400(served):
    status, body = status_and_body(exchange(served.url, head("/people/2/lists", Connection="close")))
    assert status == 400 and "not JSON" in str(body["error"])
    still_answers(served)


def test_a_lying_chunked_body_is_an_error_not_a_hang(served):
    raw = head("/people/2/lists", Transfer_Encoding="chunked") + b"ff\r\n{\"name\""
    status, body = status_and_body(exchange(served.url, raw))
    assert status == 408
    still_answers(served)

"""portalspec.testing: the running_destination context manager and the pytest plugin."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

import portalspec.testing
from portalspec.testing import running_destination

from .conftest import REPO

INFOBIP = REPO / "integrations" / "infobip"
AUTH = {"Authorization": "App test-key-123"}
CREATE = {"name": "[Amplitude] Beta users: 1234",
          "context": {"integration": {"name": "Amplitude Cohort Sync", "version": "1.0.0"}}}


def refused(url: str) -> bool:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return True
    return False


def test_the_plugin_is_loaded_through_its_entry_point(pytestconfig: pytest.Config):
    assert pytestconfig.pluginmanager.get_plugin("portalspec") is portalspec.testing


def test_the_fixture_serves_destinations(portalspec_destination: Callable[..., Any]):
    first = portalspec_destination(INFOBIP / "integration.yaml", INFOBIP / "values.yaml")
    second = portalspec_destination(INFOBIP / "integration.yaml", INFOBIP / "values.yaml", fail_rate=1.0,
                                    fail_status=429, retry_after=3)
    assert first.url != second.url
    created = httpx.post(f"{first.url}/people/2/lists", json=CREATE, headers=AUTH)
    assert created.json() == {"listId": 1}
    assert first.state()["lists"][0]["id"] == 1
    failed = httpx.post(f"{second.url}/people/2/lists", json=CREATE, headers=AUTH)
    assert (failed.status_code, failed.headers["Retry-After"]) == (429, "3")
    assert second.state()["lists"] == [] and second.requests()[0]["injected"] is True
    # the HTTP views say the same as the methods
    assert httpx.get(f"{first.url}/_portalspec/state").json() == first.state()
    assert httpx.get(f"{first.url}/_portalspec/requests").json() == first.requests()


def test_running_destination_stops_on_exit(tmp_path: Path):
    state = tmp_path / "state.db"
    with running_destination(str(INFOBIP / "integration.yaml"), str(INFOBIP / "values.yaml"),
                             state=str(state)) as destination:
        url = destination.url
        assert httpx.post(f"{url}/people/2/lists", json=CREATE, headers=AUTH).status_code == 200
    assert refused(url)
    # the file keeps the list for the next run
    with running_destination(INFOBIP / "integration.yaml", INFOBIP / "values.yaml", state=str(state)) as again:
        assert [entry["id"] for entry in again.state()["lists"]] == [1]


def test_importing_portalspec_imports_neither_pytest_nor_the_server():
    code = "import sys, portalspec; print(json.dumps(['pytest' in sys.modules, 'werkzeug' in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True,
                         check=True, cwd=REPO)
    assert json.loads(out.stdout) == [False, False]


PARTNER_SUITE = '''
import socket
import httpx

INFOBIP = {infobip!r}
seen = []


def test_uses_the_fixture(portalspec_destination):
    destination = portalspec_destination(INFOBIP + "/integration.yaml", INFOBIP + "/values.yaml")
    seen.append(destination.url)
    response = httpx.post(destination.url + "/people/2/lists", headers={{"Authorization": "App wrong"}}, json={{}})
    assert response.status_code == 401
    assert destination.requests()[0]["status"] == 401


def test_the_destination_was_stopped_after_the_test():
    host, port = seen[0].removeprefix("http://").rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return
    raise AssertionError("still listening")
'''


def test_a_partners_suite_gets_the_fixture_without_any_setup(tmp_path: Path):
    (tmp_path / "test_partner.py").write_text(PARTNER_SUITE.format(infobip=str(INFOBIP)), encoding="utf-8")
    # Other installed plugins are switched off only to start faster; portalspec's stays on.
    others = [arg for name in ("hypothesispytest", "benchmark", "anyio") for arg in ("-p", f"no:{name}")]
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *others, "test_partner.py"]
    result = subprocess.run(command,
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout

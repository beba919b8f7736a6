"""Headless Chromium for the preview tests, driven over the DevTools protocol.

Debian's ``chromium`` package runs headless with its own command line; a small client on
``websocket-client`` speaks the DevTools protocol to it: open a page, collect console errors,
exceptions and network requests, evaluate script, take screenshots. No selenium, no
playwright (which downloads browsers of its own).

``find_chromium()`` looks for the browser (``PORTALSPEC_CHROMIUM`` names one explicitly).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import websocket

START_TIMEOUT = 30.0  # seconds for the browser to open its DevTools port
CALL_TIMEOUT = 30.0  # seconds for one DevTools call


def find_chromium() -> str | None:
    explicit = os.environ.get("PORTALSPEC_CHROMIUM")
    if explicit:
        return explicit
    return next((path for name in ("chromium", "chromium-browser", "google-chrome", "chrome")
                 if (path := shutil.which(name))), None)


class DevToolsError(RuntimeError):
    pass


class Page:
    """One tab, attached through the browser's connection (flattened sessions)."""

    def __init__(self, browser: "Browser", session: str, target: str):
        self.browser, self.session, self.target = browser, session, target
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        return self.browser.call(method, params, self.session)

    def _events(self, method: str) -> list[dict[str, Any]]:
        return [e["params"] for e in self.browser.events if e.get("sessionId") == self.session and e["method"] == method]

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        self.browser.wait_for("Page.loadEventFired", self.session)

    def evaluate(self, expression: str) -> Any:
        answer = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True,
                           userGesture=True)
        if "exceptionDetails" in answer:
            raise DevToolsError(f"{expression[:80]}…: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def console_errors(self) -> list[str]:
        """Uncaught exceptions, console.error/warn calls and the browser's own error log entries
        (a blocked or failed load, a Content-Security-Policy violation)."""
        found = [str(e["exceptionDetails"]) for e in self._events("Runtime.exceptionThrown")]
        found += [" ".join(str(a.get("value", a.get("description", ""))) for a in e["args"])
                  for e in self._events("Runtime.consoleAPICalled") if e["type"] in ("error", "warning", "assert")]
        found += [e["entry"]["text"] for e in self._events("Log.entryAdded") if e["entry"]["level"] in ("error", "warning")]
        return found

    def requests(self) -> list[str]:
        return [e["request"]["url"] for e in self._events("Network.requestWillBeSent")]

    def screenshot(self, selector: str, path: Path) -> bytes:
        box = self.evaluate(f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
                            ".getBoundingClientRect(); return {x: r.left + window.scrollX, y: r.top + window.scrollY,"
                            " width: r.width, height: r.height}; })()")
        margin = 16
        clip = {"x": max(box["x"] - margin, 0), "y": max(box["y"] - margin, 0),
                "width": box["width"] + 2 * margin, "height": box["height"] + 2 * margin, "scale": 1}
        data = base64.b64decode(self.call("Page.captureScreenshot", format="png", clip=clip,
                                          captureBeyondViewport=True)["data"])
        path.write_bytes(data)
        return data

    def close(self) -> None:
        self.browser.call("Target.closeTarget", {"targetId": self.target})


class Browser:
    """A headless Chromium process and one DevTools connection to it."""

    def __init__(self, executable: str):
        self.profile = tempfile.mkdtemp(prefix="portalspec-chromium-")
        self.process = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--disable-background-networking", "--hide-scrollbars", "--mute-audio",
             "--remote-debugging-port=0", f"--user-data-dir={self.profile}", "--window-size=1200,1600", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + START_TIMEOUT
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise DevToolsError(f"{executable} did not open its DevTools port: "
                                    + (self.process.stderr.read().decode(errors="replace")[-2000:]
                                       if self.process.stderr else ""))
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        self.socket = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=CALL_TIMEOUT,
                                                  suppress_origin=True)
        self.events: list[dict[str, Any]] = []
        self._next = 0

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.socket.send(json.dumps(message))
        while True:
            answer = json.loads(self.socket.recv())
            if answer.get("id") == self._next:
                if "error" in answer:
                    raise DevToolsError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            if "method" in answer:
                self.events.append(answer)

    def wait_for(self, method: str, session: str) -> dict[str, Any]:
        """The first event ``method`` of ``session`` not yet waited for (bounded by the socket's timeout)."""
        while True:
            for i, event in enumerate(self.events):
                if event["method"] == method and event.get("sessionId") == session and not event.get("_seen"):
                    event["_seen"] = True
                    return event
            answer = json.loads(self.socket.recv())
            if "method" in answer:
                self.events.append(answer)

    def new_page(self) -> Page:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session, target)
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.call(f"{domain}.enable")
        return page

    def close(self) -> None:
        try:
            if getattr(self, "socket", None) is not None:
                self.socket.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            if self.process.stderr:
                self.process.stderr.close()
            shutil.rmtree(self.profile, ignore_errors=True)

"""Headless Chromium driven over the DevTools protocol (websocket-client), for the tests that
use the kit as a person would: a TA in formgrader (tests/test_formgrader.py), a student reading
feedback (tests/test_feedback_page.py). Debian's chromium, installed by ./kit; no driver binary.
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

DEADLINE = 240.0                            # seconds; only so that a broken run cannot hang forever


def _wait(what: str, probe, deadline: float = DEADLINE, every: float = 0.5):
    """probe() until it returns something truthy; fail with ``what`` after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen | None) -> None:
    """End a process this test started (and its own process group), politely first."""
    if proc is None or proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


class Browser:
    """Headless Chromium and one page, driven over the DevTools protocol (websocket-client)."""

    def __init__(self, profile: Path):
        import websocket
        profile.mkdir(parents=True)
        self.proc = subprocess.Popen(
            [shutil.which("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-extensions", "--mute-audio", "--window-size=1280,900",
             # offline like a grading machine: every host but the Jupyter server fails to resolve
             "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
             f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            port_file = profile / "DevToolsActivePort"
            port = int(_wait("chromium's DevTools port", lambda: port_file.is_file()
                             and port_file.read_text().split("\n")[0].strip(), deadline=60))
            pages = _wait("a page target", lambda: [t for t in self._targets(port) if t["type"] == "page"],
                          deadline=60)
            self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=120,
                                                  suppress_origin=True)
        except BaseException:
            _stop(self.proc)
            raise
        self.ids = itertools.count(1)
        self.events: list[dict] = []
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")

    @staticmethod
    def _targets(port: int) -> list[dict]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=5) as r:
                return json.load(r)
        except OSError:
            return []

    def call(self, method: str, **params) -> dict:
        i = next(self.ids)
        self.ws.send(json.dumps({"id": i, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == i:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]
            if "method" in msg:
                self.events.append(msg)

    def js(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def goto(self, url: str) -> None:
        """Open ``url`` and wait for its document (pages may rewrite their URL once loaded)."""
        self.js("window.__left_behind = true")
        self.call("Page.navigate", url=url)
        _wait(f"{url} to load", lambda: self.js_or("!window.__left_behind && document.readyState === 'complete'"))

    def js_or(self, expression: str, default=None):
        """``js``, or ``default`` while the page is between documents."""
        try:
            return self.js(expression)
        except RuntimeError:
            return default

    def click(self, selector: str, text: str) -> bool:
        """A real mouse click (Lumino menus ignore synthetic DOM events) on the element
        matching ``selector`` whose text is ``text``."""
        box = self.js(f"""(() => {{
            const e = Array.from(document.querySelectorAll({json.dumps(selector)}))
                .find(e => e.textContent.trim() === {json.dumps(text)});
            if (!e) return null;
            const r = e.getBoundingClientRect();
            return [r.x + r.width / 2, r.y + r.height / 2]; }})()""")
        if not box:
            return False
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)
        return True

    def errors(self) -> list[str]:
        """Uncaught page exceptions so far."""
        found = []
        for e in self.events:
            if e["method"] == "Runtime.exceptionThrown":
                details = e["params"]["exceptionDetails"]
                found.append(f"{details.get('url', '')}: "
                             f"{(details.get('exception') or {}).get('description') or details.get('text')}"[:400])
        return found

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:
            pass
        _stop(self.proc)

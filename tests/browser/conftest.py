"""Browser tests: the shared demo place (``demo_db``, tests/conftest.py) served on loopback,
driven by Debian's Chromium via Playwright.

Never downloads a browser: Playwright's Python client launches /usr/bin/chromium. Tests are
skipped (with the reason) when Chromium or the front-end assets are missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from placehealth.outputs.web.assets import installed

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(demo_db) -> str:
    """``placehealth serve`` on a free loopback port; yields its base URL."""
    port = _free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / f"server-{port}.log"  # read it when a page misbehaves
    with log.open("w") as out:
        process = subprocess.Popen([str(BIN / "placehealth"), "serve", "--port", str(port),
                                    "--db", str(demo_db)], stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(url + "/api/disclosure", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError(f"the server did not start (its output: {log})")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _unavailable(reason: str) -> None:
    """Skip on a developer machine without a browser; fail in CI, where .ci/run installs it."""
    if os.environ.get("PLACEHEALTH_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests are required here but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        _unavailable("Debian chromium is not installed (apt-get install chromium)")
    if not installed():
        _unavailable("front-end assets are not installed (python -m placehealth.outputs.web.assets)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists()
                                              else shutil.which("chromium"), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    tab = context.new_page()
    tab.console_errors = []
    tab.on("console", lambda m: tab.console_errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: tab.console_errors.append(str(e)))
    # Requests still open, named when a page does not finish drawing in time.
    tab.pending = set()
    tab.on("request", lambda r: tab.pending.add(r.url))
    tab.on("requestfinished", lambda r: tab.pending.discard(r.url))
    tab.on("requestfailed", lambda r: (tab.pending.discard(r.url),
                                       tab.console_errors.append(f"request failed: {r.url}")))
    # Every Content-Security-Policy violation, whether or not the page reports it in the console.
    tab.add_init_script("window.cspViolations = []; document.addEventListener("
                        "'securitypolicyviolation', e => window.cspViolations.push("
                        "e.violatedDirective + ' ' + e.blockedURI));")
    yield tab
    context.close()

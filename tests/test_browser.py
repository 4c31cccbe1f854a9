"""Real-browser smoke test: `streamlit run dashboard.py` driven by Playwright in Debian's
Chromium (headless, no browser download). Every page opens without an exception."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from collectors.run import collect_once
from conftest import FIXED_NOW, ROOT
from db import open_database

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.browser

# A deep link first: on a fresh server Streamlit would run that page file without dashboard.py.
PAGES = [("posture", "Posture"), ("", "Tenants"), ("collectors", "Collectors")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def dashboard(simulator, tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (.ci/run does)")
    from settings import load_settings

    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'perimeter.db'}"
    settings = load_settings(database_url=url, simulator_url=simulator.url)
    assert not collect_once(settings, open_database(url), clock=lambda: FIXED_NOW).errors
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERIMETER_")}
    env.update(PERIMETER_DATABASE_URL=url, PERIMETER_SIMULATOR_URL=simulator.url)
    log = tmp_path_factory.mktemp("logs") / "streamlit.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail(f"streamlit did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield chromium
        chromium.close()


@pytest.mark.parametrize(("path", "title"), PAGES)
def test_every_page_opens_without_an_exception(dashboard, browser, path, title):
    page = browser.new_page()
    try:
        page.goto(f"{dashboard}/{path}")
        page.get_by_role("heading", name=title).first.wait_for(timeout=30_000)
        page.get_by_text("Demo data").first.wait_for(timeout=10_000)
        # The navigation is dashboard.py's (titled pages), not one made from file names.
        assert page.get_by_role("link", name="Tenants").count() == 1
        assert page.get_by_role("link", name="dashboard").count() == 0
        page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=30_000)
        # Let the page finish its run, then look for Streamlit's exception block.
        page.wait_for_timeout(1000)
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        page.close()

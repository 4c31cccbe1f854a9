"""Starting `streamlit run dashboard.py` and Debian's Chromium for browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_dashboard(db_url: str, simulator_url: str, log_dir: Path,
                      secrets: Callable[[int], str] | None = None, secrets_dir: Path | None = None,
                      extra_env: dict[str, str] | None = None, address: str = "127.0.0.1") -> Iterator[str]:
    """`streamlit run dashboard.py` on a free port, listening on ``address`` (loopback unless a test
    says otherwise); yields its base URL, always reached through 127.0.0.1."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (.ci/run does)")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERIMETER_")}
    env.update(PERIMETER_DATABASE_URL=db_url, PERIMETER_SIMULATOR_URL=simulator_url, **(extra_env or {}))
    command = [sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.port", str(port),
               "--server.address", address, "--server.headless", "true"]
    if secrets is not None:
        assert secrets_dir is not None
        secrets_file = secrets_dir / "secrets.toml"
        secrets_file.write_text(secrets(port))
        command += ["--secrets.files", str(secrets_file)]
    log = log_dir / "streamlit.log"
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
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


@contextmanager
def launch_chromium(extra_args: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args])
        try:
            yield chromium
        finally:
            chromium.close()


def wait_until_idle(page, timeout_ms: int = 60_000) -> None:  # type: ignore[no-untyped-def]
    """Until the script run has finished: a widget used while it runs is drawn again when it ends."""
    page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden", timeout=timeout_ms)


def choose_option(page, combobox: str, typed: str, attempts: int = 3) -> None:  # type: ignore[no-untyped-def]
    """Type into a selectbox and pick the first matching option, again if a rerun redrew the list."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(1, attempts + 1):
        wait_until_idle(page)
        chooser = page.get_by_role("combobox", name=combobox)
        chooser.click()
        chooser.fill(typed)
        try:
            page.get_by_role("option").first.click(timeout=10_000)
            return
        except PlaywrightTimeout:
            if attempt == attempts:
                raise
            page.keyboard.press("Escape")

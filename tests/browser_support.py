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

from support import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_dashboard(
    db_url: str,
    simulator_url: str,
    log_dir: Path,
    secrets: Callable[[int], str] | None = None,
    secrets_dir: Path | None = None,
    extra_env: dict[str, str] | None = None,
    address: str = "127.0.0.1",
) -> Iterator[str]:
    """`streamlit run dashboard.py` on a free port, listening on ``address`` (loopback unless a test
    says otherwise); yields its base URL, always reached through 127.0.0.1."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (`make test` does, as root)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERIMETER_")}
    env.update(PERIMETER_DATABASE_URL=db_url, PERIMETER_SIMULATOR_URL=simulator_url, **(extra_env or {}))
    log = log_dir / "streamlit.log"
    # The free port may be taken before streamlit binds it (other tests run in parallel): then again.
    for attempt in range(1, 4):
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "dashboard.py",
            "--server.port",
            str(port),
            "--server.address",
            address,
            "--server.headless",
            "true",
        ]
        if secrets is not None:
            assert secrets_dir is not None
            secrets_file = secrets_dir / "secrets.toml"
            secrets_file.write_text(secrets(port))
            command += ["--secrets.files", str(secrets_file)]
        with open(log, "w") as out:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        if _started(base, process):
            break
        process.kill()
        process.wait(timeout=20)
        if attempt == 3 or "is not available" not in log.read_text():
            pytest.fail(f"streamlit did not start:\n{log.read_text()[-3000:]}")
    try:
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


def _started(base: str, process: subprocess.Popen, timeout: float = 60) -> bool:
    """Whether the server answers its health check before it exits or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=1):
                return True
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                return False
            time.sleep(0.3)


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

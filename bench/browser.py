"""`streamlit run dashboard.py` on a free loopback port and Debian's headless Chromium: what the page
benchmark (bench/pages.py) and the browser tests (tests/browser_support.py) both start."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
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
START_ATTEMPTS = 3  # a free port may be taken before streamlit binds it (tests run in parallel)


class DashboardDidNotStart(RuntimeError):
    """The server did not answer its health check; the message ends with its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_streamlit(
    db_url: str,
    simulator_url: str,
    log: Path,
    *,
    extra_env: dict[str, str] | None = None,
    address: str = "127.0.0.1",
    secrets_text: Any = None,
    secrets_dir: Path | None = None,
) -> Iterator[str]:
    """`streamlit run dashboard.py` listening on ``address`` (loopback unless told otherwise), its
    PERIMETER_* settings from the arguments only; yields its base URL, reached through 127.0.0.1.
    ``secrets_text(port)`` gives a secrets.toml for the port chosen, written into ``secrets_dir``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERIMETER_")}
    env.update(PERIMETER_DATABASE_URL=db_url, PERIMETER_SIMULATOR_URL=simulator_url, **(extra_env or {}))
    for attempt in range(1, START_ATTEMPTS + 1):
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
        if secrets_text is not None:
            assert secrets_dir is not None
            secrets_file = secrets_dir / "secrets.toml"
            secrets_file.write_text(secrets_text(port))
            command += ["--secrets.files", str(secrets_file)]
        with open(log, "w") as out:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        if _started(base, process):
            break
        process.kill()
        process.wait(timeout=20)
        if attempt == START_ATTEMPTS or "is not available" not in log.read_text():
            raise DashboardDidNotStart(f"streamlit did not start:\n{log.read_text()[-3000:]}")
    try:
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


def _started(base: str, process: subprocess.Popen, timeout: float = 60) -> bool:  # type: ignore[type-arg]
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
def chromium(extra_args: tuple[str, ...] = ()) -> Iterator[Any]:
    """Playwright's Chromium API on Debian's headless Chromium (`apt-get install chromium`)."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args])
        try:
            yield browser
        finally:
            browser.close()


SETTLED_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.dataset.testScriptState === 'notRunning'
      && app.dataset.testConnectionState === 'CONNECTED'
      && !!document.querySelector('[data-testid="stMain"] h1');
}"""


def wait_until_settled(page: Any, timeout_ms: int = 60_000, quiet_ms: int = 300) -> None:
    """Until the page's script run has finished, its title is drawn and nothing reran for ``quiet_ms``."""
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        page.wait_for_function(SETTLED_JS, timeout=max(1.0, (deadline - time.monotonic()) * 1000))
        page.wait_for_timeout(quiet_ms)
        if page.evaluate(SETTLED_JS):
            return
        if time.monotonic() > deadline:
            raise TimeoutError("the page kept rerunning")

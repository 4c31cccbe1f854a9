"""`make run`: the simulator, the collector worker and the dashboard, stopped together on Ctrl-C.

Demo mode only (no Graph credentials): with credentials set, run `python -m collectors worker` and
`streamlit run dashboard.py` under your own process supervisor instead.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from urllib.parse import urlparse

from safetext.secrets import redact
from safetext.terminal import terminal_value, write_error, write_output
from settings import SettingsError, get_settings

HEALTH_TIMEOUT_S = 30
DEMO_DRIFT_MINUTES = 30  # make run: a client admin removes an exclusion every half hour (simulator)


def report_error(line: str, secrets: tuple[str, ...] = ()) -> None:
    write_error("run", line, secrets)


def _wait_for(url: str, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"run: the {what} exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    shown = terminal_value(redact(url))
    raise SystemExit(f"run: the {what} did not answer {shown} within {HEALTH_TIMEOUT_S} s")


def main() -> int:
    try:
        settings = get_settings()
    except SettingsError as error:
        report_error(str(error))
        return 2
    if not settings.demo_mode:
        report_error(
            "Graph credentials are configured; `make run` starts the demo only. Start "
            "`python -m collectors worker` and `streamlit run dashboard.py` instead."
        )
        return 2
    secrets = settings.secret_values()
    sim = urlparse(settings.simulator_url)
    python = sys.executable
    children: list[subprocess.Popen] = []

    def stop_all(*_: object) -> None:
        for child in reversed(children):
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()

    signal.signal(signal.SIGTERM, lambda *_: (stop_all(), sys.exit(0)))
    try:
        simulator = subprocess.Popen(
            [
                python,
                "-m",
                "simulator",
                "--host",
                sim.hostname or "127.0.0.1",
                "--port",
                str(sim.port or 8765),
                # The demo shows a client admin's drift (Changes page, D-1, alerts) within the first
                # half hour, not after 8 hours.
                "--drift-every",
                str(DEMO_DRIFT_MINUTES),
            ]
        )
        children.append(simulator)
        _wait_for(f"{settings.simulator_url}/_sim/health", simulator, "simulator")
        children.append(subprocess.Popen([python, "-m", "collectors", "worker"]))
        dashboard = subprocess.Popen([python, "-m", "streamlit", "run", "dashboard.py"])
        children.append(dashboard)
        _wait_for("http://127.0.0.1:8501/_stcore/health", dashboard, "dashboard")
        write_output(
            json.dumps(
                {
                    "dashboard": "http://127.0.0.1:8501",
                    "simulator": redact(settings.simulator_url, secrets),
                    "database": redact(settings.database_url, secrets),
                }
            )
        )
        write_output("Perimeter is running on the simulated MSP. Press Ctrl-C to stop everything.")
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        failed = [c.args[2] if len(c.args) > 2 else c.args for c in children if c.poll() is not None]
        report_error(f"a process stopped unexpectedly: {failed}; stopping the rest.", secrets)
        return 1
    except KeyboardInterrupt:
        write_output("\nStopping…")
        return 0
    finally:
        stop_all()


def run() -> int:
    """`make run`, `python launcher.py` and the `perimeter-run` command: main() from the project
    directory, where dashboard.py, pages/ and .env are."""
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
    return main()


if __name__ == "__main__":
    sys.exit(run())

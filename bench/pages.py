"""How long each dashboard page takes to settle on the demo MSP, in a real headless Chromium.

    python bench/pages.py [--visits 3] [--viewport 1920x1080] [--busy] [--screenshots docs/screenshots]

One full collection of the simulated MSP (real clock, posture evaluated) into a fresh SQLite file, then
`streamlit run dashboard.py` on it. Every page of the navigation is opened in a new browser session:
first while the server's caches are cold (the first visit of that page since the server started), then
``--visits`` more times. A page has settled when its script run has finished, its title is drawn and it
has not rerun for 0.3 s; the time printed is from the request to that moment (the quiet 0.3 s left out).
The target is 3 s for the first visit of every page. ``--busy`` measures while the collector worker
collects back to back into the same database (its intervals at 10 s: both cores busy, as in production
during a cycle). ``--screenshots`` also saves the wall (kiosk), posture and blocked sign-ins pages at the
viewport's size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.browser import SETTLED_JS, chromium, running_streamlit
from collectors.run import collect_once
from db import open_database
from settings import load_settings
from simulator import SimConfig, Simulator
from ui.chrome import PAGES

TARGET_S = 3.0
QUIET_MS = 300
SCREENSHOTS = (("wall", "wall?kiosk=1"), ("posture", "posture"), ("blocked-signins", "signins"))


def settle_seconds(page: Any, url: str, timeout_s: float = 90) -> float:
    """Seconds from the request for ``url`` until the page settled (see the module's docstring)."""
    started = time.monotonic()
    page.goto(url)
    while True:
        remaining_ms = max(1000.0, (started + timeout_s - time.monotonic()) * 1000)
        page.wait_for_function(SETTLED_JS, timeout=remaining_ms)
        settled = time.monotonic()
        page.wait_for_timeout(QUIET_MS)
        if page.evaluate(SETTLED_JS):
            return settled - started
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"{url} kept rerunning for {timeout_s} s")


def visit(browser: Any, url: str, viewport: dict[str, int]) -> tuple[float, int]:
    """(seconds to settle, exceptions drawn) for one visit in a new browser session."""
    context = browser.new_context(viewport=viewport)
    try:
        page = context.new_page()
        seconds = settle_seconds(page, url)
        return seconds, page.locator("[data-testid='stException']").count()
    finally:
        context.close()


def screenshot(browser: Any, url: str, viewport: dict[str, int], path: Path) -> None:
    context = browser.new_context(viewport=viewport)
    try:
        page = context.new_page()
        settle_seconds(page, url)
        page.wait_for_timeout(1500)  # charts draw after the run settles
        page.screenshot(path=str(path))
    finally:
        context.close()


def start_busy_worker(url: str, simulator_url: str, log: Path) -> subprocess.Popen:  # type: ignore[type-arg]
    """`python -m collectors worker` on the benchmark's database, its cycles as close as they go."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERIMETER_")}
    env.update(
        PERIMETER_DATABASE_URL=url,
        PERIMETER_SIMULATOR_URL=simulator_url,
        PERIMETER_COLLECT_INTERVAL_SECONDS="10",
        PERIMETER_SIGNIN_INTERVAL_SECONDS="10",
    )
    with open(log, "w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "collectors", "worker"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--visits", type=int, default=3, help="visits per page after the first (default 3)")
    parser.add_argument("--viewport", default="1920x1080", help="WIDTHxHEIGHT (default 1920x1080)")
    parser.add_argument("--busy", action="store_true", help="measure while the worker collects back to back")
    parser.add_argument("--screenshots", type=Path, help="save the wall, posture and sign-in pages here")
    args = parser.parse_args()
    try:
        width, height = (int(n) for n in args.viewport.lower().split("x"))
    except ValueError:
        parser.error(f"--viewport: expected WIDTHxHEIGHT such as 1920x1080, got {args.viewport!r}")
    viewport = {"width": width, "height": height}

    with tempfile.TemporaryDirectory() as work, Simulator(SimConfig(seed=7)) as simulator:
        url = f"sqlite:///{Path(work) / 'perimeter.db'}"
        engine = open_database(url)
        started = time.monotonic()
        report = collect_once(load_settings(database_url=url, simulator_url=simulator.url), engine)
        engine.dispose()
        print(f"demo collected in {time.monotonic() - started:.0f} s ({len(report.errors)} error(s))")
        worker = start_busy_worker(url, simulator.url, Path(work) / "worker.log") if args.busy else None
        with (
            running_streamlit(url, simulator.url, Path(work) / "streamlit.log") as base,
            chromium() as browser,
        ):
            rows = []
            for entry in PAGES:
                page_url = f"{base}/{Path(entry.file).stem}"
                first, errors = visit(browser, page_url, viewport)
                again = []
                for _ in range(args.visits):
                    seconds, more = visit(browser, page_url, viewport)
                    again.append(seconds)
                    errors += more
                rows.append((entry.title, first, statistics.median(again) if again else None, errors))
            if args.screenshots:
                args.screenshots.mkdir(parents=True, exist_ok=True)
                for name, path in SCREENSHOTS:
                    target = args.screenshots / f"{name}-{width}x{height}.png"
                    screenshot(browser, f"{base}/{path}", viewport, target)
                    print(f"saved {target}")
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
            print("measured while the collector worker collected back to back")

    print(f"\n{'page':<20} {'first visit':>12} {'median again':>13} {'exceptions':>11}")
    for title, first, again_s, errors in rows:
        again_text = "—" if again_s is None else f"{again_s:.2f} s"
        print(f"{title:<20} {first:>10.2f} s {again_text:>13} {errors:>11}")
    slowest = max(rows, key=lambda r: r[1])
    within = all(r[1] <= TARGET_S for r in rows) and not any(r[3] for r in rows)
    print(
        f"\nslowest first visit: {slowest[0]} {slowest[1]:.2f} s (target ≤ {TARGET_S:.0f} s per page): "
        + ("within target" if within else "NOT within target")
    )
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())

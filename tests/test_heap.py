"""The dashboard process sets its long-lived objects aside from the cycle collector once (ui.heap). Each
test runs in a process of its own: the freeze is process-wide and happens once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, **env: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


def test_the_first_call_freezes_what_the_process_holds_and_later_calls_change_nothing():
    out = _run(
        "import gc\n"
        "from ui.heap import freeze_startup_heap\n"
        "first = freeze_startup_heap(); frozen = gc.get_freeze_count()\n"
        "kept = [[] for _ in range(1000)]\n"
        "second = freeze_startup_heap()\n"
        "print(first, frozen > 0, second, gc.get_freeze_count() == frozen)\n"
    )
    assert out == ["True", "True", "False", "True"]


def test_a_dashboard_process_freezes_its_heap_after_its_first_page_run(tmp_path):
    out = _run(
        "import gc\n"
        "from streamlit.testing.v1 import AppTest\n"
        "at = AppTest.from_file('dashboard.py', default_timeout=120)\n"
        "print(gc.get_freeze_count())\n"
        "at.run()\n"
        "print(gc.get_freeze_count(), len(at.exception))\n",
        PERIMETER_DATABASE_URL=f"sqlite:///{tmp_path / 'perimeter.db'}",
    )
    before, after, exceptions = map(int, out)
    assert before == 0
    assert after > 0
    assert exceptions == 0

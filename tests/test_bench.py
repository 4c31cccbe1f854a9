"""The ingest benchmark runs end to end and ends with the line the issue specifies (figures are not
asserted: machines are noisy)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RATES = re.compile(r"^ingest: ([\d,]+) rows/s, floor: ([\d,]+) rows/s, ratio: (\d+\.\d\d)$")
CEILING = re.compile(r"^ceiling: ([\d,]+) rows/s, ingest's share of it: (\d+\.\d\d)$")


def test_ingest_benchmark_ends_with_rates_their_ratio_and_the_share_of_the_ceiling() -> None:
    result = subprocess.run(
        [sys.executable, "bench/ingest.py", "--pages", "2", "--rounds", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    lines = result.stdout.strip().splitlines()
    match, ceiling = RATES.match(lines[-2]), CEILING.match(lines[-1])
    assert match and ceiling, lines[-2:]
    ingest, floor = (int(group.replace(",", "")) for group in match.groups()[:2])
    assert ingest > 0 and floor > 0
    assert abs(float(match.group(3)) - ingest / floor) < 0.01
    assert abs(float(ceiling.group(2)) - ingest / int(ceiling.group(1).replace(",", ""))) < 0.01
    assert sum(line.startswith("round ") for line in lines) == 2


def test_ingest_benchmark_rejects_a_single_page() -> None:
    result = subprocess.run(
        [sys.executable, "bench/ingest.py", "--pages", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--pages must be at least 2" in result.stderr
    assert "Traceback" not in result.stderr

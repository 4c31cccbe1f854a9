"""An evaluation lets go of its snapshot when it ends: the views it builds point back and forth, and
were left for the cycle collector (500 tenants: ~500,000 objects walked after every evaluation)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from posture_fixtures import good_snapshot

from investigate.mfa import coverage
from posture import PostureOptions, evaluate
from posture.view import SnapshotView


class Marker:
    """Something the snapshot holds that can be watched (JSON values cannot take a weak reference)."""


@pytest.fixture
def no_cycle_collector() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _watched_snapshot() -> tuple[dict, weakref.ref]:
    snapshot = good_snapshot()
    marker = Marker()
    snapshot["tenants"][0]["watched"] = marker
    return snapshot, weakref.ref(marker)


def test_a_snapshot_is_freed_when_its_evaluation_is_done_with_it(no_cycle_collector):
    snapshot, watched = _watched_snapshot()
    findings = evaluate(snapshot)
    assert findings
    del snapshot
    assert watched() is None


def test_a_snapshot_is_freed_when_its_mfa_coverage_is_done_with_it(no_cycle_collector):
    snapshot, watched = _watched_snapshot()
    rows = coverage(snapshot, evaluate(snapshot))
    assert rows
    del snapshot
    assert watched() is None


def test_a_view_used_as_a_context_is_released_at_its_end(no_cycle_collector):
    snapshot, watched = _watched_snapshot()
    with SnapshotView(snapshot, PostureOptions()) as view:
        assert view.tenants
    del snapshot
    assert watched() is None

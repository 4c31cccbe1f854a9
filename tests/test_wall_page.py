"""The wall under AppTest: tiles, kiosk mode, refresh and rotation from the URL."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from support import FIXED_NOW, collect_demo, run_page

PAGE = "pages/wall.py"


@pytest.fixture(scope="module")
def demo(simulator, demo_database, tmp_path_factory):
    url, _engine = collect_demo(demo_database, tmp_path_factory, "wall-page")
    return url, simulator.url


@pytest.fixture
def app(demo, app_test):
    return app_test(*demo, now=FIXED_NOW)


def open_wall(app: AppTest, **params: str) -> AppTest:
    return run_page(app, PAGE, from_the_start=True, **params)


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_the_wall_shows_every_tile(app):
    at = open_wall(app)
    labels = {m.label for m in at.metric}
    assert labels >= {
        "Blocked sign-ins, last hour",
        "Blocked sign-ins, 24 h",
        "Data freshness",
        "Tenants with critical findings",
        "API clients open to any IP",
        "MFA capable",
    }
    assert int(metric(at, "Blocked sign-ins, 24 h").replace(",", "")) > 0
    assert int(metric(at, "Tenants with critical findings")) > 0
    assert int(metric(at, "API clients open to any IP")) >= 1
    assert len(at.table) == 2  # top blocking policies, latest blocked sign-ins


def test_kiosk_mode_hides_the_sidebar_but_keeps_the_demo_marker(app):
    at = open_wall(app, kiosk="1")
    assert len(at.sidebar.caption) == 0
    assert any("Demo data" in c.value for c in at.caption)


def test_without_kiosk_mode_the_sidebar_stays(app):
    assert len(open_wall(app).sidebar.caption) > 0


def test_the_refresh_comes_from_the_url_within_bounds(app):
    at = open_wall(app, refresh="1")
    assert any("refreshes every 5 s" in c.value for c in at.caption)


def test_rotation_shows_one_tenant_at_a_time(app):
    at = open_wall(app, rotate="20")
    [heading] = [h.value for h in at.title]
    assert heading.startswith("Perimeter wall · ") and "All " not in heading
    assert any("next tenant every 20 s" in c.value for c in at.caption)


def test_the_blocked_counts_show_their_change_with_an_arrow_and_colour_from_the_numbers(app):
    from streamlit.proto.Metric_pb2 import Metric as MetricProto

    at = open_wall(app)
    for label in ("Blocked sign-ins, last hour", "Blocked sign-ins, 24 h"):
        tile = next(m for m in at.metric if m.label == label)
        delta = tile.proto.delta
        if delta.startswith("−"):  # fewer blocked: good
            expected = (MetricProto.MetricColor.GREEN, MetricProto.MetricDirection.DOWN)
        elif delta.startswith("+"):
            expected = (MetricProto.MetricColor.RED, MetricProto.MetricDirection.UP)
        else:
            expected = (MetricProto.MetricColor.GRAY, MetricProto.MetricDirection.NONE)
        assert (tile.proto.color, tile.proto.direction) == expected, (label, delta)

"""One truth about freshness (issue 14, item 1): a failing source is never fresh, the posture run is not
data, standing states are counted apart, errors are grouped by cause and host, and an evaluation says
what data it rests on — here on rows, then through a real outage of the demo (its simulator gone)."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest

from bench.browser import free_port
from collectors.run import collect_once, failure_text
from collectors.status import collection_health, error_groups, status_rows
from connectors.graph import GraphError
from db.posture_store import current_findings
from db.queries import recent_errors
from settings import load_settings
from support import FIXED_NOW, collect_demo, dashboard_app, run_page

OUTAGE_AT = FIXED_NOW + timedelta(minutes=5)


def row(source: str, state: str, age: int | None, *, tenant: str = "t1", **extra: object) -> dict:
    success = None if age is None else (FIXED_NOW - timedelta(seconds=age)).isoformat() + "Z"
    return {
        "tenantId": tenant,
        "source": source,
        "state": state,
        "ageSeconds": age,
        "lastSuccess": success,
        "lastErrorAt": None,
        "derived": source == "posture",
        **extra,
    }


def test_the_posture_run_is_never_the_newest_data():
    health = collection_health([row("signIns", "failing", 600), row("posture", "fresh", 2)])
    assert health.newest_age_seconds == 600
    assert (health.sources, health.fresh, health.failing) == (1, 0, 1)


def test_standing_states_are_counted_apart_so_fresh_stale_and_failing_add_up_to_the_sources():
    health = collection_health(
        [
            row("signIns", "fresh", 30),
            row("users", "stale", 9000),
            row("groups", "failing", 700, tenant="t2", lastErrorAt="2026-11-22T11:59:00Z"),
            row("signIns", "not licensed", None, tenant="t3"),
            row("users", "consent needed", None, tenant="t4"),
        ]
    )
    assert (health.sources, health.fresh, health.stale, health.failing) == (3, 1, 1, 1)
    assert (health.not_licensed, health.consent_needed, health.tenants) == (1, 1, 4)
    assert (health.failing_tenants, health.latest_error_at) == (1, "2026-11-22T11:59:00Z")
    assert health.data_up_to == (FIXED_NOW - timedelta(seconds=9000)).isoformat() + "Z"
    assert health.words() == "1/3 sources fresh · 1 stale · 1 failing · 1 not licensed · 1 consent needed"


def test_a_transport_failure_names_its_cause_and_the_host_it_could_not_reach():
    request = httpx.Request("GET", "https://graph.example.test:8443/v1.0/users")
    error = httpx.ConnectError("", request=request)
    assert failure_text(error, "fallback.example") == "ConnectError at graph.example.test:8443"


def test_a_graph_answer_names_its_status_and_the_service_called():
    error = GraphError("HTTP 503: ServiceUnavailable: try later", 503)
    text = failure_text(error, "graph.microsoft.com")
    assert text == "HTTP 503 at graph.microsoft.com: ServiceUnavailable: try later"


def test_errors_with_one_cause_at_one_host_are_one_group_whatever_their_details():
    first, last = datetime(2026, 11, 22, 2, 41), datetime(2026, 11, 22, 2, 44)
    rows = [
        ("ConnectError at 10.0.0.1:443", 20, 20, 1, first, last, "Contoso"),
        ("ConnectError at 10.0.0.1:443: refused", 6, 6, 2, first, first, "Fabrikam"),
        ("HTTP 429 at graph.microsoft.com: TooManyRequests", 1, 1, 1, last, last, "Contoso"),
    ]
    groups = error_groups(rows)
    assert [(g.cause, g.host, g.runs) for g in groups] == [
        ("ConnectError", "10.0.0.1:443", 26),
        ("HTTP 429", "graph.microsoft.com", 1),
    ]
    assert (groups[0].first, groups[0].last) == (first, last)


# --- a real outage: the demo collected, then a cycle with its simulator gone -------------------------


@pytest.fixture(scope="module")
def outage(demo_database, tmp_path_factory):
    url, engine = collect_demo(demo_database, tmp_path_factory, "outage")
    gone = f"http://127.0.0.1:{free_port()}"  # nothing listens there: every request is refused
    report = collect_once(
        load_settings(database_url=url, simulator_url=gone), engine, clock=lambda: OUTAGE_AT
    )
    assert report.errors
    return url, engine, gone


def test_during_an_outage_no_source_is_fresh(outage):
    url, engine, gone = outage
    health = collection_health(status_rows(load_settings(database_url=url, simulator_url=gone), engine))
    assert health.sources > 100 and health.fresh == 0
    assert health.failing + health.stale == health.sources and health.failing > health.sources - 5


def test_an_evaluation_during_an_outage_says_what_data_it_rests_on(outage):
    _url, engine, _gone = outage
    with engine.connect() as conn:
        latest = current_findings(conn, OUTAGE_AT)
    assert latest.evaluated_at == OUTAGE_AT and latest.data_up_to is not None
    assert latest.data_up_to <= FIXED_NOW and latest.sources_failing
    assert latest.basis_words() == (
        f"Evaluated {OUTAGE_AT:%Y-%m-%d %H:%M} UTC on data up to {latest.data_up_to:%H:%M} UTC, "
        f"{latest.sources_failing} source(s) failing"
    )


def test_an_outage_is_a_few_error_groups_naming_the_host(outage):
    _url, engine, gone = outage
    with engine.connect() as conn:
        groups = error_groups(recent_errors(conn, FIXED_NOW))
    host = gone.removeprefix("http://")
    assert 1 <= len(groups) <= 3 and all(g.host == host for g in groups)
    assert sum(g.runs for g in groups) > 100


def test_the_collectors_page_shows_the_outage_grouped_and_nothing_fresh(outage, monkeypatch):
    url, _engine, gone = outage
    app = dashboard_app(monkeypatch, url, gone, now=OUTAGE_AT + timedelta(minutes=1))
    at = run_page(app, "pages/collectors.py")
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    # One minute after the outage's cycle: only a source that cycle did not try can still be fresh.
    fresh, sources = (int(n) for n in metrics["Sources fresh"].split("/"))
    assert fresh <= 1 and int(metrics["Failing"]) >= sources - 1
    errors = at.dataframe[-1].value
    assert set(errors["Host"]) == {gone.removeprefix("http://")} and len(errors) <= 3
    assert any("source(s) of" in e.value and "data complete up to" in e.value for e in at.error)


def test_the_posture_page_says_an_evaluation_during_an_outage_rests_on_older_data(outage, monkeypatch):
    url, _engine, gone = outage
    app = dashboard_app(monkeypatch, url, gone, now=OUTAGE_AT + timedelta(minutes=1))
    at = run_page(app, "pages/posture.py")
    basis = [w.value for w in at.warning if "on data up to" in w.value]
    assert basis and "source(s) failing" in basis[0] and f"Evaluated {OUTAGE_AT:%Y-%m-%d %H:%M}" in basis[0]

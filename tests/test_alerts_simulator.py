"""Issue 16's end to end: against the simulator, a client admin's change (the demo drift) regresses a
finding; the alert that reaches a real local receiver names the change and who made it, exactly once."""

from __future__ import annotations

from datetime import timedelta

from alerts_support import receiving

from alerts.delivery import deliver_due
from alerts.state import evaluate_alerts
from collectors.run import collect_once
from db.history import finding_transitions
from settings import load_settings
from simulator import SimConfig, Simulator
from support import FIXED_NOW, collect_demo


def test_a_client_admins_change_reaches_the_receiver_once_naming_the_change(demo_database, tmp_path_factory):
    url, engine = collect_demo(demo_database, tmp_path_factory, "alerts-e2e")
    later = FIXED_NOW + timedelta(minutes=10)
    with Simulator(SimConfig(seed=7, now=FIXED_NOW)) as sim, receiving() as receiver:
        settings = load_settings(
            database_url=url, simulator_url=sim.url, alert_channels={"noc": receiver.url}
        )
        evaluate_alerts(engine, settings, FIXED_NOW)  # what already holds in the demo
        deliver_due(engine, settings, FIXED_NOW)
        before = len(receiver.messages)
        drift = sim.drift_now()
        assert drift is not None
        report = collect_once(settings, engine, clock=lambda: later)
        assert not report.errors, report.errors
        for minutes in (0, 5):
            evaluate_alerts(engine, settings, later + timedelta(minutes=minutes))
            deliver_due(engine, settings, later + timedelta(minutes=minutes))
    regressions = [m for m in receiver.messages[before:] if "Finding regressed" in m["title"]]
    assert regressions, [m["title"] for m in receiver.messages[before:]]
    text = regressions[0]["message"]
    assert "went pass → fail" in text and "caused by a change to" in text
    # Who made it, as the change history attributes it (its own tests check the attribution itself).
    with engine.connect() as conn:
        cause = next(t.cause for t in finding_transitions(conn, later) if t.cause is not None)
    assert f"caused by a change to {cause.name} by {cause.who or 'someone unknown'}" in text
    titles = [m["message"] for m in regressions]
    assert len(titles) == len(set(titles))  # each regression once

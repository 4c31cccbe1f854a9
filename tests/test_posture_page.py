"""The posture page a manager reads in 30 seconds: the MSP's own perimeter apart from the client tenants,
worst first, checks with their titles, scores in words per tenant, and a cell's findings on a click.
The grouping and ordering (posture.summary) and the grids (ui.posture_view) alone, then the page on the
demo with Streamlit's AppTest."""

from __future__ import annotations

import json

import pytest

from db.posture_store import current_findings
from posture import CATALOGUE, CHECKS_BY_ID, Finding, Subject
from posture.scoring import score, score_band
from posture.summary import (
    CLIENT_CHECKS,
    MSP_CHECKS,
    band_counts,
    cell_findings,
    check_label,
    client_columns,
    client_rows,
    msp_tenant_ids,
    perimeter_rows,
    short_title,
    split_perimeter,
)
from support import FIXED_NOW, collect_demo, run_page
from ui.posture_view import cell_text, clicked_cell, client_figure, perimeter_figure, perimeter_text

MSP = "msp-tenant"


def _finding(check: str, status: str, tenant: str = "t1", subject: str = "p1") -> Finding:
    return Finding(
        check=check,
        tenant_id=tenant,
        status=status,  # type: ignore[arg-type]
        severity=CHECKS_BY_ID[check].severity,
        subject=Subject("policy", subject, f"Policy {subject}"),
        message=f"{check} {status}",
        evidence={"policyId": subject},
        fix="client-policy.exclude-service-provider" if status == "fail" else None,
    )


# --- which checks are the MSP's perimeter ----------------------------------------------------------


def test_the_msp_perimeter_is_the_prerequisites_step_1_and_parts_a_b_c():
    assert {c.part for c in MSP_CHECKS} == {"PRE", "LOC", "A", "B", "C"}
    assert {c.part for c in CLIENT_CHECKS} == {"D", "MFA"}
    assert {c.id for c in MSP_CHECKS} | {c.id for c in CLIENT_CHECKS} == {c.id for c in CATALOGUE}
    assert not {c.id for c in MSP_CHECKS} & {c.id for c in CLIENT_CHECKS}


def test_every_check_the_catalogue_scopes_to_the_msp_is_in_the_perimeter():
    in_msp_scope = {c.id for c in CATALOGUE if c.scope.startswith("MSP")}
    assert in_msp_scope and in_msp_scope <= {c.id for c in MSP_CHECKS}
    in_client_scope = {c.id for c in CATALOGUE if "client tenant" in c.scope or "client policy" in c.scope}
    assert in_client_scope and in_client_scope <= {c.id for c in CLIENT_CHECKS}


def test_the_msp_tenant_is_the_one_its_perimeter_checks_judged():
    findings = [_finding("A-1", "pass", MSP), _finding("C-1", "fail", MSP), _finding("D-1", "fail", "t1")]
    assert msp_tenant_ids(findings) == {MSP}


def test_the_msp_tenants_own_mfa_findings_go_to_the_perimeter_not_to_a_client_row():
    msp_mfa, client_mfa = _finding("MFA-1", "warn", MSP), _finding("MFA-1", "fail", "t1")
    c1 = _finding("C-1", "fail", MSP)
    perimeter, clients = split_perimeter([msp_mfa, client_mfa, c1], {MSP})
    assert perimeter == [msp_mfa, c1]
    assert clients == [client_mfa]


def test_the_client_matrix_columns_are_client_checks_in_catalogue_order():
    findings = [_finding("MFA-3", "pass"), _finding("D-2", "pass"), _finding("D-1", "fail")]
    assert client_columns(findings) == ["D-1", "D-2", "MFA-3"]
    assert client_columns([_finding("A-1", "fail", MSP)]) == []


# --- worst first ---------------------------------------------------------------------------------


def test_client_tenants_are_ordered_lowest_score_first_and_unscored_last():
    findings = [
        _finding("D-1", "pass", "good"),
        _finding("D-1", "fail", "bad"),
        _finding("MFA-1", "pass", "middling"),
        _finding("D-1", "fail", "middling"),
        _finding("D-1", "n/a", "unscored"),
    ]
    rows = client_rows(findings)
    assert [r.tenant_id for r in rows] == ["bad", "middling", "good", "unscored"]
    assert [r.score for r in rows][:3] == sorted(r.score for r in rows[:3])  # type: ignore[type-var]


def test_equal_scores_put_the_tenant_with_more_critical_failures_first():
    # Three tenants at 50: c fails a critical check on two of four policies, a on one of two, b fails a
    # high check (MFA-1) for one of two users.
    findings = [
        _finding("D-1", "fail", "a", "p1"),
        _finding("D-1", "pass", "a", "p2"),
        _finding("MFA-1", "fail", "b", "u1"),
        _finding("MFA-1", "pass", "b", "u2"),
        _finding("D-1", "fail", "c", "p1"),
        _finding("D-1", "fail", "c", "p2"),
        _finding("D-1", "pass", "c", "p3"),
        _finding("D-1", "pass", "c", "p4"),
    ]
    rows = client_rows(findings)
    assert {r.score for r in rows} == {50.0}
    assert [r.tenant_id for r in rows] == ["c", "a", "b"]


def test_equal_tenants_are_ordered_by_name():
    findings = [_finding("D-1", "pass", "id-1"), _finding("D-1", "pass", "id-2")]
    names = {"id-1": "Zebra Ltd", "id-2": "Alpine Ski House"}
    assert [r.tenant_id for r in client_rows(findings, names)] == ["id-2", "id-1"]


def test_the_perimeter_lists_failing_checks_first_then_by_severity_then_failing_count():
    findings = [
        _finding("PRE-1", "pass", MSP),
        _finding("LOC-2", "fail", MSP, "r1"),  # medium
        _finding("C-1", "fail", MSP, "c1"),  # critical
        _finding("A-3", "warn", MSP),
        _finding("C-2", "fail", MSP, "r1"),
        _finding("C-2", "fail", MSP, "r2"),
    ]
    rows = perimeter_rows(findings)
    severities = ["critical", "high", "medium", "low"]
    failing = [r for r in rows if r.worst == "fail"]
    assert rows[: len(failing)] == failing and rows[-1].check == "PRE-1"
    keys = [(severities.index(r.severity), -r.failing) for r in failing]
    assert keys == sorted(keys)
    c2 = next(r for r in rows if r.check == "C-2")
    assert (c2.failing, c2.subjects, c2.title) == (2, 2, CHECKS_BY_ID["C-2"].title)


# --- scores in words ----------------------------------------------------------------------------


def test_each_client_tenant_has_its_own_score_and_band():
    findings = [_finding("D-1", "pass", "t1"), _finding("MFA-1", "fail", "t1"), _finding("D-1", "fail", "t2")]
    by_id = {r.tenant_id: r for r in client_rows(findings)}
    for tenant in ("t1", "t2"):
        own = [f for f in findings if f.tenant_id == tenant]
        assert by_id[tenant].score == score(own)
        assert by_id[tenant].band == score_band(score(own))
    assert (by_id["t2"].critical_failing, by_id["t2"].failing) == (1, 1)


def test_band_counts_say_how_many_tenants_in_each_band_worst_first():
    findings = [_finding("D-1", "fail", "a"), _finding("D-1", "fail", "b"), _finding("D-1", "pass", "c")]
    assert list(band_counts(client_rows(findings)).items()) == [("critical", 2), ("good", 1)]


# --- one cell's findings ------------------------------------------------------------------------


def test_the_findings_of_one_cell_are_that_tenant_and_check_worst_first():
    findings = [
        _finding("D-1", "pass", "t1", "p1"),
        _finding("D-1", "fail", "t1", "p2"),
        _finding("D-1", "fail", "t2", "p3"),
        _finding("MFA-1", "warn", "t1"),
    ]
    cell = cell_findings(findings, "t1", "D-1")
    assert [(f.tenant_id, f.check, f.subject.id) for f in cell] == [("t1", "D-1", "p2"), ("t1", "D-1", "p1")]


def test_a_row_without_a_check_holds_every_finding_of_the_tenant():
    findings = [_finding("D-1", "pass", "t1"), _finding("MFA-1", "warn", "t1"), _finding("D-1", "fail", "t2")]
    assert [f.check for f in cell_findings(findings, "t1")] == ["MFA-1", "D-1"]


# --- the grids ----------------------------------------------------------------------------------


def test_a_click_on_a_grid_cell_names_its_tenant_and_check():
    state = {"selection": {"points": [{"x": 1, "y": 0, "customdata": ["t1", "D-1"]}]}}
    assert clicked_cell(state) == ("t1", "D-1")


def test_a_click_on_a_score_cell_names_the_tenants_whole_row():
    assert clicked_cell({"selection": {"points": [{"customdata": ["t1", ""]}]}}) == ("t1", None)


@pytest.mark.parametrize("state", [None, {}, {"selection": {"points": []}}, {"selection": {"points": [{}]}}])
def test_no_selection_names_no_cell(state):
    assert clicked_cell(state) is None


def test_a_cell_says_how_many_subjects_fail_or_its_status():
    assert cell_text("fail", {"fail": 3, "pass": 2}) == "3 fail"
    assert cell_text("warn", {"warn": 1}) == "1 warn"
    assert cell_text("pass", {"pass": 4}) == "pass"


def test_short_titles_are_cut_at_a_word():
    title = CHECKS_BY_ID["A-2"].title
    cut = short_title("A-2", 20)
    assert len(cut) <= 20 and cut.endswith("…") and title.startswith(cut[:-1])
    assert short_title("A-2", len(title)) == title
    assert check_label("D-1", 200) == f"D-1 · {CHECKS_BY_ID['D-1'].title}"


def test_the_client_grid_labels_rows_with_tenant_names_as_plain_text_and_columns_with_titles():
    findings = [_finding("D-1", "fail", "t1"), _finding("MFA-1", "pass", "t2")]
    rows = client_rows(findings)
    names = {"t1": "<b>Evil</b> & Co", "t2": "Plain"}
    figure = client_figure(rows, client_columns(findings), lambda t: names[t])
    assert list(figure.layout.yaxis.ticktext) == ["&lt;b&gt;Evil&lt;/b&gt; &amp; Co", "Plain"]
    columns = list(figure.layout.xaxis.ticktext)
    assert (
        columns[0] == "Score"
        and columns[1].startswith("D-1<br>Client")
        and columns[2].startswith("MFA-1<br>")
    )
    clicks = figure.data[-1]
    assert [list(c) for c in clicks.customdata][:3] == [["t1", ""], ["t1", "D-1"], ["t1", "MFA-1"]]


def test_the_perimeter_grid_says_how_many_subjects_fail():
    rows = perimeter_rows([_finding("C-2", "fail", MSP, "r1"), _finding("C-2", "pass", MSP, "r2")])
    assert perimeter_text(rows[0]) == "fail · 1 of 2 subjects"
    figure = perimeter_figure(rows, lambda t: t)
    assert figure.data[0].text[0][0] == "fail · 1 of 2 subjects"
    assert list(figure.data[-1].customdata[0]) == [MSP, "C-2"]


# --- the page on the demo -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(demo_database, tmp_path_factory):
    url, engine = collect_demo(demo_database, tmp_path_factory, "posture-page")
    return url, engine


@pytest.fixture
def app(demo, app_test):
    return app_test(demo[0])


@pytest.fixture(scope="module")
def demo_findings(demo):
    with demo[1].connect() as conn:
        return current_findings(conn, FIXED_NOW).findings


def _charts(at) -> list[dict]:  # type: ignore[no-untyped-def]
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def _metric(at, label: str):  # type: ignore[no-untyped-def]
    return next(m for m in at.metric if m.label == label)


def test_the_page_shows_the_msp_perimeter_apart_from_a_client_matrix_of_client_checks(app):
    at = run_page(app, "pages/posture.py")
    perimeter, clients = _charts(at)[:2]
    perimeter_checks = {label.split(" · ")[0] for label in perimeter["layout"]["yaxis"]["ticktext"]}
    assert perimeter_checks >= {c.id for c in MSP_CHECKS if c.part in ("A", "B", "C")}
    assert perimeter_checks - {c.id for c in MSP_CHECKS} <= {c.id for c in CLIENT_CHECKS if c.part == "MFA"}
    columns = [label.split("<br>")[0] for label in clients["layout"]["xaxis"]["ticktext"]]
    assert columns[0] == "Score"
    assert columns[1:] and set(columns[1:]) <= {c.id for c in CLIENT_CHECKS}


def test_the_client_matrix_puts_the_worst_tenant_first_with_its_score(app, demo_findings):
    at = run_page(app, "pages/posture.py")
    clients = _charts(at)[1]
    scores_shown = [row[0] for row in clients["data"][0]["text"]]
    scored = [float(text.split()[0]) for text in scores_shown if text != "—"]
    assert len(scored) > 10 and scored == sorted(scored)
    _perimeter, client_findings = split_perimeter(demo_findings, msp_tenant_ids(demo_findings))
    worst = client_rows(client_findings)[0]
    assert scores_shown[0] == f"{worst.score:.0f} {worst.band}"


def test_the_scores_are_said_with_their_band(app):
    at = run_page(app, "pages/posture.py")
    for label in ("Overall score", "MSP perimeter score"):
        metric = _metric(at, label)
        assert metric.delta == score_band(float(metric.value))
    overall = float(_metric(at, "Overall score").value)
    assert any(f"Overall {overall:.1f} / 100 — {score_band(overall)}" in m.value for m in at.markdown)


def test_the_filters_are_collapsed_so_results_come_first(app):
    at = run_page(app, "pages/posture.py")
    [filters] = [e for e in at.expander if e.label == "Filters"]
    assert {w.label for w in filters.multiselect} == {"Tenant", "Check", "Part", "Severity", "Status"}
    assert not filters.proto.expanded


def test_a_cell_in_the_url_lists_its_findings_with_evidence_and_opens_the_worst(app, demo_findings):
    failing = next(f for f in demo_findings if f.check == "D-1" and f.status == "fail")
    at = run_page(app, "pages/posture.py", tenant=failing.tenant_id, check="D-1")
    shown = at.dataframe[0].value
    expected = cell_findings(demo_findings, failing.tenant_id, "D-1")
    assert list(shown["Subject"]) == [f.subject.name or f.subject.id for f in expected]
    assert set(shown["Check"]) == {"D-1"} and {"Evidence", "Fix offered"} <= set(shown.columns)
    assert list(shown["Status"])[0] == "fail" and shown["Evidence"].iloc[0].startswith("{")
    detail = next(w for w in at.selectbox if w.label == "Evidence and why it matters for")
    assert detail.value.startswith(f"D-1|{failing.tenant_id}|")
    assert any("Why it matters" in m.value for m in at.markdown)


def test_show_all_findings_leaves_the_cell(app, demo_findings):
    failing = next(f for f in demo_findings if f.check == "D-1" and f.status == "fail")
    at = run_page(app, "pages/posture.py", tenant=failing.tenant_id, check="D-1")
    next(b for b in at.button if b.label == "Show all findings").click().run()
    assert not at.exception
    assert "tenant" not in at.query_params and "check" not in at.query_params
    assert not [b for b in at.button if b.label == "Show all findings"]

"""Snapshot format v1: validation (lenient about missing, strict about wrong types), real Graph samples,
odd shapes, and the catalogue's contract."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from posture_fixtures import CLIENT_ID, MSP_ID, client, good_snapshot, msp

from posture import CATALOGUE, Finding, SnapshotError, evaluate, load_snapshot, validate_snapshot
from posture.snapshot import TENANT_LIST_KEYS
from support import SAMPLES, sample

# --- validation ----------------------------------------------------------------------------------


def _error(doc) -> str:
    with pytest.raises(SnapshotError) as raised:
        validate_snapshot(doc, source="snap.json")
    message = str(raised.value)
    assert "\n" not in message
    return message


def test_a_good_snapshot_validates():
    snapshot = good_snapshot()
    assert validate_snapshot(snapshot) is snapshot


def test_rejects_a_top_level_list():
    assert _error([]) == "snap.json: (top level): expected a JSON object, got a list"


def test_rejects_a_missing_version():
    assert _error({"tenants": []}).startswith("snap.json: version: missing")


@pytest.mark.parametrize("version", [2, "1", True, None])
def test_rejects_any_version_but_1(version):
    assert _error({"version": version}).startswith("snap.json: version: ")


def test_rejects_tenants_that_are_not_a_list():
    assert _error({"version": 1, "tenants": {}}) == "snap.json: tenants: expected a list, got an object"


def test_rejects_a_tenant_without_tenant_id():
    snapshot = good_snapshot()
    del snapshot["tenants"][1]["tenantId"]
    assert _error(snapshot) == "snap.json: tenants[1].tenantId: missing"


def test_rejects_a_list_key_that_is_not_a_list():
    snapshot = good_snapshot()
    msp(snapshot)["users"] = {"value": []}
    assert _error(snapshot) == "snap.json: tenants[0].users: expected a list, got an object"


def test_rejects_a_list_element_that_is_not_an_object():
    snapshot = good_snapshot()
    client(snapshot)["conditionalAccessPolicies"].append("CA001")
    assert (
        _error(snapshot)
        == "snap.json: tenants[1].conditionalAccessPolicies[1]: expected an object, got a string"
    )


def test_rejects_security_defaults_that_are_not_an_object():
    snapshot = good_snapshot()
    msp(snapshot)["securityDefaults"] = True
    assert _error(snapshot) == "snap.json: tenants[0].securityDefaults: expected an object, got a boolean"


def test_rejects_a_bad_collected_at():
    assert _error({"version": 1, "collectedAt": "yesterday"}).startswith("snap.json: collectedAt: ")


def test_rejects_break_glass_upns_that_are_not_strings():
    assert (
        _error({"version": 1, "msp": {"breakGlassUpns": "bg@x"}})
        == "snap.json: msp.breakGlassUpns: expected a list of strings, got a string"
    )


def test_rejects_an_unknown_access_mode():
    snapshot = good_snapshot()
    client(snapshot)["accessMode"] = "delegated"
    assert _error(snapshot).startswith('snap.json: tenants[1].accessMode: is "delegated"')


def test_rejects_duplicate_tenant_ids():
    snapshot = good_snapshot()
    client(snapshot)["tenantId"] = MSP_ID.upper()
    assert "already appears in tenants[0]" in _error(snapshot)


def test_rejects_two_msp_tenants():
    snapshot = good_snapshot()
    client(snapshot)["role"] = "msp"
    assert _error(snapshot).startswith("snap.json: tenants[1].role: a second MSP tenant")


def test_rejects_api_clients_that_are_not_a_list_but_not_a_stray_string_inside():
    assert (
        _error({"version": 1, "cipp": {"apiClients": "Any"}})
        == "snap.json: cipp.apiClients: expected a list, got a string"
    )
    validate_snapshot({"version": 1, "cipp": {"apiClients": ["Any", {"ClientId": "x"}]}})


def test_null_counts_as_missing():
    snapshot = good_snapshot()
    client(snapshot)["users"] = None
    finding = next(f for f in evaluate(snapshot) if f.check == "MFA-1" and f.tenant_id == CLIENT_ID)
    assert finding.status == "n/a"


def test_missing_data_is_never_a_pass():
    snapshot = {
        "version": 1,
        "msp": {"tenantId": MSP_ID},
        "tenants": [{"tenantId": MSP_ID, "role": "msp"}, {"tenantId": CLIENT_ID}],
    }
    findings = evaluate(snapshot)
    assert {f.status for f in findings} == {"n/a"}
    assert {f.check for f in findings} == {c.id for c in CATALOGUE}
    assert all(f.message for f in findings)


def test_a_minimal_snapshot_evaluates():
    assert {f.status for f in evaluate({"version": 1})} == {"n/a"}


def test_load_snapshot_names_the_file_for_invalid_json(tmp_path):
    path = tmp_path / "snap.json"
    path.write_text('{"version": 1,', encoding="utf-8")
    with pytest.raises(SnapshotError, match=r"snap\.json: not valid JSON \(line 1"):
        load_snapshot(path)


def test_load_snapshot_reports_a_missing_file_and_a_directory(tmp_path):
    with pytest.raises(SnapshotError, match="no such file"):
        load_snapshot(tmp_path / "absent.json")
    with pytest.raises(SnapshotError, match="is a directory"):
        load_snapshot(tmp_path)


def test_load_snapshot_accepts_a_byte_order_mark(tmp_path):
    path = tmp_path / "snap.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(good_snapshot()).encode())
    assert load_snapshot(path)["version"] == 1


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_load_snapshot_reads_utf16_with_a_byte_order_mark(tmp_path, encoding):
    path = tmp_path / "snap.json"
    body = json.dumps(good_snapshot(), ensure_ascii=False)
    bom = {"utf-16": b"", "utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}[encoding]
    path.write_bytes(bom + body.encode(encoding))
    assert load_snapshot(path)["version"] == 1


def test_load_snapshot_names_an_encoding_it_does_not_read(tmp_path):
    path = tmp_path / "snap.json"
    path.write_bytes(json.dumps({"version": 1}).encode("utf-16-le"))  # no BOM
    with pytest.raises(SnapshotError, match=r"snap\.json: UTF-16 without a byte-order mark"):
        load_snapshot(path)
    path.write_bytes(json.dumps({"version": 1}).encode("latin-1") + b"\xe9")
    with pytest.raises(SnapshotError, match=r"snap\.json: not UTF-8 text"):
        load_snapshot(path)
    path.write_bytes(b"\xff\xfe\x00\x00" + json.dumps({"version": 1}).encode("utf-32-le"))
    with pytest.raises(SnapshotError, match="UTF-32"):
        load_snapshot(path)


# --- real Graph payloads -------------------------------------------------------------------------


def _values(prefix: str) -> list[dict]:
    """Every object of the samples whose name starts with ``prefix`` (list responses and single ones)."""
    out = []
    for path in sorted(SAMPLES.glob(f"{prefix}*.json")):
        doc = sample(path.name)
        out += doc["value"] if isinstance(doc.get("value"), list) else [doc]
    return out


def test_real_graph_samples_evaluate_without_errors():
    policies = [p for p in _values("ca_polic") if isinstance(p.get("conditions"), dict)]
    locations = _values("namedlocation")
    signins = _values("signin")
    assert len(policies) > 20 and len(locations) > 3 and len(signins) > 4
    tenant_data = {
        "conditionalAccessPolicies": policies,
        "namedLocations": locations,
        "signIns": signins,
        "subscribedSkus": sample("subscribedskus_v1_list.response.json")["value"],
        "securityDefaults": sample("security_defaults_v1_get_enabled.response.json"),
        "userRegistrationDetails": sample("userregistrationdetails_v1_list.response.json")["value"],
        "users": sample("directoryrole_v1_list_members.response.json")["value"],
        "directoryRoles": sample("directoryroles_v1_list.response.json")["value"],
        "groups": [
            {
                "id": "g1",
                "displayName": "AdminAgents",
                "members": sample("group_v1_list_members_ex1.response.json")["value"],
            }
        ],
    }
    snapshot = {
        "version": 1,
        "msp": {"tenantId": MSP_ID, "serviceAccountUpn": "AdeleV@contoso.com"},
        "tenants": [
            {"tenantId": MSP_ID, "role": "msp", **tenant_data},
            {"tenantId": CLIENT_ID, "role": "client", **tenant_data},
        ],
    }
    findings = evaluate(snapshot)
    json.dumps([f.as_dict() for f in findings])
    assert {f.check for f in findings} == {c.id for c in CATALOGUE}
    by_check = {(f.check, f.tenant_id): f for f in findings}
    assert by_check[("LOC-1", MSP_ID)].status == "pass"  # the sample's trusted IPv6 location
    assert by_check[("PRE-2", MSP_ID)].status == "fail"  # the sample has security defaults on
    assert by_check[("PRE-1", MSP_ID)].status == "fail"


def test_the_sample_list_policies_with_null_locations_and_none_users_do_not_qualify_for_a1():
    snapshot = good_snapshot()
    msp(snapshot)["conditionalAccessPolicies"] = sample("ca_policies_v1_list.response.json")["value"]
    msp(snapshot)["namedLocations"] = sample("namedlocations_v1_list_ex1_all.response.json")["value"]
    a1 = next(f for f in evaluate(snapshot) if f.check == "A-1")
    assert a1.status == "fail"
    assert "'SimplePolicy1' would satisfy A-1 but" in a1.message and "it includes no users" in a1.message


# --- odd shapes never crash the engine -----------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_KEYS = st.sampled_from(
    [
        "id",
        "state",
        "conditions",
        "users",
        "includeUsers",
        "grantControls",
        "builtInControls",
        "locations",
        "excludeLocations",
        "ipRanges",
        "isTrusted",
        "@odata.type",
        "members",
        "status",
        "errorCode",
        "createdDateTime",
        "userId",
        "isMfaCapable",
        "isAdmin",
        "servicePlans",
        "sessionControls",
        "signInFrequency",
        "externalTenants",
        "guestOrExternalUserTypes",
        "appliedConditionalAccessPolicies",
        "ClientId",
        "IPRange",
        "Enabled",
        "ClientIDs",
    ]
)
_OBJECT = st.dictionaries(_KEYS, _JSON, max_size=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    key=st.sampled_from(TENANT_LIST_KEYS),
    objects=st.lists(_OBJECT, max_size=3),
    clients=st.lists(_OBJECT | _JSON, max_size=3),
    configuration=_OBJECT,
)
def test_odd_object_shapes_never_raise(key, objects, clients, configuration):
    snapshot = good_snapshot()
    msp(snapshot)[key] = msp(snapshot)[key] + objects
    client(snapshot)[key] = objects
    snapshot["cipp"]["apiClients"] = clients
    snapshot["cipp"]["azureConfiguration"] = configuration
    findings = evaluate(snapshot)
    json.dumps([f.as_dict() for f in findings])


def _paths(value, path=()):
    """Every path to a value nested inside the tenants' objects and CIPP's data."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*path, key)
            yield from _paths(inner, (*path, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield (*path, index)
            yield from _paths(inner, (*path, index))


_BASELINE = good_snapshot()
_MUTABLE = [p for p in _paths(_BASELINE) if len(p) >= 4 or p[0] == "cipp"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(_MUTABLE), value=_JSON)
def test_any_nested_value_replaced_by_any_json_never_raises(path, value):
    snapshot = good_snapshot()
    parent = snapshot
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    try:
        findings = evaluate(snapshot)
    except SnapshotError:
        return  # a wrong type the validator refuses is a clean, expected outcome
    json.dumps([f.as_dict() for f in findings])


# --- the catalogue's contract --------------------------------------------------------------------

SPEC_SEVERITIES = {
    "PRE-1": "high",
    "PRE-2": "high",
    "PRE-3": "critical",
    "LOC-1": "high",
    "LOC-2": "medium",
    "A-1": "critical",
    "A-2": "critical",
    "A-3": "high",
    "A-4": "critical",
    "A-5": "high",
    "B-1": "critical",
    "B-2": "critical",
    "B-3": "high",
    "B-4": "critical",
    "B-5": "high",
    "B-6": "medium",
    "B-7": "medium",
    "B-8": "high",
    "B-9": "high",
    "C-1": "critical",
    "C-2": "high",
    "C-3": "high",
    "D-1": "critical",
    "D-2": "high",
    "D-3": "critical",
    "MFA-1": "high",
    "MFA-2": "critical",
    "MFA-3": "high",
}
SPEC_FIXES = {
    "D-1": "client-policy.exclude-service-provider",
    "D-3": "client-policy.exclude-service-provider",  # the exclusion of the policy that would block CIPP
    "A-1": "technician-policy.create",
    "A-3": "technician-policy.enable",
    "LOC-1": "trusted-location.add-range",
    "B-1": "service-account-policy.create",
    "B-2": "service-account-policy.require-mfa",
    "B-3": "service-account-policy.sign-in-every-time",
    "B-4": "service-account-policy.remove-locations",
    "B-5": "service-account-policy.enable",
    "C-1": "api-client.set-ranges",
    "C-2": "api-client.set-ranges",
    "C-3": "api-config.save-to-azure",
}


def test_catalogue_lists_every_check_in_spec_order_with_its_severity():
    assert [(c.id, c.severity) for c in CATALOGUE] == list(SPEC_SEVERITIES.items())


def test_catalogue_fix_ids():
    assert {c.id: c.fix for c in CATALOGUE if c.fix} == SPEC_FIXES


def test_every_check_has_a_title_a_one_line_rationale_and_a_scope():
    for check in CATALOGUE:
        assert check.title and check.scope and check.rationale, check.id
        assert "\n" not in check.rationale and check.rationale.endswith("."), check.id
    assert {c.part for c in CATALOGUE} == {"PRE", "LOC", "A", "B", "C", "D", "MFA"}


def test_finding_json_has_exactly_the_spec_keys_and_round_trips():
    finding = evaluate(good_snapshot())[0]
    data = finding.as_dict()
    assert list(data) == ["check", "tenantId", "status", "severity", "subject", "message", "evidence", "fix"]
    assert list(data["subject"]) == ["type", "id", "name"]
    assert Finding.from_dict(json.loads(json.dumps(data))) == finding


def test_only_failing_and_warning_findings_carry_a_fix():
    snapshot = good_snapshot()
    msp(snapshot)["conditionalAccessPolicies"] = []
    msp(snapshot)["namedLocations"] = []
    snapshot["cipp"]["apiClients"].append(
        {"ClientId": "x", "AppName": "Open", "IPRange": ["Any"], "Enabled": True}
    )
    findings = evaluate(snapshot)
    assert any(f.fix for f in findings)
    assert all(
        (f.fix is not None) == (f.status in ("fail", "warn") and f.check in SPEC_FIXES) for f in findings
    )


def test_findings_are_grouped_by_tenant_msp_first_in_catalogue_order():
    findings = evaluate(good_snapshot())
    order = [c.id for c in CATALOGUE]
    tenants = [f.tenant_id for f in findings]
    assert tenants == sorted(tenants, key=lambda t: t != MSP_ID)
    msp_checks = [order.index(f.check) for f in findings if f.tenant_id == MSP_ID]
    assert msp_checks == sorted(msp_checks)


def _with_source_status(doc, tenant_id, source, last_success, last_error=None):
    tenant = next(t for t in doc["tenants"] if t["tenantId"] == tenant_id)
    tenant.setdefault("sourceStatus", {})[source] = {
        "lastSuccess": last_success,
        "lastError": last_error,
        "state": "ok" if last_error is None else "failing",
    }


def test_a_finding_whose_source_failed_after_its_last_success_says_stale_since_then():
    from posture.freshness import data_age_caption

    doc = good_snapshot()
    _with_source_status(doc, MSP_ID, "namedLocations", "2026-11-22T08:00:00Z", "2026-11-22T11:30:00Z")
    _with_source_status(doc, MSP_ID, "conditionalAccessPolicies", "2026-11-22T11:55:00Z")
    loc1 = next(f for f in evaluate(doc) if f.check == "LOC-1")
    assert loc1.data_as_of == "2026-11-22T08:00:00Z" and loc1.stale_since == "2026-11-22T11:30:00Z"
    assert loc1.as_dict()["staleSince"] == "2026-11-22T11:30:00Z"
    assert "Stale since 2026-11-22 11:30 UTC" in data_age_caption(loc1)
    a1 = next(f for f in evaluate(doc) if f.check == "A-1")  # reads policies and locations: the older
    assert a1.data_as_of == "2026-11-22T08:00:00Z" and a1.stale_since == "2026-11-22T11:30:00Z"
    assert Finding.from_dict(a1.as_dict()) == a1  # what storage reads back keeps both


def test_stale_since_is_when_the_outage_began_when_the_collector_says_so():
    doc = good_snapshot()
    _with_source_status(doc, MSP_ID, "namedLocations", "2026-11-22T08:00:00Z", "2026-11-22T11:30:00Z")
    next(t for t in doc["tenants"] if t["tenantId"] == MSP_ID)["sourceStatus"]["namedLocations"][
        "failingSince"
    ] = "2026-11-22T09:00:00Z"
    loc1 = next(f for f in evaluate(doc) if f.check == "LOC-1")
    assert loc1.stale_since == "2026-11-22T09:00:00Z"


def test_a_finding_whose_source_is_fine_carries_its_data_age():
    doc = good_snapshot()
    _with_source_status(doc, MSP_ID, "securityDefaults", "2026-11-22T11:00:00Z", "2026-11-22T10:00:00Z")
    _with_source_status(doc, MSP_ID, "cipp.apiClients", "2026-11-22T11:10:00Z")
    findings = evaluate(doc)
    pre2 = next(f for f in findings if f.check == "PRE-2")
    assert pre2.as_dict()["dataAsOf"] == "2026-11-22T11:00:00Z" and "staleSince" not in pre2.as_dict()
    c1 = next(f for f in findings if f.check == "C-1")  # CIPP sources are recorded on the MSP tenant
    assert c1.data_as_of == "2026-11-22T11:10:00Z" and c1.stale_since is None
    assert next(f for f in findings if f.check == "D-1").data_as_of is None  # client: no status


def test_snapshot_files_without_source_status_give_the_same_findings_as_before():
    doc = good_snapshot()
    plain = evaluate(doc)
    assert all("dataAsOf" not in f.as_dict() and "staleSince" not in f.as_dict() for f in plain)
    for tenant in doc["tenants"]:
        for source in ("conditionalAccessPolicies", "namedLocations", "users"):  # (D-2 reads signIns' own)
            _with_source_status(
                doc, tenant["tenantId"], source, "2026-11-22T11:00:00Z", "2026-11-22T11:30:00Z"
            )
    dated = evaluate(doc)
    assert any(f.stale_since for f in dated)
    assert [{k: v for k, v in f.as_dict().items() if k not in ("dataAsOf", "staleSince")} for f in dated] == [
        f.as_dict() for f in plain
    ]


def test_the_collectors_write_exactly_the_snapshot_formats_tenant_keys():
    # One definition of the format (posture.snapshot); the catalogue of what is read from each tenant
    # (connectors.sources) must name the same keys, a single object exactly where the format has one.
    # The lockout prediction (cippWhatIf) is the one object the collectors derive rather than read.
    from connectors.sources import CIPP_WHAT_IF, SIGNINS, TENANT_SOURCES
    from posture.snapshot import TENANT_LIST_KEYS, TENANT_OBJECT_KEYS

    lists = {s.name for s in TENANT_SOURCES if not s.single} | {SIGNINS}
    objects = {s.name for s in TENANT_SOURCES if s.single} | {CIPP_WHAT_IF}
    assert (lists, objects) == (set(TENANT_LIST_KEYS), set(TENANT_OBJECT_KEYS))


def test_a_snapshot_with_a_what_if_that_is_not_an_object_is_refused():
    snapshot = good_snapshot()
    snapshot["tenants"][1]["cippWhatIf"] = ["not", "an", "object"]
    with pytest.raises(SnapshotError, match=r"tenants\[1\]\.cippWhatIf"):
        validate_snapshot(snapshot)


def test_an_older_snapshot_without_a_what_if_is_still_valid_and_d3_is_na():
    snapshot = good_snapshot()
    for tenant in snapshot["tenants"]:
        tenant.pop("cippWhatIf", None)
    validate_snapshot(snapshot)
    d3 = [f for f in evaluate(snapshot) if f.check == "D-3"]
    assert d3 and {f.status for f in d3} == {"n/a"}

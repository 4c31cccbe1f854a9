"""The wall's arithmetic: bounded refresh and rotation, shared refresh periods, freshness colours,
change in words, and API clients open to any IP (investigate/wall.py, pure)."""

from __future__ import annotations

import pytest
from posture_fixtures import MSP_ID, api_client

from investigate.wall import (
    AMBER,
    OK,
    RED,
    alert_level,
    blocked_change,
    change_words,
    freshness,
    freshness_words,
    open_api_clients,
    period_start,
    refresh_seconds,
    rotate_seconds,
    rotation_index,
    signin_sources_behind,
    target_level,
    wall_link_query,
)
from posture import Finding, Subject


@pytest.mark.parametrize(
    ("param", "setting", "expected"),
    [
        (None, 30, 30),
        ("60", 30, 60),
        ("1", 30, 5),
        ("999999", 30, 3600),
        ("soon", 45, 45),
        ("", 30, 30),
    ],
)
def test_refresh_comes_from_the_url_or_the_setting_within_sane_bounds(param, setting, expected):
    assert refresh_seconds(param, setting) == expected


@pytest.mark.parametrize(
    ("param", "expected"), [(None, None), ("0", None), ("off", None), ("20", 20), ("2", 10), ("x", 60)]
)
def test_rotation_is_off_unless_asked_and_bounded(param, expected):
    assert rotate_seconds(param) == expected


def test_every_screen_shows_the_same_tenant_at_the_same_time_and_moves_on():
    assert rotation_index(1000, 20, 3) == rotation_index(1019, 20, 3) == 2
    assert rotation_index(1020, 20, 3) == 0
    assert rotation_index(1000, 20, 0) == 0


def test_screens_in_the_same_refresh_period_share_one_cache_key():
    assert period_start(1000.0, 30) == period_start(1019.9, 30) == 990
    assert period_start(1020.0, 30) == 1020


def status(
    source: str, age: float | None, *, fresh: bool = True, failing: bool = False, standing: str | None = None
) -> dict:
    return {
        "tenantId": "t",
        "source": source,
        "ageSeconds": age,
        "fresh": fresh,
        "failing": failing,
        "standing": standing,
    }


def test_fresh_collectors_keep_the_tile_ok():
    result = freshness([status("signIns", 50), status("users", 200)], 60)
    assert (result.level, result.age_seconds) == (OK, 50)


def test_sign_ins_older_than_three_intervals_turn_the_tile_amber():
    assert freshness([status("signIns", 200, fresh=False)], 60).level == AMBER


def test_a_failing_source_turns_the_tile_red_and_says_so_first():
    result = freshness([status("signIns", 50), status("users", 100, fresh=False, failing=True)], 60)
    assert (result.level, result.failing, result.stale) == (RED, 1, 0)
    assert freshness_words(result) == "1 source(s) failing"


def test_a_stale_source_turns_the_tile_amber():
    result = freshness([status("signIns", 50), status("users", 900, fresh=False)], 60)
    assert (result.level, result.stale) == (AMBER, 1)
    assert freshness_words(result) == "collectors are falling behind · 1 stale"


def test_a_tenant_without_sign_in_logs_by_licence_or_consent_does_not_colour_the_tile():
    rows = [
        status("signIns", 50),
        status("signIns", None, fresh=False, standing="not licensed"),
        status("users", None, fresh=False, standing="consent needed"),
    ]
    result = freshness(rows, 60)
    assert (result.level, result.stale, result.failing) == (OK, 0, 0)
    assert freshness_words(result) == "collectors are keeping up"


def test_sign_ins_older_than_ten_intervals_turn_the_tile_red():
    assert freshness([status("signIns", 601, fresh=False)], 60).level == RED


def test_no_sign_in_data_at_all_is_red():
    assert freshness([], 60).level == RED
    assert freshness([status("signIns", None, fresh=False)], 60).level == RED


@pytest.mark.parametrize(
    ("now", "before", "words"),
    [
        (12, 10, "+2 (+20%)"),
        (5, 10, "−5 (−50%)"),
        (3, 3, "no change"),
        (4, 0, "+4 (new)"),
        (2983, 2971, "+12 (+0.4%)"),
    ],
)
def test_change_is_said_in_numbers_and_percent(now, before, words):
    assert change_words(now, before) == words


@pytest.mark.parametrize(
    ("now", "before", "colour", "arrow"),
    [(69, 120, "green", "down"), (120, 69, "red", "up"), (7, 7, "gray", "off"), (4, 0, "red", "up")],
)
def test_fewer_blocked_sign_ins_is_green_and_points_down(now, before, colour, arrow):
    change = blocked_change(now, before)
    assert (change.colour, change.arrow) == (colour, arrow)
    assert change.words == change_words(now, before)


def test_while_sign_in_sources_are_behind_a_count_is_incomplete_not_a_drop():
    rows = [
        {"source": "signIns", "fresh": False, "failing": True, "standing": None},
        {"source": "signIns", "fresh": True, "failing": False, "standing": None},
        {"source": "signIns", "fresh": False, "failing": False, "standing": "not-licensed"},
        {"source": "users", "fresh": False, "failing": True, "standing": None},
    ]
    behind = signin_sources_behind(rows)
    assert behind == 1  # the failing sign-in source; not the unlicensed tenant's, not another source
    change = blocked_change(40, 120, behind)
    assert (change.words, change.colour, change.arrow) == (
        "incomplete: 1 sign-in source(s) behind",
        "gray",
        "off",
    )


def test_a_tile_of_broken_things_is_red_when_there_is_any_and_blank_when_unknown():
    assert (alert_level(3), alert_level(0), alert_level(None)) == (RED, OK, None)


def test_a_share_below_its_target_is_amber():
    assert (target_level(0.94, 0.95), target_level(0.95, 0.95), target_level(None, 0.95)) == (AMBER, OK, None)


def test_api_clients_open_to_any_ip_are_the_enabled_ones_without_ranges():
    clients = [
        api_client("c1", "Open", ["Any"]),
        api_client("c2", "Ranged", ["203.0.113.0/24"]),
        api_client("c3", "Off", ["Any"], enabled=False),
        api_client("c4", "Empty string", ""),
        "Any",
    ]
    result = open_api_clients(clients, [])
    assert result.names == ("Open", "Empty string") and result.accepted == 0


def test_ranges_covering_every_address_are_open_to_any_ip_too():
    clients = [
        api_client("c1", "Zapier (test)", ["0.0.0.0/0"]),
        api_client("c2", "IPv6 tooling", ["::/0"]),
        api_client("c3", "Two halves", ["0.0.0.0/1", "128.0.0.0/1"]),
        api_client("c4", "Office", ["66.171.40.16/29"]),
    ]
    assert open_api_clients(clients, []).names == ("Zapier (test)", "IPv6 tooling", "Two halves")


def test_a_client_open_through_its_ranges_and_accepted_on_c2_is_counted_apart():
    accepted = Finding(
        "C-2",
        MSP_ID,
        "accepted",
        "high",
        Subject("range", "0.0.0.0/0", "0.0.0.0/0"),
        "open",
        evidence={"clientId": "C1"},
    )
    result = open_api_clients([api_client("c1", "Zapier (test)", ["0.0.0.0/0"])], [accepted])
    assert result.names == () and result.accepted == 1


def test_an_open_client_accepted_as_a_risk_is_counted_apart():
    accepted = Finding("C-1", MSP_ID, "accepted", "critical", Subject("apiClient", "C1", "Open"), "open")
    result = open_api_clients([api_client("c1", "Open", ["Any"])], [accepted])
    assert result.names == () and result.accepted == 1


def test_a_kiosk_links_query_carries_refresh_and_rotation_within_the_walls_bounds():
    assert wall_link_query(60, 20) == "kiosk=1&refresh=60&rotate=20"
    assert wall_link_query(30, 0) == "kiosk=1&refresh=30"
    assert wall_link_query(1, 1) == "kiosk=1&refresh=5&rotate=10"  # what the wall would read back

"""Alert channels as secrets: where they are read from, how they are masked, and that they are redacted."""

from __future__ import annotations

import pytest

from alerts.channels import masked
from safetext.secrets import redact
from settings import SettingsError, load_settings, secrets_file_channels

TEAMS = "workflows://prod-01.westeurope.logic.azure.com:443/abcdef0123456789abcdef/SiGnAtUrE0123456789"


def test_channels_from_the_environment_as_name_url_pairs(monkeypatch):
    monkeypatch.setenv("PERIMETER_ALERT_CHANNELS", f"teams={TEAMS}; mail=mailto://u:pw@smtp.example.com")
    settings = load_settings()
    assert sorted(settings.alert_channels) == ["mail", "teams"]
    assert settings.alert_channels["teams"].get_secret_value() == TEAMS


def test_a_malformed_channel_list_stops_start_up_naming_the_setting(monkeypatch):
    monkeypatch.setenv("PERIMETER_ALERT_CHANNELS", "just-a-url")
    with pytest.raises(SettingsError, match="PERIMETER_ALERT_CHANNELS"):
        load_settings()


def test_channels_from_the_secrets_file(tmp_path):
    path = tmp_path / "secrets.toml"
    path.write_text('[perimeter.alert_channels]\nnoc = "json://hooks.example/x"\n', encoding="utf-8")
    assert secrets_file_channels(path) == {"noc": "json://hooks.example/x"}
    assert secrets_file_channels(tmp_path / "none.toml") == {}


def test_channel_urls_and_their_tokens_are_redacted_in_errors():
    settings = load_settings(alert_channels={"teams": TEAMS, "mail": "mailto://u:pw0rd@smtp.example.com"})
    line = redact(
        f"POST to {TEAMS} failed; signature SiGnAtUrE0123456789; login pw0rd", settings.secret_values()
    )
    assert "SiGnAtUrE0123456789" not in line and "pw0rd" not in line and "abcdef0123456789abcdef" not in line


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (TEAMS, "workflows://prod-01.westeurope.logic.azure.com:443/…"),
        ("mailto://user:secret@smtp.example.com:587?to=a@b.example", "mailto://smtp.example.com:587/…"),
        ("slack://T1234ABCD/B5678EFGH/abcdefghijklmnop", "slack://…/…"),
        ("json://user:pw@10.0.0.5:8080/hook?token=x", "json://10.0.0.5:8080/…"),
    ],
)
def test_a_channel_is_shown_by_scheme_and_host_only(url, shown):
    assert masked(url) == shown

import pytest

from settings import SettingsError, load_settings


def test_no_credentials_means_demo_mode_against_the_simulator():
    settings = load_settings(simulator_url="http://127.0.0.1:9999")
    assert settings.demo_mode
    assert settings.graph_base_url == "http://127.0.0.1:9999"
    assert settings.cipp_api_url == "http://127.0.0.1:9999/cipp"
    assert settings.msp_tenant_id


def test_default_database_is_a_sqlite_file_under_data():
    assert load_settings().database_url.endswith("/data/perimeter.db")


def test_bad_integer_names_the_environment_variable(monkeypatch):
    monkeypatch.setenv("PERIMETER_SIGNIN_WINDOW_HOURS", "a day")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith("setting PERIMETER_SIGNIN_WINDOW_HOURS:")
    assert "\n" not in message


def test_bad_database_url_is_refused(monkeypatch):
    monkeypatch.setenv("PERIMETER_DATABASE_URL", "not a url")
    with pytest.raises(SettingsError, match="PERIMETER_DATABASE_URL: not a database URL"):
        load_settings()


def test_client_id_without_secret_is_refused():
    with pytest.raises(SettingsError, match="graph_client_secret"):
        load_settings(graph_client_id="11111111-1111-1111-1111-111111111111", msp_tenant_id="x")


def test_credentials_without_msp_tenant_are_refused():
    with pytest.raises(SettingsError, match="msp_tenant_id is required"):
        load_settings(graph_client_id="app", graph_client_secret="s")


def test_missing_certificate_file_is_named(tmp_path):
    with pytest.raises(SettingsError, match="certificate file not found"):
        load_settings(
            graph_client_id="app", msp_tenant_id="t", graph_certificate_path=str(tmp_path / "missing.pem")
        )


def test_list_settings_accept_commas_or_json(monkeypatch):
    monkeypatch.setenv("PERIMETER_BREAK_GLASS_UPNS", "bg1@msp.example, bg2@msp.example")
    monkeypatch.setenv("PERIMETER_TRUSTED_LOCATION_NAMES", '["Office", "DC"]')
    settings = load_settings()
    assert settings.break_glass_upns == ["bg1@msp.example", "bg2@msp.example"]
    assert settings.trusted_location_names == ["Office", "DC"]


def test_non_http_url_is_refused():
    with pytest.raises(SettingsError, match="PERIMETER_SIMULATOR_URL: must start with http"):
        load_settings(simulator_url="ftp://x")


def test_real_credentials_turn_demo_mode_off():
    settings = load_settings(graph_client_id="app", graph_client_secret="s", msp_tenant_id="t")
    assert not settings.demo_mode
    assert settings.graph_base_url == "https://graph.microsoft.com"
    # The secret never prints.
    assert "s" not in repr(settings.graph_client_secret).replace("SecretStr", "").strip("()'*")


def test_demo_facts_match_the_simulators_msp():
    from simulator import demo

    settings = load_settings()
    assert settings.msp_tenant_id == demo.MSP_TENANT_ID
    assert settings.service_account_upn == demo.SERVICE_ACCOUNT_UPN
    assert settings.cipp_app_id == demo.CIPP_APP_ID
    assert settings.cipp_client_id == demo.PERIMETER_CIPP_CLIENT_ID
    # The app the demo's technicians sign in to (the simulator's CIPP front end; A-1's "CIPP app").
    assert settings.cipp_signin_app_ids == [demo.CIPP_APP_ID]
    assert settings.break_glass_upns == list(demo.BREAK_GLASS_UPNS)


def test_the_cipp_token_scope_names_perimeters_own_api_client_not_cipps_app():
    from connectors.auth import cipp_scope

    settings = load_settings(
        graph_client_id="app",
        graph_client_secret="s",
        msp_tenant_id="t",
        cipp_api_url="https://cipp.example",
        cipp_app_id="cipp-app",
        cipp_client_id="perimeter-client",
        cipp_client_secret="x",
    )
    assert cipp_scope(settings) == "api://perimeter-client/.default"
    assert cipp_scope(load_settings()) == f"api://{load_settings().cipp_client_id}/.default"

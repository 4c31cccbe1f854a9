"""One settings object for every process (dashboard, collectors, CLIs).

Values come from the environment (prefix ``PERIMETER_``) or a local ``.env`` file. With no Graph
credentials Perimeter runs in demo mode against the simulator. A bad value stops start-up with one
line naming the setting: see :func:`load_settings`.
"""

from __future__ import annotations

import ipaddress
import json
import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from posture.options import PostureOptions
from safetext.secrets import redact

ENV_PREFIX = "PERIMETER_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The demo MSP's fixed identity. Kept here (not imported from simulator/) so that a production
# process never imports the simulator; tests assert these equal simulator.demo's constants.
DEMO_MSP_TENANT_ID = "4f4e31f0-e773-47c1-a231-9b911d163077"
DEMO_MSP_DOMAIN = "northwindmsp.onmicrosoft.com"
DEMO_CIPP_APP_ID = "962b8fc5-58cc-4194-8042-4b58129f9a95"
# The app the demo's technicians sign in to (CIPP's front end): in the simulator's MSP the front end's
# sign-ins carry the same app id as its CIPP-API registration (demo.CIPP_APP_ID).
DEMO_CIPP_SIGNIN_APP_IDS: tuple[str, ...] = (DEMO_CIPP_APP_ID,)
# Where the simulator's CIPP (its Function App in Azure East US) signs in from.
DEMO_CIPP_EGRESS_IPS: tuple[str, ...] = ("20.119.8.45",)
DEMO_CIPP_EGRESS_COUNTRY = "US"
# Perimeter's own Graph app in the demo (token requests, admin-consent links): demo.PERIMETER_APP_ID.
DEMO_GRAPH_CLIENT_ID = "95e8008c-0f15-46d9-b57b-ae59a234826d"
# Perimeter's own CIPP-API client in the demo: demo.PERIMETER_CIPP_CLIENT_ID.
DEMO_CIPP_CLIENT_ID = "5f0c3d6e-8a4b-4c7e-9d21-3b6a7e1f4c90"
DEMO_SIMULATOR_URL = "http://127.0.0.1:8765"


class SettingsError(Exception):
    """A setting is missing or wrong; the message is one line meant for a person."""


def _split_list(value: Any) -> Any:
    """Accept a JSON list or a comma-separated string for list settings."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- storage ---
    database_url: str = Field(
        default=f"sqlite:///{PROJECT_ROOT / 'data' / 'perimeter.db'}",
        description="SQLAlchemy URL; SQLite file by default, any other URL (PostgreSQL) works too.",
    )

    # --- Microsoft Graph (the MSP's multi-tenant app) ---
    msp_tenant_id: str = Field(default="", description="MSP tenant GUID (demo: the simulator's).")
    msp_display_name: str = "MSP tenant"
    graph_client_id: str = ""
    graph_client_secret: SecretStr | None = None
    graph_certificate_path: Path | None = None
    graph_certificate_password: SecretStr | None = None  # of an encrypted PEM/PFX certificate
    # The app's credential is a managed identity (a federated credential on the app registration
    # trusts it): no secret or certificate; graph_managed_identity_client_id picks a user-assigned one.
    graph_use_managed_identity: bool = False
    graph_managed_identity_client_id: str = ""
    graph_base_url: str = Field(
        default="https://graph.microsoft.com",
        description="Graph host; in demo mode the simulator's URL.",
    )

    # --- CIPP-API ---
    cipp_api_url: str = ""
    cipp_app_id: str = Field(
        default="",
        description="CIPP-API's own application id (the fix engine's "
        "technician block policy targets it); not the token scope.",
    )
    cipp_client_id: str = Field(
        default="", description="Perimeter's CIPP-API client (token scope api://<client id>/.default)."
    )
    cipp_client_secret: SecretStr | None = None
    # The app(s) technicians sign in to CIPP with (CIPP's Static Web App / front-end registration),
    # never the CIPP-API client: what a technician block policy may target instead of all cloud apps
    # exported as the snapshot's msp.cippAppIds.
    cipp_signin_app_ids: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # The addresses CIPP's back end (its Function App) signs in to client tenants from, and their
    # country: the lockout prediction (D-3) asks Graph's what-if about CIPP signing in from these.
    cipp_egress_ips: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cipp_egress_country: str = ""

    # --- MSP facts of the snapshot format ---
    service_account_upn: str = ""
    break_glass_upns: Annotated[list[str], NoDecode] = Field(default_factory=list)
    trusted_location_names: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # --- demo mode ---
    simulator_url: str = DEMO_SIMULATOR_URL

    # --- schedules, window, retention ---
    collect_interval_seconds: int = Field(default=300, ge=10, description="Full collection cycle.")
    signin_interval_seconds: int = Field(default=60, ge=10, description="Sign-in-only cycle.")
    signin_window_hours: int = Field(default=24, ge=1, le=24 * 30)
    signin_initial_lookback_hours: int = Field(default=48, ge=1, le=24 * 30)
    signin_overlap_minutes: int = Field(
        default=10,
        ge=0,
        le=24 * 60,
        description="Re-read this much before the watermark: Graph logs arrive late.",
    )
    retention_days: int = Field(default=30, ge=1, description="Sign-ins older than this are purged.")
    run_history_days: int = Field(default=90, ge=1)
    posture_history_days: int = Field(default=400, ge=366, description="Daily posture kept (≥ a year).")
    max_concurrent_tenants: int = Field(default=4, ge=1, le=64)

    # --- alerts and weekly reports (alerts/) ---
    # Channel name -> Apprise URL. Secrets: from PERIMETER_ALERT_CHANNELS (JSON object or
    # "name=url;name=url") or .streamlit/secrets.toml [perimeter.alert_channels]; never stored, logged
    # or shown in full (the database names channels, pages show name and scheme://host only).
    alert_channels: Annotated[dict[str, SecretStr], NoDecode] = Field(default_factory=dict)
    dashboard_base_url: str = Field(
        default="http://127.0.0.1:8501", description="Where alert links point (<base>/posture?tenant=...)."
    )
    # Quiet hours: messages are held from start to end (local hours in alert_timezone); start == end:
    # none. Critical alerts (the CIPP service account blocked, a break-glass sign-in) go through them
    # unless alert_quiet_hours_hold_critical.
    alert_quiet_start_hour: int = Field(default=0, ge=0, le=23)
    alert_quiet_end_hour: int = Field(default=0, ge=0, le=23)
    alert_timezone: str = "UTC"
    alert_quiet_hours_hold_critical: bool = False
    alert_rate_limit_per_hour: int = Field(default=10, ge=1, le=1000, description="Per rule and channel.")
    alert_claim_seconds: int = Field(default=120, ge=10, le=3600, description="A delivery claim's lease.")
    alert_delivery_interval_seconds: int = Field(default=15, ge=1, le=3600)
    alert_max_attempts: int = Field(default=8, ge=1, le=100)
    # Who gets the weekly posture report: "msp" (every tenant) and/or client tenant ids (that tenant).
    report_audiences: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["msp"])
    report_weekday: int = Field(default=0, ge=0, le=6, description="Weekly report day (0 = Monday).")
    report_hour: int = Field(default=7, ge=0, le=23, description="Weekly report hour (alert_timezone).")

    # --- dashboard ---
    wall_refresh_seconds: int = Field(
        default=30, ge=5, le=3600, description="How often the wall display refreshes (?refresh= overrides)."
    )

    @field_validator(
        "break_glass_upns",
        "trusted_location_names",
        "cipp_signin_app_ids",
        "cipp_egress_ips",
        "report_audiences",
        mode="before",
    )
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("alert_channels", mode="before")
    @classmethod
    def _channels(cls, value: Any) -> Any:
        return _parse_channels(value)

    @field_validator("alert_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"not a time zone: {value!r} (example: Europe/Amsterdam)") from None
        return value

    @field_validator("cipp_egress_ips")
    @classmethod
    def _egress_ips(cls, value: list[str]) -> list[str]:
        for entry in value:
            ipaddress.ip_address(entry.strip())  # a ValueError names the entry
        return [entry.strip() for entry in value]

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(value)
        except (ArgumentError, ValueError):  # ValueError: a port that is not a number
            raise ValueError(
                f"not a database URL: {redact(value)!r} (example: sqlite:///data/perimeter.db)"
            ) from None
        return value

    @field_validator("graph_base_url", "cipp_api_url", "simulator_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https://, got {redact(value)!r}")
        return value.rstrip("/")

    @field_validator("graph_certificate_path")
    @classmethod
    def _certificate_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"certificate file not found: {value}")
        return value

    @model_validator(mode="after")
    def _credentials_complete(self) -> Settings:
        has_secret = (
            self.graph_client_secret is not None
            or self.graph_certificate_path is not None
            or self.graph_use_managed_identity
        )
        if self.graph_client_id and not has_secret:
            raise ValueError(
                "graph_client_id is set but neither graph_client_secret nor graph_certificate_path "
                "nor graph_use_managed_identity"
            )
        if has_secret and not self.graph_client_id:
            raise ValueError(
                "a Graph secret, certificate or managed identity is set but graph_client_id is empty"
            )
        if self.graph_client_id and not self.msp_tenant_id:
            raise ValueError("msp_tenant_id is required with Graph credentials")
        if self.cipp_api_url and not self.demo_mode and not (self.cipp_client_id and self.cipp_client_secret):
            raise ValueError("cipp_api_url needs cipp_client_id and cipp_client_secret")
        if self.demo_mode:
            # Demo: everything points at the simulator, which knows these facts of its own MSP.
            self.msp_tenant_id = self.msp_tenant_id or DEMO_MSP_TENANT_ID
            if self.msp_display_name == "MSP tenant":
                self.msp_display_name = "Northwind MSP (demo)"
            self.graph_base_url = self.simulator_url
            self.cipp_api_url = f"{self.simulator_url}/cipp"
            self.cipp_app_id = self.cipp_app_id or DEMO_CIPP_APP_ID
            self.cipp_client_id = self.cipp_client_id or DEMO_CIPP_CLIENT_ID
            self.cipp_signin_app_ids = self.cipp_signin_app_ids or list(DEMO_CIPP_SIGNIN_APP_IDS)
            self.cipp_egress_ips = self.cipp_egress_ips or list(DEMO_CIPP_EGRESS_IPS)
            self.cipp_egress_country = self.cipp_egress_country or DEMO_CIPP_EGRESS_COUNTRY
            self.service_account_upn = self.service_account_upn or f"cipp@{DEMO_MSP_DOMAIN}"
            self.break_glass_upns = self.break_glass_upns or [f"bg-admin@{DEMO_MSP_DOMAIN}"]
        return self

    @property
    def demo_mode(self) -> bool:
        """No Graph credentials: collect from the simulator instead of Microsoft."""
        return not self.graph_client_id

    @property
    def app_client_id(self) -> str:
        """Perimeter's Graph app id (the demo's own in demo mode): what an admin-consent link names."""
        return self.graph_client_id or DEMO_GRAPH_CLIENT_ID

    @property
    def cipp_configured(self) -> bool:
        return bool(self.cipp_api_url)

    def secret_values(self) -> tuple[str, ...]:
        """Every secret value these settings hold (Graph and CIPP client secrets, the Graph certificate's
        password, the database URL's password as given and decoded), for
        ``safetext.secrets.redact(text, settings.secret_values())`` on any text that may echo one (a
        driver's or a service's error)."""
        values = [
            secret.get_secret_value()
            for secret in (self.graph_client_secret, self.cipp_client_secret, self.graph_certificate_password)
            if secret is not None
        ]
        values += _url_passwords(self.database_url)
        # A channel's whole URL, and its password / token parts, which an error may echo alone.
        for url in (secret.get_secret_value() for secret in self.alert_channels.values()):
            values += [url, *_url_passwords(url), *_url_path_secrets(url)]
        return tuple(dict.fromkeys(v for v in values if v))


def _parse_channels(value: Any) -> Any:
    """PERIMETER_ALERT_CHANNELS as a JSON object or ``name=url;name=url``; with none given, the
    ``[perimeter.alert_channels]`` table of .streamlit/secrets.toml (the dashboard's secrets file)."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return {}
        if text.startswith("{"):
            return json.loads(text)
        pairs = [part.partition("=") for part in text.split(";") if part.strip()]
        if any(not sep or not name.strip() for name, sep, _ in pairs):
            raise ValueError("expected name=url;name=url or a JSON object")
        return {name.strip(): url.strip() for name, _, url in pairs}
    return value


def secrets_file_channels(path: Path | None = None) -> dict[str, str]:
    """``[perimeter.alert_channels]`` of .streamlit/secrets.toml (none when the file or table is absent)."""
    path = path or PROJECT_ROOT / ".streamlit" / "secrets.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    table = data.get("perimeter", {}).get("alert_channels", {})
    return {str(k): str(v) for k, v in table.items()} if isinstance(table, dict) else {}


def _url_path_secrets(url: str) -> list[str]:
    """Path segments of a channel URL long enough to be tokens (a Teams or Slack webhook's keys)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    return [p for p in parts.path.split("/") if len(p) >= 16]


def _url_passwords(url: str) -> list[str]:
    """The password of a URL as written (percent-encoded) and as SQLAlchemy decodes it."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    found = []
    try:
        found.append(urlsplit(url).password or "")
    except ValueError:
        pass
    try:
        found.append(make_url(url).password or "")
    except (ArgumentError, ValueError):
        pass
    return [p for p in found if p]


def missing_database_driver(error: BaseException) -> str | None:
    """The driver module SQLAlchemy could not import for a database URL (``pymysql``, ``psycopg2``;
    ``""`` when the import error names none), or None when ``error`` is not such a failure."""
    if not isinstance(error, ImportError):
        return None
    frames = error.__traceback__
    marker = f"{os.sep}sqlalchemy{os.sep}"
    while frames is not None:  # raised while SQLAlchemy loaded a dialect's DBAPI, not elsewhere
        if marker in frames.tb_frame.f_code.co_filename:
            return error.name or ""
        frames = frames.tb_next
    return None


def describe_database_error(error: BaseException, database_url: str, secrets: tuple[str, ...] = ()) -> str:
    """One line for a person about a database that could not be opened or read: the URL without its
    password, then the missing driver or the first line of the error (secrets masked)."""
    where = f"database {redact(database_url, secrets)}"
    driver = missing_database_driver(error)
    if driver is not None:
        reason = redact(" ".join(str(error).split()), secrets)
        what = (
            f"the database driver {driver!r} is not installed"
            if isinstance(error, ModuleNotFoundError)
            else f"the database driver cannot be loaded ({reason})"
        )
        return f"{where}: {what}; install it or use another PERIMETER_DATABASE_URL"
    cause = getattr(error, "orig", None) or error
    first = next((line.strip() for line in str(cause).splitlines() if line.strip()), type(cause).__name__)
    return f"{where}: {redact(first, secrets)[:300]}"


def describe_error(error: ValidationError) -> str:
    """One line naming the first bad setting (as its environment variable) and what is wrong."""
    first = error.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "__root__")
    message = first.get("msg", "invalid value").removeprefix("Value error, ")
    if where:
        return f"setting {ENV_PREFIX}{where.upper()}: {message}"
    return f"settings: {message}"


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning validation errors into a one-line :class:`SettingsError`."""
    try:
        settings = Settings(**overrides)
        if not settings.alert_channels and "alert_channels" not in overrides:
            settings.alert_channels = {k: SecretStr(v) for k, v in secrets_file_channels().items()}
        return settings
    except ValidationError as error:
        raise SettingsError(describe_error(error)) from None
    except json.JSONDecodeError as error:
        raise SettingsError(f"settings: a list setting is not valid JSON ({error.msg})") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached: read the environment once)."""
    return load_settings()


def posture_options(settings: Settings, cipp_app_ids: list[str] | None = None) -> PostureOptions:
    """The posture engine's options as this installation is configured (one place for the worker, the
    CLI and the fixes).

    A-1's "CIPP app" is the app technicians sign in to (PERIMETER_CIPP_SIGNIN_APP_IDS), never the
    CIPP-API app (PERIMETER_CIPP_APP_ID)."""
    configured = list(settings.cipp_signin_app_ids)
    return PostureOptions(
        signin_window_hours=settings.signin_window_hours, cipp_app_ids=tuple(cipp_app_ids or configured)
    )


def configured_secrets() -> tuple[str, ...]:
    """The configured secrets, to mask them in an error line of a command; none when the settings cannot
    load (their own error then says why, and holds no secret)."""
    try:
        return get_settings().secret_values()
    except SettingsError:
        return ()

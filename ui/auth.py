"""Who is using the dashboard and what they may do.

With an ``[auth]`` section in ``.streamlit/secrets.toml`` users sign in with Microsoft Entra ID
(``st.login``) and their app roles arrive in the token's ``roles`` claim: ``Operator`` may change
things, ``Viewer`` reads. That is the only mode once Graph credentials are configured: without
``[auth]`` the dashboard then refuses to serve anything.

Without Graph credentials and without ``[auth]`` (the demo), the single local user is an operator,
and only a request that is provably local gets that: the server listens on loopback, the browser's
connection comes from loopback, the ``Host`` (and ``Origin``) it used is loopback — a foreign name that
resolves to 127.0.0.1 is how DNS rebinding reaches a local server — and no proxy forwarded it (any
forwarding header). Everything else gets the sign-in page, which says why.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import streamlit as st

from db import write_transaction
from db.kiosk import kiosk_link_for, needs_use_noted, note_kiosk_use
from fixes.model import OPERATOR_ROLE, holds_role
from settings import Settings
from ui import data

VIEWER_ROLE = "Viewer"
PROVIDER = "microsoft"  # the [auth.microsoft] section of .streamlit/secrets.toml
KIOSK_TOKEN_PARAM = "token"
DEMO_OPERATOR = "local operator (demo mode)"

# Headers a reverse proxy, load balancer or CDN adds: their presence means the browser is not local.
FORWARDING_HEADERS = (
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-server",
    "x-real-ip",
    "x-client-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "fastly-client-ip",
    "x-cluster-client-ip",
    "x-original-forwarded-for",
    "via",
)

log = logging.getLogger("perimeter.auth")


@dataclass(frozen=True)
class Identity:
    name: str
    roles: tuple[str, ...]
    local_demo: bool  # no identity provider: the loopback-only demo operator
    kiosk: bool = False  # a wall screen's read-only link: the wall page only
    expires_at: datetime | None = None  # a kiosk link's end of validity

    @property
    def is_operator(self) -> bool:
        return holds_role(self.roles, OPERATOR_ROLE)

    @property
    def may_read(self) -> bool:
        return self.is_operator or holds_role(self.roles, VIEWER_ROLE)


def auth_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file at all
        return False


def _is_loopback_host(host: str) -> bool:
    """'localhost', '127.0.0.1', '[::1]', with or without a port."""
    name = host.strip().lower()
    if name.startswith("["):
        name = name[1:].partition("]")[0]
    elif name.count(":") == 1:
        name = name.partition(":")[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def bind_is_loopback(address: str) -> bool:
    """Whether ``server.address`` keeps the listener on this machine (empty means all interfaces)."""
    return bool(address) and _is_loopback_host(address)


def local_request_refusal(
    headers: Mapping[str, str], peer: str | None, bind_address: str, served: bool
) -> str | None:
    """Why this request cannot be the local demo operator (None: it can). ``headers`` with lower-case
    names; ``peer`` the connection's address (None: loopback); ``served`` False when the script runs
    without a server (AppTest, bare mode), where there is no network peer at all. Names no value from
    the request: they are the requester's text."""
    if not bind_is_loopback(bind_address):
        return (
            f"the dashboard listens on {bind_address or 'all interfaces'}, not only on loopback: without "
            "sign-in, Perimeter serves only the local user"
        )
    if not served:
        return None
    forwarded = [name for name in FORWARDING_HEADERS if name in headers]
    if forwarded:
        return (
            f"the request came through a proxy (it carries {forwarded[0]}): behind a reverse proxy "
            "Perimeter needs sign-in"
        )
    host = headers.get("host", "")
    if not host or not _is_loopback_host(host):
        return (
            "the page was opened under a host name other than localhost or 127.0.0.1: only the local "
            "user may use the dashboard without sign-in (this also stops DNS rebinding)"
        )
    origin = headers.get("origin")
    if origin is not None and not _is_loopback_host(urlsplit(origin).netloc):
        return "the request came from another site: only the local user may use the dashboard without sign-in"
    if peer is not None:
        try:
            local = ipaddress.ip_address(peer).is_loopback
        except ValueError:
            local = False
        if not local:
            return "the connection comes from another machine: only the local user may use it without sign-in"
    return None


def bind_address() -> str:
    return str(st.get_option("server.address") or "")


def _request_headers() -> dict[str, str]:
    return {name.lower(): value for name, value in st.context.headers.items()}


def demo_operator_refusal(settings: Settings) -> str | None:
    """Why this session is not the local demo operator (None: it is)."""
    if not settings.demo_mode:
        return "Graph credentials are configured, so every user must sign in"
    headers = _request_headers()
    # A served session always has the headers of its websocket handshake (Host, Upgrade and
    # Sec-WebSocket-Key at least: no server completes the upgrade without them). None at all means the
    # script runs without a server (AppTest, bare mode): there is no network peer to judge.
    served = bool(headers)
    peer = st.context.ip_address if served else None
    return local_request_refusal(headers, peer if isinstance(peer, str) else None, bind_address(), served)


@st.cache_resource
def _logged_startup_refusal(message: str) -> bool:
    log.error("Perimeter refuses to serve: %s", message)  # once per process, for the operator's log
    return True


def startup_refusal(settings: Settings) -> str | None:
    """Why the dashboard serves nobody: real credentials without an identity provider."""
    if settings.demo_mode or auth_configured():
        return None
    message = (
        "Graph credentials are configured (PERIMETER_GRAPH_CLIENT_ID) but sign-in is not: add the "
        "[auth] section to .streamlit/secrets.toml (see secrets.toml.example). Without it anyone who "
        "reaches the dashboard could change your tenants, so it refuses to start."
    )
    _logged_startup_refusal(message)
    return message


def current_identity() -> Identity | None:
    """The signed-in user, the local demo operator, or None (nobody may act)."""
    if auth_configured():
        if not st.user.get("is_logged_in", False):
            return None
        roles = st.user.get("roles") or []
        name = st.user.get("email") or st.user.get("preferred_username") or st.user.get("name") or "?"
        return Identity(str(name), tuple(str(r) for r in roles), local_demo=False)
    if demo_operator_refusal(data.settings()) is None:
        return Identity(DEMO_OPERATOR, (OPERATOR_ROLE,), local_demo=True)
    return None


def kiosk_identity() -> Identity | None:
    """The wall screen holding a valid kiosk link (`?token=…`) right now, if any: read on every call
    (the wall calls it on every refresh), so a revoked or expired link stops at the next one."""
    token = st.query_params.get(KIOSK_TOKEN_PARAM)
    if not token:
        return None
    now = data.utcnow()
    with data.engine().connect() as conn:
        link = kiosk_link_for(conn, token, now)
    if link is None:
        return None
    if needs_use_noted(link, now):
        with write_transaction(data.engine()) as conn:
            note_kiosk_use(conn, link.id, now)
    return Identity(
        f"kiosk: {link.label}", (VIEWER_ROLE,), local_demo=False, kiosk=True, expires_at=link.expires_at
    )


def uses_kiosk_link() -> bool:
    return auth_configured() and bool(st.query_params.get(KIOSK_TOKEN_PARAM))


KIOSK_INVALID = (
    "This kiosk link is not valid (revoked, expired or mistyped). Ask an operator for a new one "
    "on the Kiosk links page."
)


def sign_in_gate(kiosk_allowed: bool = False) -> Identity:
    """Show the page only to someone allowed to read it; otherwise say why and stop.

    ``kiosk_allowed``: this page (the wall) also opens for a valid kiosk link, read-only."""
    settings = data.settings()
    refusal = startup_refusal(settings)
    if refusal:
        st.error(f"Perimeter refuses to start. {refusal}", icon=":material/lock:")
        st.stop()
    if uses_kiosk_link():
        kiosk = kiosk_identity()
        if kiosk is None:
            st.error(KIOSK_INVALID)
            st.stop()
        if not kiosk_allowed:
            st.error("A kiosk link opens the wall page only.")
            st.stop()
        return kiosk
    if auth_configured():
        if not st.user.get("is_logged_in", False):
            st.title("Perimeter")
            st.write("Sign in with your Microsoft work account to continue.")
            st.button(
                "Sign in with Microsoft",
                on_click=st.login,
                args=(PROVIDER,),
                type="primary",
                icon=":material/login:",
            )
            st.stop()
        identity = current_identity()
        if identity is None or not identity.may_read:
            st.error(
                "Your account has no Perimeter role. Ask an administrator to assign you the "
                f"{VIEWER_ROLE} or {OPERATOR_ROLE} app role in Entra ID."
            )
            st.button("Sign out", on_click=st.logout)
            st.stop()
        with st.sidebar:
            role = OPERATOR_ROLE if identity.is_operator else VIEWER_ROLE
            st.text(f"{identity.name} · {role}")  # the IdP's text: shown as text, never markdown
            st.button("Sign out", on_click=st.logout, key="sign_out")
        return identity
    identity = current_identity()
    if identity is None:
        st.title("Perimeter")
        st.error(f"Sign-in is required: {demo_operator_refusal(settings)}.", icon=":material/lock:")
        st.write(
            "Configure sign-in with Microsoft Entra ID (the [auth] section of .streamlit/secrets.toml, "
            "see secrets.toml.example), or open the dashboard on the machine it runs on at "
            "http://127.0.0.1 with the server listening on 127.0.0.1 (the default)."
        )
        st.stop()
    return identity


def still_allowed() -> str | None:
    """For content that refreshes itself (the wall's fragment): why the viewer may no longer see it,
    or None. A kiosk link is looked up again; a session's sign-in is re-checked."""
    if uses_kiosk_link():
        return None if kiosk_identity() is not None else KIOSK_INVALID
    identity = current_identity()
    return None if identity is not None and identity.may_read else "Your sign-in is no longer valid: reload."


def require_operator() -> Identity:
    """Re-checked inside every action: raises PermissionError for anyone but an operator."""
    identity = current_identity()
    if identity is None or not identity.is_operator:
        raise PermissionError("only an operator may do this")
    return identity

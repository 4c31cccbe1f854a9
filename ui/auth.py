"""Who is using the dashboard and what they may do.

With an ``[auth]`` section in ``.streamlit/secrets.toml`` users sign in with Microsoft Entra ID
(``st.login``) and their app roles arrive in the token's ``roles`` claim: ``Operator`` may change
things (accept risks), everyone else reads. Without it, a local demo mode treats the single local
user as an operator — allowed only while the server listens on loopback, and said on every page.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import streamlit as st

OPERATOR_ROLE = "Operator"
VIEWER_ROLE = "Viewer"
PROVIDER = "microsoft"  # the [auth.microsoft] section of .streamlit/secrets.toml


@dataclass(frozen=True)
class Identity:
    name: str
    roles: tuple[str, ...]
    local_demo: bool  # no identity provider: the loopback-only demo operator
    kiosk: bool = False  # a wall screen's read-only link: the wall page only

    @property
    def is_operator(self) -> bool:
        return OPERATOR_ROLE in self.roles

    @property
    def may_read(self) -> bool:
        return bool({VIEWER_ROLE, OPERATOR_ROLE} & set(self.roles))


def auth_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file at all
        return False


def listening_on_loopback() -> bool:
    address = str(st.get_option("server.address") or "")
    if address in ("localhost", ""):
        return address == "localhost"  # empty means all interfaces
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def current_identity() -> Identity | None:
    """The signed-in user, the local demo operator, or None (nobody may act)."""
    if auth_configured():
        if not st.user.get("is_logged_in", False):
            return None
        roles = st.user.get("roles") or []
        name = st.user.get("email") or st.user.get("preferred_username") or st.user.get("name") or "?"
        return Identity(str(name), tuple(str(r) for r in roles), local_demo=False)
    if listening_on_loopback():
        return Identity("local operator (demo mode)", (OPERATOR_ROLE,), local_demo=True)
    return None


KIOSK_TOKEN_PARAM = "token"


def kiosk_identity() -> Identity | None:
    """The wall screen holding a valid kiosk link (`?token=…`), if any."""
    token = st.query_params.get(KIOSK_TOKEN_PARAM)
    if not token:
        return None
    from db import write_transaction
    from db.kiosk import kiosk_link_for
    from ui import data

    with write_transaction(data.engine()) as conn:
        link = kiosk_link_for(conn, token, data.utcnow())
    return Identity(f"kiosk: {link.label}", (VIEWER_ROLE,), local_demo=False, kiosk=True) if link else None


def sign_in_gate(kiosk_allowed: bool = False) -> Identity:
    """Show the page only to someone allowed to read it; otherwise say why and stop.

    ``kiosk_allowed``: this page (the wall) also opens for a valid kiosk link, read-only."""
    if auth_configured() and st.query_params.get(KIOSK_TOKEN_PARAM):
        kiosk = kiosk_identity()
        if kiosk is None:
            st.error("This kiosk link is not valid (revoked, or mistyped). Ask an operator for a new one.")
            st.stop()
        if not kiosk_allowed:
            st.error("A kiosk link opens the wall page only.")
            st.stop()
        return kiosk
    if auth_configured():
        if not st.user.get("is_logged_in", False):
            st.title("Perimeter")
            st.write("Sign in with your Microsoft work account to continue.")
            st.button("Sign in with Microsoft", on_click=st.login, args=(PROVIDER,), type="primary",
                      icon=":material/login:")
            st.stop()
        identity = current_identity()
        if identity is None or not identity.may_read:
            st.error("Your account has no Perimeter role. Ask an administrator to assign you the "
                     f"{VIEWER_ROLE} or {OPERATOR_ROLE} app role in Entra ID.")
            st.button("Sign out", on_click=st.logout)
            st.stop()
        with st.sidebar:
            role = OPERATOR_ROLE if identity.is_operator else VIEWER_ROLE
            st.caption(f":material/person: {identity.name} · {role}")
            st.button("Sign out", on_click=st.logout, key="sign_out")
        return identity
    identity = current_identity()
    if identity is None:
        address = st.get_option("server.address") or "all interfaces"
        st.error(f"Sign-in is not configured and the dashboard listens on {address}. Without an "
                 "identity provider Perimeter serves only on loopback: configure [auth] in "
                 ".streamlit/secrets.toml (see secrets.toml.example) or set server.address to 127.0.0.1.")
        st.stop()
    return identity


def require_operator() -> Identity:
    """Re-checked inside every action: raises PermissionError for anyone but an operator."""
    identity = current_identity()
    if identity is None or not identity.is_operator:
        raise PermissionError("only an operator may do this")
    return identity

"""Alert channels: Apprise URLs kept as secrets (settings.alert_channels), referred to by name.

Nothing here writes a URL anywhere: :func:`masked` is what a page may show (scheme and host, the host
only when it is a host name or address, not a token), and every error text is redacted with the
settings' secret values before it is returned."""

from __future__ import annotations

import ipaddress
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import apprise

from safetext.secrets import redact
from settings import Settings

# The header carrying an outbox row's id on channels that take custom headers (json://, mailto://): a
# receiver that remembers it can drop the one duplicate a crash between send and "sent" may cause.
MESSAGE_ID_HEADER = "X-Perimeter-Message-Id"
ATTACHMENT_NAME = "perimeter-report.html"


@dataclass(frozen=True)
class SendResult:
    ok: bool
    error: str | None = None  # one redacted line when not ok


def channel_names(settings: Settings) -> list[str]:
    return sorted(settings.alert_channels)


def _shown_host(host: str) -> str:
    """A host name or address as is; anything else (Slack's and Teams' URLs put a token there) masked."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return host
    except ValueError:
        pass
    return host if "." in host or host == "localhost" else "…"


def masked(url: str) -> str:
    """``json://127.0.0.1:8080/…``: the scheme and host of a channel URL, never credentials, path, query
    or a token standing where a host would."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port and host and _shown_host(host) != "…" else ""
    except ValueError:
        return "(unreadable URL)"
    scheme = parts.scheme or "?"
    return f"{scheme}://{_shown_host(host) if host else '…'}{port}/…"


def send(
    settings: Settings,
    channel: str,
    title: str,
    body: str,
    *,
    message_id: str = "",
    attachment_html: str | None = None,
) -> SendResult:
    """Send one message to the channel named ``channel``; never raises for a bad URL or a failing
    service (the result says what went wrong, secrets masked)."""
    secret = settings.alert_channels.get(channel)
    if secret is None:
        return SendResult(False, f"no channel named {channel!r} is configured")
    secrets = settings.secret_values()
    with apprise.LogCapture(level=apprise.logging.WARNING, fmt="%(message)s") as captured:
        try:
            plugin = apprise.Apprise.instantiate(secret.get_secret_value())
        except Exception as error:  # noqa: BLE001 - a bad URL is a result, not a crash
            return SendResult(False, redact(f"not a usable Apprise URL: {error}", secrets)[:300])
        if plugin is None:
            return SendResult(False, "not a usable Apprise URL (unknown scheme or missing parts)")
        headers = getattr(plugin, "headers", None)
        if message_id and isinstance(headers, dict):
            headers[MESSAGE_ID_HEADER] = message_id
        notifier = apprise.Apprise()
        notifier.add(plugin)
        try:
            ok = _notify(notifier, title, body, attachment_html)
        except Exception as error:  # noqa: BLE001 - a plugin's own failure is a result
            ok, captured_error = False, f"{type(error).__name__}: {error}"
        else:
            captured_error = ""
        log_text = captured.getvalue()
    if ok:
        return SendResult(True)
    lines = [line.strip() for line in f"{captured_error}\n{log_text}".splitlines() if line.strip()]
    reason = "; ".join(dict.fromkeys(lines)) or "the channel refused the message"
    return SendResult(False, redact(reason, secrets)[:500])


def _notify(notifier: apprise.Apprise, title: str, body: str, attachment_html: str | None) -> bool:
    # Plain text: Apprise escapes it for a channel that renders HTML (mail) or Markdown (Teams, Slack), so
    # tenant text in a message is never markup there. Bare URLs may still be linked by the service.
    text = apprise.NotifyFormat.TEXT
    if attachment_html is None:
        return bool(notifier.notify(title=title, body=body, body_format=text))
    with tempfile.TemporaryDirectory(prefix="perimeter-report-") as folder:
        path = Path(folder) / ATTACHMENT_NAME
        path.write_text(attachment_html, encoding="utf-8")
        return bool(notifier.notify(title=title, body=body, body_format=text, attach=str(path)))

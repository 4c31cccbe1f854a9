"""Secrets out of anything printed or logged: one helper, :func:`redact`.

Use it wherever a URL, a setting or an error text that may echo one (a driver error quoting its DSN,
an HTTP error quoting its request URL) is printed or logged. It masks, with ``***``:

- the password of a URL of any scheme (``postgresql+psycopg://user:pw@host/db``, ``https://u:p@h/``),
  also when the URL does not parse (a password holding ``/``, ``?``, ``#``, ``@`` or a space, a
  scheme without ``//``, a bare ``user:pw@host``);
- the value of query parameters and ``name=value`` pairs whose name looks secret (password, passwd,
  pwd, secret, token, key, sig, signature, code, client_secret, access_token, ...): this covers
  libpq/ODBC DSN strings (``host=h password='x y'``) as well as query strings;
- ``"password": "..."``-style JSON members with such names, and ``Authorization: Bearer ...`` values;
- every known secret value passed in (``Settings.secret_values()`` lists Perimeter's), wherever it
  occurs, also in its URL-encoded form.

This module imports nothing of Perimeter: every layer may use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

__all__ = ["MASK", "is_secret_name", "redact"]

MASK = "***"
# A name (query parameter, DSN key, JSON member, setting) holding one of these is secret ...
SECRET_NAME_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "credential",
    "signature",
    "authorization",
    "cookie",
    "sessionid",
    "privatekey",
)
# ... and so is one with one of these as a whole part (split at ``_ - .`` and camelCase humps), or
# ending in "key" (AccountKey, x-api-key, subscription-key).
SECRET_NAME_PARTS = frozenset({"pwd", "pass", "pw", "key", "sig", "code", "auth", "session", "sas"})
# "code" is the OAuth authorization code, but not a status or error code.
_NOT_SECRET_CODE = frozenset(
    {
        "status",
        "error",
        "exit",
        "return",
        "response",
        "http",
        "country",
        "zip",
        "post",
        "reason",
        "result",
        "language",
        "currency",
    }
)
# Known secrets shorter than this are not searched for in free text (a one-letter password would mask
# every such letter); URL passwords and secret-named parameters are masked whatever their length.
MIN_KNOWN_SECRET = 4

# scheme://rest-of-token (a token ends at whitespace, a quote or angle bracket).
_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<rest>[^\s'\"<>`]*)")
_WHOLE_URL = re.compile(r"\s*(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<rest>.*)", re.DOTALL)
# user:password@host outside a URL that parses (a scheme without "//", a DSN fragment).
_USERINFO = re.compile(r"(?<![\w.%+\-])(?P<user>[A-Za-z0-9._~%!$&*+;=\-]+):(?P<pw>[^\s@/'\"<>]+)@(?=\S)")
# name=value, in a query string or a DSN; the value may be quoted.
_PAIR = re.compile(
    r"(?P<name>[A-Za-z0-9_.\-]+)(?P<eq>\s*=\s*)"
    r"(?P<value>'(?:[^'\\]|\\.)*'?|\"(?:[^\"\\]|\\.)*\"?|[^\s&;,'\"#)\]}]*)"
)
# "name": "value" (JSON, Python reprs of dicts).
_MEMBER = re.compile(
    r"(?P<name>(?P<q>[\"'])(?P<key>[A-Za-z0-9_.\-]+)(?P=q)\s*:\s*)"
    r"(?P<value>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')"
)
_BEARER = re.compile(
    r"\b(?P<kind>Bearer|Basic|Negotiate)(?P<space>\s+)(?P<value>[A-Za-z0-9\-._~+/]+=*)", re.IGNORECASE
)
_HUMPS = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_PORT_AND_PATH = re.compile(r"\d+[/?#].*", re.DOTALL)  # host:8080/path, host:8080?q


def is_secret_name(name: str) -> bool:
    """Whether a parameter, key or setting name looks like it holds a secret."""
    lowered = name.lower()
    if any(word in lowered for word in SECRET_NAME_WORDS):
        return True
    parts = {part for part in re.split(r"[_.\-]+", _HUMPS.sub("_", name).lower()) if part}
    if "code" in parts and parts & _NOT_SECRET_CODE:
        parts.discard("code")
    return bool(parts & SECRET_NAME_PARTS) or lowered.endswith("key")


def _mask_userinfo(rest: str) -> str:
    """``rest`` is what follows ``scheme://``: mask the password of its user-info, if any.

    The password runs from the first ``:`` to the last ``@`` before the first ``/`` after it, so that a
    password holding ``@``, ``?`` or ``#`` is masked whole; a password holding ``/`` (the URL does not
    parse) runs to the token's last ``@``. ``host:8080/path?mail=a@b`` is a port, not a password.
    """
    colon = rest.find(":")
    if colon == -1 or rest.startswith("[") or any(ch in rest[:colon] for ch in "/?#@"):
        return rest  # no user-info (or an IPv6 host: [::1]:8080)
    slash = rest.find("/", colon)
    at = rest.rfind("@", colon, len(rest) if slash == -1 else slash)
    if at == -1:
        at = rest.rfind("@")
    if at <= colon or _PORT_AND_PATH.fullmatch(rest, colon + 1, at):
        return rest
    return f"{rest[: colon + 1]}{MASK}{rest[at:]}"


def _url(match: re.Match[str]) -> str:
    return f"{match.group('scheme')}://{_mask_userinfo(match.group('rest'))}"


def _userinfo(match: re.Match[str]) -> str:
    if _PORT_AND_PATH.fullmatch(match.group("pw")):
        return match.group()  # host:8080?mail=a@b
    return f"{match.group('user')}:{MASK}@"


def _pair(match: re.Match[str]) -> str:
    if not match.group("value") or not is_secret_name(match.group("name")):
        return match.group()
    return f"{match.group('name')}{match.group('eq')}{MASK}"


def _member(match: re.Match[str]) -> str:
    if not is_secret_name(match.group("key")):
        return match.group()
    quote_char = match.group("value")[0]
    return f"{match.group('name')}{quote_char}{MASK}{quote_char}"


def _known_forms(secrets: Iterable[object]) -> list[str]:
    forms: set[str] = set()
    for secret in secrets:
        if secret is None:
            continue
        value = secret.get_secret_value() if hasattr(secret, "get_secret_value") else str(secret)
        if len(value) < MIN_KNOWN_SECRET:
            continue
        forms.update({value, quote(value, safe=""), quote_plus(value, safe="")})
    return sorted(forms, key=len, reverse=True)  # longest first: no half-masked secret


def redact(text: object, secrets: Iterable[object] = ()) -> str:
    """``text`` (a URL, a setting's value, an error message) with every secret in it masked as ``***``.

    ``secrets``: known secret values (strings, or objects with ``get_secret_value()`` such as pydantic's
    ``SecretStr``) to mask wherever they occur; ``Settings.secret_values()`` lists Perimeter's.
    """
    result = "" if text is None else text if isinstance(text, str) else str(text)
    for form in _known_forms(secrets):
        result = result.replace(form, MASK)
    whole = _WHOLE_URL.fullmatch(result)
    if whole:  # the text is one URL (a setting's value): spaces in it are part of it, not an end
        result = result[: whole.start("scheme")] + _url(whole)
    else:
        result = _URL.sub(_url, result)
    result = _USERINFO.sub(_userinfo, result)
    result = _MEMBER.sub(_member, result)
    result = _PAIR.sub(_pair, result)
    return _BEARER.sub(lambda m: f"{m.group('kind')}{m.group('space')}{MASK}", result)

"""OData query handling: $filter for sign-ins and simple equality filters, $select, paging tokens."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote


class ODataError(Exception):
    """A query Graph would refuse: becomes a 400 with Graph's error JSON."""

    def __init__(self, message: str, code: str = "BadRequest"):
        super().__init__(message)
        self.code = code


def split_top_level(text: str, word: str) -> list[str]:
    """Split on ` word ` (case-insensitive) outside parentheses and quotes."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    needle = f" {word} "
    lowered = text.lower()
    while i < len(text):
        ch = text[i]
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and depth == 0 and lowered.startswith(needle, i):
            parts.append(text[start:i])
            i += len(needle)
            start = i
            continue
        i += 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _strip_parens(text: str) -> str:
    text = text.strip()
    while text.startswith("(") and text.endswith(")"):
        depth = 0
        for i, ch in enumerate(text):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and i < len(text) - 1:
                return text  # "(a) and (b)": the outer pair is not one group
        text = text[1:-1].strip()
    return text


def parse_datetime(raw: str) -> float:
    value = raw.strip().strip("'")
    value = re.sub(r" (\d\d:\d\d)$", r"+\1", value)  # a '+' that arrived unencoded became a space
    match = re.fullmatch(
        r"(\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d)?)(\.\d+)?(Z|[+-]\d\d:\d\d)?", value, re.IGNORECASE
    )
    if not match:
        raise ODataError(
            f"The DateTimeOffset text '{raw}' should be in format 'yyyy-mm-ddThh:mm:ss('.'s+)?(zzzzzz)?' "
            "and each field value is within valid range."
        )
    base, fraction, zone = match.groups()
    fraction = (fraction or ".0")[:7]
    zone = "+00:00" if not zone or zone.upper() == "Z" else zone
    try:
        parsed = datetime.fromisoformat(f"{base}{fraction}{zone}")
    except ValueError as exc:
        raise ODataError(f"Invalid DateTimeOffset '{raw}'.") from exc
    return parsed.astimezone(UTC).timestamp()


@dataclass
class TimeWindow:
    """The bounds `prop ge|gt|le|lt|eq <datetime>` clauses put on a log's timestamp."""

    lower: float | None = None  # inclusive bound after adjustment for gt
    lower_strict: bool = False
    upper: float | None = None
    upper_strict: bool = False

    def accepts_ts(self, ts: float) -> bool:
        if self.lower is not None and (ts <= self.lower if self.lower_strict else ts < self.lower):
            return False
        if self.upper is not None and (ts >= self.upper if self.upper_strict else ts > self.upper):
            return False
        return True

    def narrow(self, clause: str, prop: str) -> bool:
        """Apply `clause` when it compares `prop` with a datetime; False when it is another clause."""
        m = re.fullmatch(rf"{prop}\s+(ge|gt|le|lt|eq)\s+(.+)", clause, re.IGNORECASE)
        if not m:
            return False
        op, ts = m.group(1).lower(), parse_datetime(m.group(2))
        if op in ("ge", "gt", "eq"):
            if self.lower is None or ts > self.lower or (ts == self.lower and op == "gt"):
                self.lower, self.lower_strict = ts, op == "gt"
        if op in ("le", "lt", "eq"):
            if self.upper is None or ts < self.upper or (ts == self.upper and op == "lt"):
                self.upper, self.upper_strict = ts, op == "lt"
        return True


@dataclass
class SignInFilter(TimeWindow):
    event_types: frozenset[str] = frozenset({"interactiveUser"})
    extra: dict[str, Any] = field(default_factory=dict)


_EVENT_TYPES = {
    "interactiveuser": "interactiveUser",
    "noninteractiveuser": "nonInteractiveUser",
    "serviceprincipal": "servicePrincipal",
    "managedidentity": "managedIdentity",
}


def parse_sign_in_filter(text: str | None) -> SignInFilter:
    result = SignInFilter()
    if not text or not text.strip():
        return result
    for clause in split_top_level(_strip_parens(text), "and"):
        clause = _strip_parens(clause)
        if result.narrow(clause, "createdDateTime"):
            continue
        m = re.fullmatch(r"signInEventTypes/any\(\s*(\w+)\s*:\s*(.+)\)", clause, re.IGNORECASE)
        if m:
            var, body = m.group(1), m.group(2)
            types = set()
            for alt in split_top_level(_strip_parens(body), "or"):
                am = re.fullmatch(rf"\(?\s*{re.escape(var)}\s+eq\s+'(\w+)'\s*\)?", alt.strip(), re.IGNORECASE)
                if not am or am.group(1).lower() not in _EVENT_TYPES:
                    raise ODataError(f"Invalid filter clause: '{alt}'.", "Request_UnsupportedQuery")
                types.add(_EVENT_TYPES[am.group(1).lower()])
            result.event_types = frozenset(types)
            continue
        raise ODataError(
            f"Unsupported or invalid query filter clause specified for resource 'signIn': '{clause}'.",
            "Request_UnsupportedQuery",
        )
    return result


@dataclass
class AuditFilter(TimeWindow):
    """`$filter` of auditLogs/directoryAudits: a window on activityDateTime and equality clauses."""

    equals: dict[str, str] = field(default_factory=dict)


AUDIT_EQUALITY_PROPERTIES = ("category", "activityDisplayName", "loggedByService", "operationType")


def parse_audit_filter(text: str | None) -> AuditFilter:
    """`activityDateTime ge|gt|le|lt|eq <datetime>` and `<property> eq '<text>'` clauses joined by
    `and`; anything else is a query Graph refuses (400)."""
    result = AuditFilter()
    if not text or not text.strip():
        return result
    for clause in split_top_level(_strip_parens(text), "and"):
        clause = _strip_parens(clause)
        if result.narrow(clause, "activityDateTime"):
            continue
        m = re.fullmatch(r"(\w+)\s+eq\s+'((?:[^']|'')*)'", clause, re.IGNORECASE)
        name = next((p for p in AUDIT_EQUALITY_PROPERTIES if m and p.lower() == m.group(1).lower()), None)
        if m is None or name is None:
            raise ODataError(
                "Unsupported or invalid query filter clause specified for resource 'directoryAudit': "
                f"'{clause}'.",
                "Request_UnsupportedQuery",
            )
        result.equals[name] = m.group(2).replace("''", "'")
    return result


def parse_equality_filter(text: str | None, allowed: dict[str, type]) -> dict[str, Any]:
    """`prop eq 'x' and other eq true`: the subset of OData the simulator answers for directory lists."""
    if not text or not text.strip():
        return {}
    out: dict[str, Any] = {}
    for clause in split_top_level(_strip_parens(text), "and"):
        m = re.fullmatch(
            r"(\w+)\s+eq\s+('(?:[^']|'')*'|true|false|\d+)", _strip_parens(clause), re.IGNORECASE
        )
        if not m:
            raise ODataError(
                f"Unsupported or invalid query filter clause: '{clause}'.", "Request_UnsupportedQuery"
            )
        name = next((k for k in allowed if k.lower() == m.group(1).lower()), None)
        if name is None:
            raise ODataError(
                f"Unsupported or invalid query filter clause specified for property '{m.group(1)}'.",
                "Request_UnsupportedQuery",
            )
        raw = m.group(2)
        value: Any = (
            raw[1:-1].replace("''", "'")
            if raw.startswith("'")
            else (raw.lower() == "true" if raw.lower() in ("true", "false") else int(raw))
        )
        out[name] = value
    return out


def matches_equality(obj: dict, wanted: dict[str, Any]) -> bool:
    for key, value in wanted.items():
        have = obj.get(key)
        if isinstance(value, str) and isinstance(have, str):
            if have.lower() != value.lower():
                return False
        elif have != value:
            return False
    return True


def parse_top(raw: str | None, default: int, maximum: int) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise ODataError(
            f"Invalid page size specified: '{raw}'. Must be between 1 and {maximum} inclusive.",
            "Request_BadRequest",
        )
    return int(raw)


def parse_select(raw: str | None) -> list[str] | None:
    if not raw:
        return None
    return [s.strip() for s in raw.split(",") if s.strip()]


def select_properties(obj: dict, fields: list[str] | None) -> dict:
    if fields is None:
        return obj
    keep = {f.lower() for f in fields}
    return {k: v for k, v in obj.items() if k.lower() in keep or k in ("@odata.type", "id")}


def encode_token(data: dict) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return "RFNwdAIA" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, kind: str, fields: dict[str, type]) -> dict:
    """The cursor inside a $skiptoken made by encode_token; 400 for anything else."""
    try:
        if not token.startswith("RFNwdAIA"):
            raise ValueError
        body = token[8:]
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        if not isinstance(data, dict) or data.get("k") != kind:
            raise ValueError
        if not all(isinstance(data.get(name), kind_of) for name, kind_of in fields.items()):
            raise ValueError
        return data
    except ValueError as exc:
        raise ODataError("The provided $skiptoken is invalid or has expired.", "Request_BadRequest") from exc


def build_link(base: str, params: list[tuple[str, str]], token: str) -> str:
    """An absolute nextLink keeping the request's options (except the old $skiptoken)."""
    parts = [f"{k}={quote(v, safe='')}" for k, v in params if k.lower() not in ("$skiptoken", "skiptoken")]
    parts.append(f"$skiptoken={token}")
    return f"{base}?{'&'.join(parts)}"

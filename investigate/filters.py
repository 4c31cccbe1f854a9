"""The investigation's filters, and their URL form (so a view can be shared: ``?tenant=…&ip=…&code=53003``).

Reading a URL never fails: a value that makes no sense is dropped and named in ``problems``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from investigate.codes import ALL_FAILURES, BLOCKED, FAILURE_KINDS, counted_codes, is_blocked
from investigate.network import BadIpFilter, IpFilter, parse_ip_filter
from safetext.markdown import typed_text

PERIODS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
PERIOD_LABELS = {
    "1h": "Last hour",
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "custom": "Custom",
}
DEFAULT_PERIOD = "24h"
MAX_TEXT = 256


@dataclass(frozen=True)
class Filters:
    tenants: tuple[str, ...] = ()  # tenant ids; empty = all
    period: str = DEFAULT_PERIOD  # a key of PERIODS, or 'custom'
    start: datetime | None = None  # custom period only (naive UTC)
    end: datetime | None = None
    user: str = ""  # part of a UPN or display name (case-insensitive)
    app: str = ""  # part of an app name (case-insensitive)
    ip: str = ""  # an IP address or a CIDR range
    country: str = ""  # two-letter code as Graph writes it
    codes: tuple[int, ...] = ()  # error codes; empty = every code of the kind below
    policy: str = ""  # id of the Conditional Access policy that blocked
    interactive: bool | None = None
    service_provider: bool = False  # only the MSP's people (service-provider sign-ins)
    failures: str = BLOCKED  # what counts: blocked sign-ins, or every failure (investigate.codes)
    problems: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        # Text copied from a page may carry invisible characters (safetext.markdown.typed_text).
        for name in ("user", "app", "ip", "country", "policy"):
            object.__setattr__(self, name, typed_text(getattr(self, name)))

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        """[start, end) in naive UTC."""
        if self.period == "custom" and self.start is not None:
            return self.start, self.end if self.end is not None else now
        return now - PERIODS.get(self.period, PERIODS[DEFAULT_PERIOD]), now

    @property
    def ip_filter(self) -> IpFilter | None:
        if not self.ip:
            return None
        try:
            return parse_ip_filter(self.ip)
        except BadIpFilter:
            return None

    @property
    def counted_codes(self) -> tuple[int, ...] | None:
        """The error codes the filters take (None: every failure; (): none at all)."""
        return counted_codes(self.failures, self.codes)

    @property
    def only_tenant_time_code(self) -> bool:
        """No filter beyond tenant, time and error code (the kind is a set of codes): what the counters
        by code can answer."""
        return not (
            self.user
            or self.app
            or self.ip_filter
            or self.country
            or self.policy
            or self.interactive is not None
            or self.service_provider
        )

    @property
    def only_tenant_time(self) -> bool:
        """Every failure of the tenants in the window: what the counters of the other dimensions (app,
        country, policy…) hold, since they are not kept by code."""
        return self.only_tenant_time_code and self.counted_codes is None

    def narrowed(self, dim: str, value: str) -> Filters:
        """These filters with one more: a click on a value of a Top table (dim as db.signin_aggregates
        names it: user, app, ip, country, policy, code)."""
        if dim == "code":
            code = int(value)
            failures = self.failures if is_blocked(code) else ALL_FAILURES
            return replace(self, codes=(code,), failures=failures)
        if dim == "user":
            return replace(self, user=value)
        if dim == "app":
            return replace(self, app=value)
        if dim == "ip":
            return replace(self, ip=value)
        if dim == "country":
            return replace(self, country=value)
        if dim == "policy":
            return replace(self, policy=value)
        raise ValueError(f"no filter for {dim!r}")

    def to_query_params(self) -> dict[str, str | list[str]]:
        """The URL form: only what differs from the defaults."""
        params: dict[str, str | list[str]] = {}
        if self.tenants:
            params["tenant"] = list(self.tenants)
        if self.period != DEFAULT_PERIOD:
            params["period"] = self.period
        if self.period == "custom":
            if self.start is not None:
                params["from"] = self.start.strftime("%Y-%m-%dT%H:%M")
            if self.end is not None:
                params["to"] = self.end.strftime("%Y-%m-%dT%H:%M")
        for key, value in (
            ("user", self.user),
            ("app", self.app),
            ("ip", self.ip),
            ("country", self.country),
            ("policy", self.policy),
        ):
            if value:
                params[key] = value
        if self.codes:
            params["code"] = ",".join(str(c) for c in self.codes)
        if self.interactive is not None:
            params["interactive"] = "yes" if self.interactive else "no"
        if self.service_provider:
            params["sp"] = "1"
        if self.failures != BLOCKED:
            params["failures"] = self.failures
        return params

    @classmethod
    def from_query_params(cls, params: Mapping[str, Sequence[str] | str]) -> Filters:
        """From ``st.query_params.to_dict()``-like input (a value or a list of values per key)."""
        problems: list[str] = []

        def raw(key: str) -> list[str]:
            value = params.get(key)
            if value is None:
                return []
            return [str(v) for v in ([value] if isinstance(value, str) else list(value))]

        def values(key: str) -> list[str]:
            return [part.strip() for item in raw(key) for part in item.split(",") if part.strip()]

        def one(key: str) -> str:
            found = raw(key)
            value = typed_text(found[-1]) if found else ""
            if len(value) > MAX_TEXT:
                problems.append(f"{key}: longer than {MAX_TEXT} characters, ignored")
                return ""
            return value

        tenants = tuple(dict.fromkeys(values("tenant")))
        period = one("period") or DEFAULT_PERIOD
        if period not in PERIODS and period != "custom":
            problems.append(f"period '{period}' is not one of {', '.join([*PERIODS, 'custom'])}")
            period = DEFAULT_PERIOD
        start = _parse_time(one("from"), "from", problems)
        end = _parse_time(one("to"), "to", problems)
        if period == "custom" and start is None:
            problems.append("a custom period needs 'from'")
            period = DEFAULT_PERIOD
        if start is not None and end is not None and end <= start:
            problems.append("'to' is not after 'from': ignored")
            end = None
        codes: list[int] = []
        for value in values("code"):
            try:
                codes.append(int(value))
            except ValueError:
                problems.append(f"code '{value}' is not a number")
        ip = one("ip")
        if ip:
            try:
                parse_ip_filter(ip)
            except BadIpFilter as error:
                problems.append(str(error))
                ip = ""
        interactive_text = one("interactive").lower()
        interactive = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}.get(
            interactive_text
        )
        if interactive_text and interactive is None:
            problems.append(f"interactive '{interactive_text}' is not yes or no")
        failures = one("failures").lower()
        if failures and failures not in FAILURE_KINDS:
            problems.append(f"failures '{failures}' is not one of {', '.join(FAILURE_KINDS)}")
            failures = ""
        if not failures:
            # A link that names a code which is not a block (50126, a wrong password) means every
            # failure: counting blocks only would show it nothing.
            failures = ALL_FAILURES if any(not is_blocked(c) for c in codes) else BLOCKED
        return cls(
            tenants=tenants,
            period=period,
            start=start if period == "custom" else None,
            end=end if period == "custom" else None,
            user=one("user"),
            app=one("app"),
            ip=ip,
            country=one("country").upper(),
            codes=tuple(dict.fromkeys(codes)),
            policy=one("policy"),
            interactive=interactive,
            service_provider=one("sp").lower() in ("1", "yes", "true"),
            failures=failures,
            problems=tuple(problems),
        )

    def with_(self, **changes: Any) -> Filters:
        return replace(self, **changes)


def _parse_time(value: str, key: str, problems: list[str]) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        problems.append(f"{key} '{value}' is not a date and time (2026-11-21T10:00)")
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed

"""The investigation's timeline: how wide its bars are for a window, and how its axis reads.

A one-hour window drawn with hourly bars has one bar and an axis Plotly labels in fractions of a
second ("01:59:59.9996"): windows up to six hours get 5-minute bars, up to three days hourly ones,
longer windows daily ones; each with a tick format a person reads.
"""

from __future__ import annotations

from datetime import datetime, timedelta

FIVE_MINUTES, HOUR, DAY = "5m", "h", "d"  # "h" and "d" are the counters' grains (db.signin_index)
BUCKETS: dict[str, timedelta] = {
    FIVE_MINUTES: timedelta(minutes=5),
    HOUR: timedelta(hours=1),
    DAY: timedelta(days=1),
}
FIVE_MINUTES_UP_TO = timedelta(hours=6)
HOURS_UP_TO = timedelta(days=3)
# Plotly's tick formats (d3 time format; <br> breaks the label in two lines).
TICK_FORMATS: dict[str, str] = {FIVE_MINUTES: "%H:%M", HOUR: "%H:%M<br>%b %d", DAY: "%b %d"}
PER: dict[str, str] = {FIVE_MINUTES: "per 5 minutes", HOUR: "per hour", DAY: "per day"}


def grain_for(span: timedelta) -> str:
    """The bar width for a window of ``span``."""
    if span <= FIVE_MINUTES_UP_TO:
        return FIVE_MINUTES
    return HOUR if span <= HOURS_UP_TO else DAY


def bucket_start(moment: datetime, grain: str) -> datetime:
    """The start of the bar ``moment`` falls in."""
    if grain == FIVE_MINUTES:
        return moment.replace(minute=moment.minute - moment.minute % 5, second=0, microsecond=0)
    hour = moment.replace(minute=0, second=0, microsecond=0)
    return hour if grain == HOUR else hour.replace(hour=0)

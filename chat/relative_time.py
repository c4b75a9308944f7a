"""Times in words for the first paint, worded exactly as the page's script words them.

static/js/format.js turns a time into "5 minutes ago" with ``Intl.RelativeTimeFormat("en",
{numeric: "auto"})``; the server-rendered page must say the same so that the script's first
update changes nothing. Same steps, same rounding, same English.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

# (size of this unit in the previous one, unit): as in format.js.
_STEPS = (
    (60, "second"),
    (60, "minute"),
    (24, "hour"),
    (7, "day"),
    (4.35, "week"),
    (12, "month"),
    (math.inf, "year"),
)
# numeric: "auto" says these instead of "1 day ago", "1 week ago", ...
_LAST = {"day": "yesterday", "week": "last week", "month": "last month", "year": "last year"}


def parse_iso(iso: str) -> datetime | None:
    """The aware datetime of a wire timestamp ("...Z"), or None when it is not one."""
    try:
        value = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def ago(iso: str | None, now: datetime | None = None) -> str:
    """The time since ``iso`` in words ("just now", "3 hours ago", "yesterday"); "" if none."""
    then = parse_iso(iso) if iso else None
    if then is None:
        return ""
    seconds = (then - (now or datetime.now(UTC))).total_seconds()
    if seconds > -45:
        return "just now"
    value = seconds
    for size, unit in _STEPS:
        if abs(value) < size:
            n = -math.floor(value + 0.5)  # JavaScript's Math.round, then as a positive count
            if n == 1 and unit in _LAST:
                return _LAST[unit]
            return f"{n:,} {unit}{'' if n == 1 else 's'} ago"
        value /= size
    return ""


def utc(iso: str | None) -> str:
    """A wire timestamp as "2026-01-31 14:05 UTC" (the page shows local time once it runs)."""
    then = parse_iso(iso) if iso else None
    return then.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if then else ""

"""ISO 8601 timestamps to timezone-aware datetimes, on every supported Python.

``datetime.fromisoformat`` before 3.11 rejects ``Z`` and fractions that are not
3 or 6 digits; the server sends both.
"""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["parse_datetime"]

_ISO = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<time>\d{2}:\d{2}(?::\d{2})?)(?:[.,](?P<frac>\d+))?)?"
    r"(?P<tz>Z|z|[+-]\d{2}(?::?\d{2})?)?"
)


def parse_datetime(value: str, *, assume_utc: bool) -> dt.datetime:
    """Parse an ISO 8601 timestamp.

    A timestamp without an offset is UTC when ``assume_utc`` is true (the
    server reports ``time_zone: "UTC"``), and an error otherwise.

    Raises:
        ValueError: not ISO 8601, or naive when ``assume_utc`` is false.

    """
    match = _ISO.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"not an ISO 8601 timestamp: {value!r}")
    date, time, frac, tz = match.group("date", "time", "frac", "tz")
    text = date + "T" + (time or "00:00")
    if time is not None and time.count(":") == 1:
        text += ":00"
    if frac:
        text += "." + (frac + "000000")[:6]  # microseconds; finer digits are dropped
    if tz in ("Z", "z"):
        text += "+00:00"
    elif tz:
        text += tz if ":" in tz or len(tz) == 3 else f"{tz[:3]}:{tz[3:]}"
        if len(tz) == 3:
            text += ":00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not a valid timestamp: {value!r} ({exc})") from None
    if parsed.tzinfo is None:
        if not assume_utc:
            raise ValueError(f"timestamp has no UTC offset: {value!r}")
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed

"""ISO 8601 timestamps to timezone-aware datetimes, on every supported Python.

``datetime.fromisoformat`` before 3.11 rejects ``Z`` and fractions that are not
3 or 6 digits; the server sends both. A reply's offset-less timestamps are
read in its ``time_zone`` (:func:`localize_naive`).
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import zoneinfo
from collections.abc import Mapping
from typing import Any

__all__ = ["UTC_NAMES", "localize_naive", "parse_datetime", "parse_timestamp"]

_ISO = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    # A fraction only after seconds: in "12:30,5" ISO 8601 means half a minute.
    r"(?:[T ](?P<time>\d{2}:\d{2}(?::\d{2})?)(?:(?<=:\d{2}:\d{2})[.,](?P<frac>\d+))?)?"
    r"(?P<tz>Z|z|[+-]\d{2}(?::?\d{2})?)?"
)

# What the server writes (2023-08-08T23:54:07.659244Z), matched exactly:
# ``fromisoformat`` reads it as the general path below would, on 3.10 once
# ``Z`` is spelled ``+00:00``, and from 3.11 as it is. Anything else (other
# offsets, fewer digits, non-ASCII digits) takes the general path.
_COMMON = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
_READS_Z = sys.version_info >= (3, 11)
_fromisoformat = dt.datetime.fromisoformat


def parse_timestamp(value: str) -> dt.datetime:
    """Parse an ISO 8601 timestamp: aware when it carries an offset, naive otherwise.

    Raises:
        ValueError: not ISO 8601.

    """
    if _COMMON.fullmatch(value):
        try:
            return _fromisoformat(value if _READS_Z else value[:-1] + "+00:00")
        except ValueError:
            pass  # e.g. month 13: the general path below says why, in its words
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
        return _fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not a valid timestamp: {value!r} ({exc})") from None


def parse_datetime(value: str, *, assume_utc: bool) -> dt.datetime:
    """Parse an ISO 8601 timestamp.

    A timestamp without an offset is UTC when ``assume_utc`` is true (the
    server reports ``time_zone: "UTC"``), and an error otherwise.

    Raises:
        ValueError: not ISO 8601, or naive when ``assume_utc`` is false.

    """
    parsed = parse_timestamp(value)
    if parsed.tzinfo is None:
        if not assume_utc:
            raise ValueError(f"timestamp has no UTC offset: {value!r}")
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed


#: ``time_zone`` values that mean UTC (offset-less timestamps are then UTC).
UTC_NAMES = frozenset({None, "", "UTC", "Etc/UTC", "utc", "Z", "GMT"})


def localize_naive(fields: Mapping[str, Any], names: frozenset[str], zone: Any) -> dict[str, Any]:
    """``fields`` with the offset-less timestamps among ``names`` read in ``zone``.

    ``zone`` is a reply's ``time_zone``, not one of :data:`UTC_NAMES`.

    Raises:
        ValueError: an offset-less timestamp, and a zone the tz database does not have.

    """
    out = dict(fields)
    for name in names:
        text = out.get(name)
        if not isinstance(text, str):
            continue
        try:
            wall = parse_timestamp(text)
        except ValueError:
            continue  # not ISO at all: the datetime hook says so
        if wall.tzinfo is not None:
            continue  # has an offset: unambiguous already
        try:
            tz = zoneinfo.ZoneInfo(str(zone))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            # OSError: a name that is a tzdata folder ("Europe"), or too long for a path.
            raise ValueError(
                f"{name} {text!r} has no UTC offset and time_zone {zone!r} is unknown"
            ) from None
        out[name] = wall.replace(tzinfo=tz)
    return out

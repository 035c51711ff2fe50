"""Go's time values for expressions: `now()`, `date()`, `duration()`, `timezone()`.

Times and durations behave like Go's `time.Time` and `time.Duration` as expr exposes them:
arithmetic (time - time = duration, time + duration = time), comparison, a whitelisted set of
methods (`Year()`, `Format("2006-01-02")`, `Hours()`...), Go's reference-time layouts for
formatting and parsing, and Go's JSON form (RFC 3339 with nanoseconds; durations as integer
nanoseconds). Precision is Python's: microseconds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kargo.expressions import golayout
from kargo.expressions.golayout import (
    DEFAULT_LAYOUTS as DEFAULT_LAYOUTS,  # re-export
    TimeError as TimeError,  # re-export
    format_time,
)
from kargo.expressions.objects import ExprObject

NS = 1
US = 1000
MS = 1000 * US
SECOND = 1000 * MS
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

_UNITS = {
    "ns": NS,
    "us": US,
    "\u00b5s": US,
    "\u03bcs": US,
    "ms": MS,
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([a-zA-Z\u00b5\u03bc]+)")


def parse_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds."""
    orig = text
    sign = 1
    if text[:1] in "+-" and text:
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise TimeError(f'time: invalid duration "{orig}"')
    total = 0.0
    pos = 0
    while pos < len(text):
        m = _DURATION_PART.match(text, pos)
        if m is None or m.group(1) in ("", "."):
            raise TimeError(f'time: invalid duration "{orig}"')
        unit = _UNITS.get(m.group(2))
        if unit is None:
            raise TimeError(f'time: unknown unit "{m.group(2)}" in duration "{orig}"')
        total += float(m.group(1)) * unit
        pos = m.end()
    if total > 2**63 - 1:
        raise TimeError(f'time: invalid duration "{orig}"')
    return sign * round(total)


def _frac(v: int, prec: int) -> tuple[str, int]:
    digits = ""
    printed = False
    for _ in range(prec):
        digit = v % 10
        printed = printed or digit != 0
        if printed:
            digits = str(digit) + digits
        v //= 10
    return ("." + digits if printed else ""), v


def format_duration(d: int) -> str:
    """Go's Duration.String: 1h30m0s, 1.5s, 250ms, 2µs, 0s."""
    if d == 0:
        return "0s"
    neg = d < 0
    u = -d if neg else d
    if u < SECOND:
        if u < US:
            frac, u, unit = "", u, "ns"
        elif u < MS:
            frac, u = _frac(u, 3)
            unit = "\u00b5s"
        else:
            frac, u = _frac(u, 6)
            unit = "ms"
        out = f"{u}{frac}{unit}"
    else:
        frac, u = _frac(u, 9)
        out = f"{u % 60}{frac}s"
        u //= 60
        if u > 0:
            out = f"{u % 60}m" + out
            u //= 60
            if u > 0:
                out = f"{u}h" + out
    return "-" + out if neg else out


class DurationValue(ExprObject):
    """A Go time.Duration (nanoseconds)."""

    type_name = "time.Duration"
    methods = frozenset(
        {
            "Hours",
            "Minutes",
            "Seconds",
            "Milliseconds",
            "Microseconds",
            "Nanoseconds",
            "String",
            "Abs",
            "Round",
            "Truncate",
        }
    )

    __slots__ = ("ns",)

    def __init__(self, ns: int) -> None:
        self.ns = int(ns)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DurationValue) and other.ns == self.ns

    def __hash__(self) -> int:
        return hash(self.ns)

    def __repr__(self) -> str:
        return f"Duration({format_duration(self.ns)})"

    def to_json(self) -> Any:
        return self.ns

    def go_string(self) -> str:
        return format_duration(self.ns)

    def m_Hours(self) -> float:
        return self.ns / HOUR

    def m_Minutes(self) -> float:
        return self.ns / MINUTE

    def m_Seconds(self) -> float:
        return self.ns / SECOND

    def m_Milliseconds(self) -> int:
        return int(self.ns / MS)

    def m_Microseconds(self) -> int:
        return int(self.ns / US)

    def m_Nanoseconds(self) -> int:
        return self.ns

    def m_String(self) -> str:
        return format_duration(self.ns)

    def m_Abs(self) -> DurationValue:
        return DurationValue(abs(self.ns))

    def m_Round(self, m: DurationValue) -> DurationValue:
        if m.ns <= 0:
            return self
        q, r = divmod(abs(self.ns), m.ns)
        value = (q + (1 if r * 2 >= m.ns else 0)) * m.ns
        return DurationValue(value if self.ns >= 0 else -value)

    def m_Truncate(self, m: DurationValue) -> DurationValue:
        if m.ns <= 0:
            return self
        return DurationValue(int(self.ns / m.ns) * m.ns)


class LocationValue(ExprObject):
    """A *time.Location from `timezone(name)`."""

    type_name = "*time.Location"
    methods = frozenset({"String"})

    def __init__(self, name: str, tz: tzinfo) -> None:
        self.name = name
        self.tz = tz

    def to_json(self) -> Any:
        return {}

    def go_string(self) -> str:
        return self.name

    def m_String(self) -> str:
        return self.name


def load_location(name: str) -> LocationValue:
    """Go's time.LoadLocation: "", "UTC", "Local" (= UTC here) or an IANA name."""
    if name in ("", "UTC", "Local"):
        return LocationValue("UTC" if name != "Local" else "Local", UTC)
    try:
        return LocationValue(name, ZoneInfo(name))
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise TimeError(f"unknown time zone {name}") from None


class TimeValue(ExprObject):
    """A Go time.Time (timezone-aware)."""

    type_name = "time.Time"
    methods = frozenset(
        {
            "Year",
            "Month",
            "Day",
            "Hour",
            "Minute",
            "Second",
            "Nanosecond",
            "Weekday",
            "YearDay",
            "Unix",
            "UnixMilli",
            "UnixMicro",
            "UnixNano",
            "Format",
            "Before",
            "After",
            "Equal",
            "Compare",
            "Sub",
            "Add",
            "AddDate",
            "UTC",
            "Local",
            "In",
            "String",
            "IsZero",
            "Truncate",
        }
    )
    _EPOCH: ClassVar[datetime] = datetime(1970, 1, 1, tzinfo=UTC)

    __slots__ = ("dt",)

    def __init__(self, dt: datetime) -> None:
        self.dt = dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TimeValue) and other.dt == self.dt

    def __hash__(self) -> int:
        return hash(self.dt)

    def __repr__(self) -> str:
        return f"Time({self.dt.isoformat()})"

    def to_json(self) -> Any:
        return format_time(self.dt, "2006-01-02T15:04:05.999999999Z07:00")

    def go_string(self) -> str:
        return self.m_String()

    def _unix_us(self) -> int:
        delta = self.dt - self._EPOCH
        return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds

    def m_Year(self) -> int:
        return self.dt.year

    def m_Month(self) -> int:
        return self.dt.month

    def m_Day(self) -> int:
        return self.dt.day

    def m_Hour(self) -> int:
        return self.dt.hour

    def m_Minute(self) -> int:
        return self.dt.minute

    def m_Second(self) -> int:
        return self.dt.second

    def m_Nanosecond(self) -> int:
        return self.dt.microsecond * 1000

    def m_Weekday(self) -> int:
        return (self.dt.weekday() + 1) % 7  # Go: Sunday = 0

    def m_YearDay(self) -> int:
        return self.dt.timetuple().tm_yday

    def m_Unix(self) -> int:
        return self._unix_us() // 1_000_000

    def m_UnixMilli(self) -> int:
        return self._unix_us() // 1000

    def m_UnixMicro(self) -> int:
        return self._unix_us()

    def m_UnixNano(self) -> int:
        return self._unix_us() * 1000

    def m_Format(self, layout: str) -> str:
        if not isinstance(layout, str):
            raise TimeError("Format expects a layout string")
        return format_time(self.dt, layout)

    def m_Before(self, other: TimeValue) -> bool:
        return self.dt < _time_arg(other).dt

    def m_After(self, other: TimeValue) -> bool:
        return self.dt > _time_arg(other).dt

    def m_Equal(self, other: TimeValue) -> bool:
        return self.dt == _time_arg(other).dt

    def m_Compare(self, other: TimeValue) -> int:
        o = _time_arg(other).dt
        return -1 if self.dt < o else (1 if self.dt > o else 0)

    def m_Sub(self, other: TimeValue) -> DurationValue:
        return DurationValue(sub_times(self, _time_arg(other)))

    def m_Add(self, d: DurationValue) -> TimeValue:
        if not isinstance(d, DurationValue):
            raise TimeError("Add expects a duration")
        return add_duration(self, d.ns)

    def m_AddDate(self, years: int, months: int, days: int) -> TimeValue:
        for v in (years, months, days):
            if not isinstance(v, int) or isinstance(v, bool):
                raise TimeError("AddDate expects three integers")
        month0 = self.dt.month - 1 + months
        year = self.dt.year + years + month0 // 12
        month = month0 % 12 + 1
        base = datetime(year, month, 1, tzinfo=self.dt.tzinfo)  # Go normalises overflowing days
        base = base.replace(
            hour=self.dt.hour,
            minute=self.dt.minute,
            second=self.dt.second,
            microsecond=self.dt.microsecond,
        )
        return TimeValue(base + timedelta(days=self.dt.day - 1 + days))

    def m_UTC(self) -> TimeValue:
        return TimeValue(self.dt.astimezone(UTC))

    def m_Local(self) -> TimeValue:
        return self.m_UTC()

    def m_In(self, loc: LocationValue) -> TimeValue:
        if not isinstance(loc, LocationValue):
            raise TimeError("In expects a location from timezone()")
        return TimeValue(self.dt.astimezone(loc.tz))

    def m_String(self) -> str:
        return format_time(self.dt, "2006-01-02 15:04:05.999999999 -0700 MST")

    def m_IsZero(self) -> bool:
        return self.dt == datetime(1, 1, 1, tzinfo=UTC)

    def m_Truncate(self, d: DurationValue) -> TimeValue:
        if not isinstance(d, DurationValue) or d.ns <= 0:
            return self
        us = self._unix_us()
        step = max(1, d.ns // 1000)
        return TimeValue(
            (self._EPOCH + timedelta(microseconds=us - us % step)).astimezone(self.dt.tzinfo)
        )


def _time_arg(v: Any) -> TimeValue:
    if not isinstance(v, TimeValue):
        raise TimeError(f"expected a time, got {type(v).__name__}")
    return v


def sub_times(a: TimeValue, b: TimeValue) -> int:
    """a - b in nanoseconds."""
    delta = a.dt - b.dt
    return ((delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds) * 1000


def add_duration(t: TimeValue, ns: int) -> TimeValue:
    """t + ns."""
    try:
        return TimeValue(t.dt + timedelta(microseconds=ns / 1000))
    except OverflowError:
        raise TimeError("time out of range") from None


def parse_time(layout: str, value: str, loc: tzinfo | None = None) -> TimeValue:
    """Go's time.Parse (or ParseInLocation when `loc` is given)."""
    return TimeValue(golayout.parse_datetime(layout, value, loc))

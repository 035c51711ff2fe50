"""Go's time values for expressions: `now()`, `date()`, `duration()`, `timezone()`.

Times and durations behave like Go's `time.Time` and `time.Duration` as expr exposes them:
arithmetic (time - time = duration, time + duration = time), comparison, a whitelisted set of
methods (`Year()`, `Format("2006-01-02")`, `Hours()`...), Go's reference-time layouts for
formatting and parsing, and Go's JSON form (RFC 3339 with nanoseconds; durations as integer
nanoseconds). Precision is Python's: microseconds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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


class TimeError(ValueError):
    """A time value could not be parsed or built."""


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


# -- layouts ------------------------------------------------------------------------------------
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_CHUNKS = [  # longest first within each leading character, as Go's nextStdChunk
    "January",
    "Jan",
    "Monday",
    "Mon",
    "MST",
    "2006",
    "002",
    "01",
    "02",
    "03",
    "04",
    "05",
    "06",
    "15",
    "1",
    "2",
    "__2",
    "_2",
    "3",
    "4",
    "5",
    "PM",
    "pm",
    "-07:00:00",
    "-070000",
    "-07:00",
    "-0700",
    "-07",
    "Z07:00:00",
    "Z070000",
    "Z07:00",
    "Z0700",
    "Z07",
]
_FRAC = re.compile(r"[.,](0+|9+)(?![0-9])")


def _layout_chunks(layout: str) -> list[tuple[str, str]]:
    """Split a Go layout into ("lit", text) and ("std", chunk) pieces."""
    out: list[tuple[str, str]] = []
    i = 0
    lit = ""
    while i < len(layout):
        m = _FRAC.match(layout, i)
        if m is not None and i > 0 and out and out[-1][1] in ("05", "5") and not lit:
            out.append(("std", m.group()))
            i = m.end()
            continue
        for chunk in _CHUNKS:
            if layout.startswith(chunk, i):
                if chunk == "Jan" and layout.startswith("January", i):
                    continue
                if lit:
                    out.append(("lit", lit))
                    lit = ""
                out.append(("std", chunk))
                i += len(chunk)
                break
        else:
            lit += layout[i]
            i += 1
    if lit:
        out.append(("lit", lit))
    return out


def _offset(dt: datetime) -> int:
    off = dt.utcoffset()
    return int(off.total_seconds()) if off is not None else 0


def _fmt_offset(dt: datetime, chunk: str) -> str:
    secs = _offset(dt)
    if chunk.startswith("Z") and secs == 0:
        return "Z"
    sign = "-" if secs < 0 else "+"
    secs = abs(secs)
    hh, mm, ss = secs // 3600, secs // 60 % 60, secs % 60
    body = chunk.lstrip("Z-")
    if body == "07":
        return f"{sign}{hh:02d}"
    if body == "0700":
        return f"{sign}{hh:02d}{mm:02d}"
    if body == "07:00":
        return f"{sign}{hh:02d}:{mm:02d}"
    if body == "070000":
        return f"{sign}{hh:02d}{mm:02d}{ss:02d}"
    return f"{sign}{hh:02d}:{mm:02d}:{ss:02d}"


def format_time(dt: datetime, layout: str) -> str:
    """Go's Time.Format with a reference-time layout."""
    parts: list[str] = []
    for kind, chunk in _layout_chunks(layout):
        if kind == "lit":
            parts.append(chunk)
            continue
        hour12 = dt.hour % 12 or 12
        simple = {
            "January": _MONTHS[dt.month - 1],
            "Jan": _MONTHS[dt.month - 1][:3],
            "Monday": _DAYS[dt.weekday()],
            "Mon": _DAYS[dt.weekday()][:3],
            "2006": f"{dt.year:04d}",
            "06": f"{dt.year % 100:02d}",
            "01": f"{dt.month:02d}",
            "1": str(dt.month),
            "02": f"{dt.day:02d}",
            "2": str(dt.day),
            "_2": f"{dt.day:2d}",
            "002": f"{dt.timetuple().tm_yday:03d}",
            "__2": f"{dt.timetuple().tm_yday:3d}",
            "15": f"{dt.hour:02d}",
            "03": f"{hour12:02d}",
            "3": str(hour12),
            "04": f"{dt.minute:02d}",
            "4": str(dt.minute),
            "05": f"{dt.second:02d}",
            "5": str(dt.second),
            "PM": "PM" if dt.hour >= 12 else "AM",
            "pm": "pm" if dt.hour >= 12 else "am",
        }
        if chunk in simple:
            parts.append(simple[chunk])
        elif chunk == "MST":
            name = dt.tzname() or ""
            if not name or name[0] in "+-":
                name = _fmt_offset(dt, "-0700")
            parts.append(name)
        elif chunk[0] in "-Z":
            parts.append(_fmt_offset(dt, chunk))
        else:  # fractional seconds
            digits = f"{dt.microsecond:06d}000"[: len(chunk) - 1]
            if chunk[1] == "9":
                digits = digits.rstrip("0")
                parts.append(chunk[0] + digits if digits else "")
            else:
                parts.append(chunk[0] + digits)
    return "".join(parts)


_PARSE_PATTERNS = {
    "January": "(?P<month_name>" + "|".join(_MONTHS) + ")",
    "Jan": "(?P<month_abbr>" + "|".join(m[:3] for m in _MONTHS) + ")",
    "Monday": "(?:" + "|".join(_DAYS) + ")",
    "Mon": "(?:" + "|".join(d[:3] for d in _DAYS) + ")",
    "2006": r"(?P<year>\d{4})",
    "06": r"(?P<year2>\d{2})",
    "01": r"(?P<month>\d{2})",
    "1": r"(?P<month>\d{1,2})",
    "02": r"(?P<day>\d{2})",
    "2": r"(?P<day>\d{1,2})",
    "_2": r" ?(?P<day>\d{1,2})",
    "002": r"(?P<yday>\d{3})",
    "__2": r" {0,2}(?P<yday>\d{1,3})",
    "15": r"(?P<hour>\d{1,2})",
    "03": r"(?P<hour12>\d{2})",
    "3": r"(?P<hour12>\d{1,2})",
    "04": r"(?P<minute>\d{2})",
    "4": r"(?P<minute>\d{1,2})",
    "05": r"(?P<second>\d{2})(?P<frac>[.,]\d+)?",
    "5": r"(?P<second>\d{1,2})(?P<frac>[.,]\d+)?",
    "PM": "(?P<ampm>AM|PM)",
    "pm": "(?P<ampm>am|pm)",
    "MST": r"(?P<tzname>[A-Z]{3,5}|[+-]\d{2,4})",
}


def _offset_pattern(chunk: str) -> str:
    body = chunk.lstrip("Z-")
    num = {
        "07": r"[+-]\d{2}",
        "0700": r"[+-]\d{4}",
        "07:00": r"[+-]\d{2}:\d{2}",
        "070000": r"[+-]\d{6}",
        "07:00:00": r"[+-]\d{2}:\d{2}:\d{2}",
    }[body]
    return f"(?P<offset>Z|{num})" if chunk.startswith("Z") else f"(?P<offset>{num})"


def parse_time(layout: str, value: str, loc: tzinfo | None = None) -> TimeValue:
    """Go's time.Parse (or ParseInLocation when `loc` is given)."""
    pattern = ""
    seen: set[str] = set()
    for kind, chunk in _layout_chunks(layout):
        if kind == "lit":
            pattern += re.escape(chunk)
        elif chunk[0] in "-Z":
            pattern += _offset_pattern(chunk)
        elif chunk[0] in ".,":
            pattern += r"(?P<frac2>[.,]\d+)" if chunk[1] == "0" else r"(?P<frac2>[.,]\d+)?"
        else:
            piece = _PARSE_PATTERNS[chunk]
            names = re.findall(r"\?P<(\w+)>", piece)
            if any(name in seen for name in names):
                piece = re.sub(r"\?P<\w+>", "?:", piece)
            seen.update(names)
            pattern += piece
    m = re.fullmatch(pattern, value)
    if m is None:
        raise TimeError(f'parsing time "{value}" as "{layout}": cannot parse')
    g = m.groupdict()
    try:
        year = int(g["year"]) if g.get("year") else 0
        if g.get("year2"):
            y2 = int(g["year2"])
            year = y2 + (1900 if y2 >= 69 else 2000)
        if g.get("month"):
            month = int(g["month"])
        elif g.get("month_name"):
            month = _MONTHS.index(g["month_name"]) + 1
        elif g.get("month_abbr"):
            month = [m[:3] for m in _MONTHS].index(g["month_abbr"]) + 1
        else:
            month = 1
        day = int(g["day"]) if g.get("day") else 1
        hour = int(g["hour"]) if g.get("hour") else 0
        if g.get("hour12"):
            hour = int(g["hour12"]) % 12
            if (g.get("ampm") or "").lower() == "pm":
                hour += 12
        minute = int(g["minute"]) if g.get("minute") else 0
        second = int(g["second"]) if g.get("second") else 0
        frac = g.get("frac") or g.get("frac2") or ""
        micro = int((frac[1:] + "000000")[:6]) if frac else 0
        tz: tzinfo = loc or UTC
        if g.get("offset"):
            off = g["offset"]
            if off == "Z":
                tz = UTC
            else:
                digits = off[1:].replace(":", "")
                secs = int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60 + int(digits[4:6] or 0)
                tz = timezone(timedelta(seconds=-secs if off[0] == "-" else secs))
        elif g.get("tzname"):
            name = g["tzname"]
            if name[0] in "+-":
                digits = name[1:]
                secs = int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60
                tz = timezone(timedelta(seconds=-secs if name[0] == "-" else secs))
            elif name in ("UTC", "GMT"):
                tz = UTC
            else:
                tz = timezone(timedelta(0), name)
        dt = datetime(max(year, 1), month, day, hour, minute, second, micro, tzinfo=tz)
        if g.get("yday") and not g.get("month") and not g.get("day"):
            dt = dt.replace(month=1, day=1) + timedelta(days=int(g["yday"]) - 1)
    except (ValueError, OverflowError) as err:
        raise TimeError(f'parsing time "{value}" as "{layout}": {err}') from None
    return TimeValue(dt)


DEFAULT_LAYOUTS = (
    "2006-01-02",
    "15:04:05",
    "2006-01-02 15:04:05",
    "2006-01-02T15:04:05Z07:00",  # RFC3339
    "02 Jan 06 15:04 MST",  # RFC822
    "Monday, 02-Jan-06 15:04:05 MST",  # RFC850
    "Mon, 02 Jan 2006 15:04:05 MST",  # RFC1123
)

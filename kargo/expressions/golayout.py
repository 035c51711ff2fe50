"""Go's reference-time layouts ("2006-01-02T15:04:05Z07:00") for formatting and parsing.

`format_time` is Go's Time.Format and `parse_datetime` its time.Parse, over Python datetimes;
`kargo.expressions.gotime` wraps them in the time values expressions see.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo


class TimeError(ValueError):
    """A time value could not be parsed or built."""


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


def parse_datetime(layout: str, value: str, loc: tzinfo | None = None) -> datetime:
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
    return dt


DEFAULT_LAYOUTS = (
    "2006-01-02",
    "15:04:05",
    "2006-01-02 15:04:05",
    "2006-01-02T15:04:05Z07:00",  # RFC3339
    "02 Jan 06 15:04 MST",  # RFC822
    "Monday, 02-Jan-06 15:04:05 MST",  # RFC850
    "Mon, 02 Jan 2006 15:04:05 MST",  # RFC1123
)

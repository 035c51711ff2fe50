"""Semantic versions and version constraints with the exact semantics of Masterminds/semver v3.

Kargo validates and applies Warehouse constraints (`image.constraint`, `git.semverConstraint`,
`chart.semverConstraint`) with the Go library Masterminds/semver v3 (3.4). Its syntax is neither
npm's nor PEP 440's, and no maintained PyPI library reproduces it (`semver` has no `||`, no
hyphen ranges, no `x` ranges and different prerelease rules), so this module ports the library:

- `parse_version(s)` is `NewVersion` (loose: "1", "1.2", "v1.2.3", "1.2-beta"); with
  `strict=True` it also requires `major.minor.patch` (`StrictNewVersion` after trimming one
  leading "v", as Kargo does for `strictSemvers`).
- `Version` orders by semver 2.0 precedence (build metadata ignored).
- `parse_constraint(s)` is `NewConstraint`: `^ ~ ~> = != > < >= => <= =<`, x/X/* wildcards,
  hyphen ranges (`1.2 - 3`), AND by comma or space, OR by `||`.
- Prereleases: an AND group admits prerelease versions only when one of its constraints names a
  prerelease (`>=1.2.0-0`), as in Masterminds v3.4 (`Constraints.IncludePrerelease` false).

The empty constraint accepts every version, prereleases included: Kargo skips the check when no
constraint is set. Parse errors raise `ValueError` with a message that says what is wrong.

Neighbours: `kargo.api` validation uses `parse_constraint` on Warehouse specs; `kargo.discovery`
sorts and filters tags and chart versions with it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace

__all__ = [
    "Constraint",
    "Version",
    "compare_prerelease",
    "parse_constraint",
    "parse_version",
]

_MAX_UINT64 = 2**64 - 1

_SEMVER_RE = re.compile(
    r"v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?"
    r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
    r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?",
    re.ASCII,
)

_CV = (
    r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?"
    r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
    r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
)
_OPS = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^"

_CONSTRAINT_RE = re.compile(rf"\s*({_OPS})\s*({_CV})\s*", re.ASCII)
_RANGE_RE = re.compile(rf"\s*({_CV})\s+-\s+({_CV})\s*", re.ASCII)
_FIND_RE = re.compile(rf"({_OPS})\s*({_CV})", re.ASCII)
_VALID_RE = re.compile(
    rf"(\s*({_OPS})\s*({_CV})\s*)((?:\s+|,\s*)({_OPS})\s*({_CV})\s*)*",
    re.ASCII,
)

_ALLOWED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789")


def _is_num(s: str) -> bool:
    return s != "" and s.isascii() and s.isdigit()


def _parse_uint(s: str, what: str, original: str) -> int:
    value = int(s)
    if value > _MAX_UINT64:
        raise ValueError(f"invalid semantic version {original!r}: {what} {s} is out of range")
    return value


def _validate_prerelease(pre: str, original: str) -> None:
    for part in pre.split("."):
        if _is_num(part):
            if len(part) > 1 and part[0] == "0":
                raise ValueError(
                    f"invalid semantic version {original!r}: prerelease part {part!r} "
                    "starts with 0"
                )
        elif part == "" or not set(part) <= _ALLOWED:
            raise ValueError(
                f"invalid semantic version {original!r}: prerelease {pre!r} may hold only "
                "dot-separated [0-9A-Za-z-] identifiers"
            )


def _validate_metadata(meta: str, original: str) -> None:
    for part in meta.split("."):
        if part == "" or not set(part) <= _ALLOWED:
            raise ValueError(
                f"invalid semantic version {original!r}: build metadata {meta!r} may hold only "
                "dot-separated [0-9A-Za-z-] identifiers"
            )


def _compare_pre_part(s: str, o: str) -> int:
    if s == o:
        return 0
    if s == "":
        return -1
    if o == "":
        return 1
    s_num = _is_num(s) and int(s) <= _MAX_UINT64
    o_num = _is_num(o) and int(o) <= _MAX_UINT64
    if not s_num and not o_num:
        return 1 if s > o else -1
    if not o_num:  # s is a number, o a string: numbers sort first
        return -1
    if not s_num:
        return 1
    return 1 if int(s) > int(o) else -1


def compare_prerelease(a: str, b: str) -> int:
    """Compare two prerelease strings part by part (-1, 0, 1), as semver 2.0 §11 says."""
    a_parts = a.split(".")
    b_parts = b.split(".")
    for i in range(max(len(a_parts), len(b_parts))):
        d = _compare_pre_part(
            a_parts[i] if i < len(a_parts) else "",
            b_parts[i] if i < len(b_parts) else "",
        )
        if d:
            return d
    return 0


@functools.total_ordering
@dataclass(frozen=True, eq=False)
class Version:
    """A parsed version. Ordering and equality follow semver precedence (metadata ignored);
    `original` keeps the text as written (a tag, a chart version)."""

    major: int
    minor: int
    patch: int
    prerelease: str = ""
    metadata: str = ""
    original: str = ""

    def compare(self, other: Version) -> int:
        """-1, 0 or 1 by semver 2.0 precedence; a prerelease sorts before its release."""
        for a, b in (
            (self.major, other.major),
            (self.minor, other.minor),
            (self.patch, other.patch),
        ):
            if a != b:
                return -1 if a < b else 1
        if self.prerelease == other.prerelease == "":
            return 0
        if self.prerelease == "":
            return 1
        if other.prerelease == "":
            return -1
        return compare_prerelease(self.prerelease, other.prerelease)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.compare(other) == 0

    def __lt__(self, other: Version) -> bool:
        return self.compare(other) < 0

    def __hash__(self) -> int:
        pre = tuple(self.prerelease.split(".")) if self.prerelease else ()
        return hash((self.major, self.minor, self.patch, pre))

    def __str__(self) -> str:
        out = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            out += f"-{self.prerelease}"
        if self.metadata:
            out += f"+{self.metadata}"
        return out

    def _with_original(self, nxt: Version) -> Version:
        prefix = "v" if self.original.startswith("v") else ""
        return replace(nxt, original=prefix + str(nxt))

    def inc_patch(self) -> Version:
        """The next patch version; a prerelease is released instead (1.2.3-beta -> 1.2.3)."""
        if self.prerelease:
            nxt = replace(self, prerelease="", metadata="")
        else:
            nxt = replace(self, prerelease="", metadata="", patch=self.patch + 1)
        return self._with_original(nxt)

    def inc_minor(self) -> Version:
        """The next minor version (patch reset, prerelease and metadata dropped)."""
        nxt = replace(self, prerelease="", metadata="", patch=0, minor=self.minor + 1)
        return self._with_original(nxt)

    def inc_major(self) -> Version:
        """The next major version (minor and patch reset, prerelease and metadata dropped)."""
        nxt = replace(self, prerelease="", metadata="", patch=0, minor=0, major=self.major + 1)
        return self._with_original(nxt)


def _strict_check(s: str) -> None:
    """Masterminds StrictNewVersion's rules: exactly major.minor.patch, no leading zeros."""
    parts = s.split(".", 2)
    if len(parts) != 3:
        raise ValueError(
            f"invalid semantic version {s!r}: strict versions need major.minor.patch "
            "(e.g. 1.2.3)"
        )
    rest = parts[2]
    if "+" in rest:
        rest = rest.split("+", 1)[0]
    if "-" in rest:
        rest = rest.split("-", 1)[0]
    for p in (parts[0], parts[1], rest):
        if not _is_num(p):
            raise ValueError(
                f"invalid semantic version {s!r}: major, minor and patch must be numbers"
            )
        if len(p) > 1 and p[0] == "0":
            raise ValueError(f"invalid semantic version {s!r}: segment {p!r} starts with 0")


def parse_version(s: str, strict: bool = False) -> Version:
    """Parse `s` as Masterminds NewVersion does; with `strict`, also require major.minor.patch
    (one leading "v" allowed). Raises ValueError."""
    if s == "":
        raise ValueError("invalid semantic version '': the version is empty")
    m = _SEMVER_RE.fullmatch(s)
    if m is None:
        raise ValueError(
            f"invalid semantic version {s!r}: expected [v]MAJOR[.MINOR[.PATCH]][-PRERELEASE]"
            "[+METADATA], e.g. 1.2.3"
        )
    if strict:
        _strict_check(s[1:] if s.startswith("v") else s)
    pre = m.group(5) or ""
    meta = m.group(8) or ""
    major = _parse_uint(m.group(1), "major", s)
    minor = _parse_uint(m.group(2)[1:], "minor", s) if m.group(2) else 0
    patch = _parse_uint(m.group(3)[1:], "patch", s) if m.group(3) else 0
    if pre:
        _validate_prerelease(pre, s)
    if meta:
        _validate_metadata(meta, s)
    return Version(major, minor, patch, pre, meta, s)


def _is_x(s: str) -> bool:
    return s in ("x", "X", "*")


@dataclass(frozen=True)
class _Single:
    """One comparison, e.g. `>=1.2` (Masterminds' `constraint`)."""

    op: str
    con: Version
    orig: str
    dirty: bool
    minor_dirty: bool
    patch_dirty: bool

    def check(self, v: Version, include_pre: bool) -> bool:
        if v.prerelease and not include_pre:
            return False
        return _OPS_FUNCS[self.op](v, self)

    def __str__(self) -> str:
        return self.op + self.orig


def _not_equal(v: Version, c: _Single) -> bool:
    if c.dirty:
        if c.con.major != v.major:
            return True
        if c.con.minor != v.minor and not c.minor_dirty:
            return True
        if c.minor_dirty:
            return False
        if c.con.patch != v.patch and not c.patch_dirty:
            return True
        if c.patch_dirty:
            if v.prerelease or c.con.prerelease:
                return compare_prerelease(v.prerelease, c.con.prerelease) != 0
            return False
    return v.compare(c.con) != 0


def _greater_than(v: Version, c: _Single) -> bool:
    if not c.dirty:
        return v.compare(c.con) == 1
    if v.major > c.con.major:
        return True
    if v.major < c.con.major:
        return False
    if c.minor_dirty:
        return False
    if c.patch_dirty:
        return v.minor > c.con.minor
    return v.compare(c.con) == 1


def _less_than(v: Version, c: _Single) -> bool:
    return v.compare(c.con) < 0


def _greater_equal(v: Version, c: _Single) -> bool:
    return v.compare(c.con) >= 0


def _less_equal(v: Version, c: _Single) -> bool:
    if not c.dirty:
        return v.compare(c.con) <= 0
    if v.major > c.con.major:
        return False
    return not (v.major == c.con.major and v.minor > c.con.minor and not c.minor_dirty)


def _tilde(v: Version, c: _Single) -> bool:
    if v.compare(c.con) < 0:
        return False
    con = c.con
    if con.major == con.minor == con.patch == 0 and not c.minor_dirty and not c.patch_dirty:
        return True  # ~0.0.0 (and ~*) accepts everything, like >=0.0.0
    if v.major != con.major:
        return False
    return not (v.minor != con.minor and not c.minor_dirty)


def _tilde_or_equal(v: Version, c: _Single) -> bool:
    if c.dirty:
        return _tilde(v, c)
    return v.compare(c.con) == 0


def _caret(v: Version, c: _Single) -> bool:
    if v.compare(c.con) < 0:
        return False
    con = c.con
    if con.major > 0 or c.minor_dirty:
        return v.major == con.major
    if v.major > 0:
        return False
    if con.minor > 0 or c.patch_dirty:
        return v.minor == con.minor
    if v.minor > 0:
        return False
    return v.patch == con.patch


_OPS_FUNCS = {
    "": _tilde_or_equal,
    "=": _tilde_or_equal,
    "!=": _not_equal,
    ">": _greater_than,
    "<": _less_than,
    ">=": _greater_equal,
    "=>": _greater_equal,
    "<=": _less_equal,
    "=<": _less_equal,
    "~": _tilde,
    "~>": _tilde,
    "^": _caret,
}


def _parse_single(text: str, whole: str) -> _Single:
    m = _CONSTRAINT_RE.fullmatch(text)
    if m is None:
        raise ValueError(f"invalid semver constraint {whole!r}: improper constraint {text!r}")
    op, orig = m.group(1), m.group(2)
    major, minor, patch, pre = m.group(3), m.group(4) or "", m.group(5) or "", m.group(6) or ""
    ver = orig
    dirty = minor_dirty = patch_dirty = False
    if _is_x(major) or major == "":
        ver, dirty = "0.0.0" + pre, True
    elif _is_x(minor.removeprefix(".")) or minor == "":
        ver, dirty, minor_dirty = f"{major}.0.0{pre}", True, True
    elif _is_x(patch.removeprefix(".")) or patch == "":
        ver, dirty, patch_dirty = f"{major}{minor}.0{pre}", True, True
    try:
        con = parse_version(ver)
    except ValueError as err:
        raise ValueError(
            f"invalid semver constraint {whole!r}: {orig!r} is not a version or a wildcard "
            "range like 1.2.x"
        ) from err
    return _Single(op, con, orig, dirty, minor_dirty, patch_dirty)


def _rewrite_ranges(s: str) -> str:
    out = s
    for m in _RANGE_RE.finditer(s):
        out = out.replace(m.group(0), f">= {m.group(1)}, <= {m.group(11)} ", 1)
    return out


@dataclass(frozen=True)
class Constraint:
    """A parsed constraint: OR of AND groups. Use `check(version)`."""

    groups: tuple[tuple[_Single, ...], ...]
    text: str

    def check(self, v: Version) -> bool:
        """True when `v` satisfies the constraint (Masterminds `Constraints.Check`)."""
        if not self.groups:
            return True
        for group in self.groups:
            include_pre = any(c.con.prerelease for c in group)
            if all(c.check(v, include_pre) for c in group):
                return True
        return False

    def __str__(self) -> str:
        return " || ".join(" ".join(str(c) for c in g) for g in self.groups)


def parse_constraint(s: str) -> Constraint:
    """Parse a Masterminds constraint (`^1.2`, `>=1.0 <2 || 3.x`, `1.2 - 1.4`, ...).

    The empty string accepts every version. Raises ValueError naming the bad part."""
    if s.strip() == "":
        return Constraint((), s)
    rewritten = _rewrite_ranges(s)
    groups: list[tuple[_Single, ...]] = []
    for part in rewritten.split("||"):
        if not _VALID_RE.fullmatch(part):
            raise ValueError(
                f"invalid semver constraint {s!r}: improper constraint {part.strip()!r}; "
                "use comparisons such as '>=1.2.0 <2.0.0', '^1.2', '~1.2.3', '1.x' or "
                "'1.0 - 2.0', joined by ',' or ' ' (and) and '||' (or)"
            )
        pieces = [m.group(0) for m in _FIND_RE.finditer(part)] or [part]
        groups.append(tuple(_parse_single(p, s) for p in pieces))
    return Constraint(tuple(groups), s)

"""Where Kargo's use of semver differs from the bare library, and our error messages."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from kargo.api import semver


def test_empty_constraint_accepts_every_version_including_prereleases():
    c = semver.parse_constraint("")
    assert c.check(semver.parse_version("1.2.3"))
    assert c.check(semver.parse_version("1.2.3-rc.1"))


def test_prerelease_in_one_and_group_admits_prereleases_for_the_whole_group():
    # Masterminds v3.4: the group >=1.0.0-0 <2.0.0 names a prerelease, so 1.5.0-beta matches
    c = semver.parse_constraint(">=1.0.0-0 <2.0.0")
    assert c.check(semver.parse_version("1.5.0-beta"))
    # ...but another OR group without a prerelease still rejects them
    c = semver.parse_constraint(">=1.0.0-0 <1.1.0 || >=2.0.0")
    assert not c.check(semver.parse_version("2.1.0-beta"))


def test_invalid_constraint_message_says_what_and_how_to_fix():
    with pytest.raises(ValueError) as info:
        semver.parse_constraint(">= banana")
    msg = str(info.value)
    assert "'>= banana'" in msg
    assert "e.g." in msg or "use comparisons" in msg


def test_versions_sort_by_precedence():
    tags = ["1.0.0", "1.0.0-rc.1", "0.9.0", "1.10.0", "1.2.0"]
    ordered = sorted((semver.parse_version(t) for t in tags), reverse=True)
    assert [v.original for v in ordered] == ["1.10.0", "1.2.0", "1.0.0", "1.0.0-rc.1", "0.9.0"]


def test_equal_versions_hash_alike_regardless_of_metadata():
    a = semver.parse_version("1.2.3+a")
    b = semver.parse_version("v1.2.3+b")
    assert a == b
    assert hash(a) == hash(b)


def test_huge_segments_are_rejected_with_a_message():
    with pytest.raises(ValueError, match="out of range"):
        semver.parse_version("18446744073709551616.0.0")


_ident = st.one_of(
    st.integers(min_value=0, max_value=10**6).map(str),
    st.from_regex(r"[A-Za-z-][0-9A-Za-z-]{0,5}", fullmatch=True),
)
_versions = st.builds(
    lambda a, b, c, pre: f"{a}.{b}.{c}" + (f"-{'.'.join(pre)}" if pre else ""),
    st.integers(0, 50),
    st.integers(0, 50),
    st.integers(0, 50),
    st.lists(_ident, max_size=3),
)


def _spec_key(text: str):
    """Precedence per semver.org §11, written independently of the parser."""
    core, _, pre = text.partition("-")
    nums = tuple(int(x) for x in core.split("."))
    if not pre:
        return (nums, 1, ())
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (nums, 0, parts)


@given(_versions, _versions)
def test_precedence_agrees_with_the_semver_spec(a, b):
    va, vb = semver.parse_version(a, strict=True), semver.parse_version(b, strict=True)
    ka, kb = _spec_key(a), _spec_key(b)
    assert (va < vb) == (ka < kb)
    assert (va == vb) == (ka == kb)
    assert str(va) == a

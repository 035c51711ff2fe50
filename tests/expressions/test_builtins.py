"""Each expr-lang builtin, with the types expr returns."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kargo.clock import ManualClock
from kargo.errors import ExpressionError
from kargo.expressions import lang

CLOCK = ManualClock(datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC))
ENV = {"xs": [3, 1, 2], "words": ["b", "a", "c"], "m": {"a": 1, "b": 2}}


def run(source: str):
    return lang.compile(source).run(ENV, clock=CLOCK)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("len('héllo')", 5),
        ("len(xs)", 3),
        ("len(m)", 2),
        ("type(1)", "int"),
        ("type(1.0)", "float"),
        ("type('a')", "string"),
        ("type(nil)", "nil"),
        ("type([])", "array"),
        ("type({})", "map"),
        ("upper('abc')", "ABC"),
        ("lower('ABC')", "abc"),
        ("trim('  a  ')", "a"),
        ("trim('xxaxx', 'x')", "a"),
        ("trimPrefix('v1.2', 'v')", "1.2"),
        ("trimPrefix(' a')", "a"),
        ("trimSuffix('a.yaml', '.yaml')", "a"),
        ("split('a,b,c', ',')", ["a", "b", "c"]),
        ("split('a,b,c', ',', 2)", ["a", "b,c"]),
        ("split('abc', '')", ["a", "b", "c"]),
        ("splitAfter('a,b', ',')", ["a,", "b"]),
        ("replace('aaa', 'a', 'b')", "bbb"),
        ("replace('aaa', 'a', 'b', 2)", "bba"),
        ("repeat('ab', 3)", "ababab"),
        ("join(words, '-')", "b-a-c"),
        ("join(['a', 'b'])", "ab"),
        ("indexOf('hello', 'l')", 2),
        ("indexOf('hello', 'z')", -1),
        ("lastIndexOf('hello', 'l')", 3),
        ("hasPrefix('hello', 'he')", True),
        ("hasSuffix('hello', 'lo')", True),
        ("first(xs)", 3),
        ("last(xs)", 2),
        ("first([])", None),
        ("get(m, 'a')", 1),
        ("get(m, 'zz')", None),
        ("get(xs, 10)", None),
        ("take(xs, 2)", [3, 1]),
        ("keys({'a': 1})", ["a"]),
        ("values({'a': 1})", [1]),
        ("toPairs({'a': 1})", [["a", 1]]),
        ("fromPairs([['a', 1]])", {"a": 1}),
        ("toJSON({'b': [1, 2.5], 'a': nil})", '{\n  "a": null,\n  "b": [\n    1,\n    2.5\n  ]\n}'),
        ("toJSON('<&>')", '"\\u003c\\u0026\\u003e"'),
        ("fromJSON('{\"a\": [1, true]}')", {"a": [1, True]}),
        ("toBase64('hi')", "aGk="),
        ("fromBase64('aGk=')", "hi"),
        ("int('42')", 42),
        ("int(3.9)", 3),
        ("int(-3.9)", -3),
        ("float('1.5')", 1.5),
        ("float(2)", 2.0),
        ("string(42)", "42"),
        ("string(1.5)", "1.5"),
        ("string(3.0)", "3"),
        ("string(1e6)", "1e+06"),
        ("string(nil)", "<nil>"),
        ("string([1, 'a'])", "[1 a]"),
        ("string({'b': 1, 'a': 2})", "map[a:2 b:1]"),
        ("string(true)", "true"),
        ("abs(-3)", 3),
        ("abs(-1.5)", 1.5),
        ("ceil(1.2)", 2.0),
        ("floor(1.8)", 1.0),
        ("round(2.5)", 3.0),
        ("round(-2.5)", -3.0),
        ("round(2.4)", 2.0),
        ("max(1, 5, 3)", 5),
        ("max(xs)", 3),
        ("min(2.5, 1)", 1),
        ("min(xs)", 1),
        ("mean([1, 2, 3, 4])", 2.5),
        ("mean([])", 0.0),
        ("median([3, 1, 2])", 2.0),
        ("median([4, 1, 2, 3])", 2.5),
        ("sum(xs)", 6),
        ("sum([1, 2.5])", 3.5),
        ("sum(xs, # * 2)", 12),
        ("sort(xs)", [1, 2, 3]),
        ("sort(xs, 'desc')", [3, 2, 1]),
        ("sort(words)", ["a", "b", "c"]),
        ("sortBy([{'n': 2}, {'n': 1}], .n)", [{"n": 1}, {"n": 2}]),
        ("sortBy([{'n': 2}, {'n': 1}], .n, 'desc')", [{"n": 2}, {"n": 1}]),
        ("reverse(xs)", [2, 1, 3]),
        ("uniq([1, 2, 1, 1.0, 'a', 'a'])", [1, 2, "a"]),
        ("concat([1], [2, 3], [])", [1, 2, 3]),
        ("flatten([1, [2, [3]], []])", [1, 2, 3]),
        ("groupBy([1, 2, 3, 4], # % 2 == 0)", {False: [1, 3], True: [2, 4]}),
        ("all(xs, # > 0)", True),
        ("all([], # > 0)", True),
        ("any(xs, # > 2)", True),
        ("none(xs, # > 5)", True),
        ("one(xs, # == 1)", True),
        ("one(xs, # > 1)", False),
        ("filter(xs, # != 1)", [3, 2]),
        ("map(xs, string(#))", ["3", "1", "2"]),
        ("count(xs, # > 1)", 2),
        ("count([true, false, true])", 2),
        ("find(xs, # < 3)", 1),
        ("find(xs, # > 10)", None),
        ("findIndex(xs, # == 2)", 2),
        ("findLast(xs, # > 1)", 2),
        ("findLastIndex(xs, # > 1)", 2),
        ("findIndex(xs, # > 10)", None),
        ("findLastIndex(xs, # > 10)", None),
        ("reduce(['a', 'b'], #acc + #)", "ab"),
        ("bitand(12, 10)", 8),
        ("bitor(12, 10)", 14),
        ("bitxor(12, 10)", 6),
        ("bitnot(0)", -1),
        ("bitshl(1, 4)", 16),
        ("bitshr(16, 2)", 4),
        ("bitnand(12, 10)", 4),
        # time
        ("now().Year()", 2026),
        ("now().Month()", 3),
        ("now().Day()", 4),
        ("now().Hour()", 5),
        ("now().Unix()", 1772600767),
        ("now().Format('2006-01-02 15:04:05')", "2026-03-04 05:06:07"),
        ("now().Format('Mon Jan _2 3:04PM')", "Wed Mar  4 5:06AM"),
        ("date('2024-01-02').Year()", 2024),
        ("date('2024-01-02T03:04:05Z').Hour()", 3),
        ("date('2024-01-02T03:04:05.5+02:00').UTC().Hour()", 1),
        ("date('02/01/2024', '02/01/2006').Month()", 1),
        ("date('2024-06-01 12:00', '2006-01-02 15:04', 'Europe/Paris').UTC().Hour()", 10),
        ("date('2024-01-02') < date('2024-01-03')", True),
        ("date('2024-01-02').Before(date('2024-01-03'))", True),
        ("(date('2024-01-03') - date('2024-01-02')).Hours()", 24.0),
        ("now() - duration('1h') < now()", True),
        ("now().Add(duration('90m')).Hour()", 6),
        ("now().AddDate(0, 1, 0).Month()", 4),
        ("now().Sub(date('2026-03-04')).String()", "5h6m7s"),
        ("duration('1h30m').Minutes()", 90.0),
        ("duration('1.5s').String()", "1.5s"),
        ("duration('250ms').Milliseconds()", 250),
        ("duration('1h') > duration('59m')", True),
        ("(duration('1h') * 2).String()", "2h0m0s"),
        ("now(timezone('Asia/Tokyo')).Hour()", 14),
        ("date('2024-01-02').Format('January 2, 2006')", "January 2, 2024"),
    ],
)
def test_builtin(source, expected):
    result = run(source)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    "source",
    [
        "upper(1)",
        "split('a')",
        "int('x')",
        "int('1_0')",
        "float('abc')",
        "repeat('a', -1)",
        "join([1, 2])",
        "fromJSON('{')",
        "fromBase64('!!')",
        "duration('5 parsecs')",
        "date('not a date')",
        "timezone('Mars/Olympus')",
        "sort([1, 'a'])",
        "filter(1, # > 0)",
        "all(xs, #)",
        "reduce([], #acc + #)",
        "max()",
        "sortBy(xs, #, 'sideways')",
        "now().Nope()",
    ],
)
def test_builtin_misuse_is_an_expression_error(source):
    with pytest.raises(ExpressionError):
        run(source)


FRACTION_CLOCK = ManualClock(datetime(2026, 3, 4, 5, 6, 7, 123450, tzinfo=UTC))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("now().Format('2006-01-02T15:04:05.000Z07:00')", "2026-03-04T05:06:07.123Z"),
        ("now().Format('15:04:05.999999999')", "05:06:07.12345"),
        ("now().String()", "2026-03-04 05:06:07.12345 +0000 UTC"),
        ("now().Weekday()", 3),
        ("now().YearDay()", 63),
        ("now().In(timezone('Europe/Paris')).Format('15:04 MST -07:00')", "06:06 CET +01:00"),
        ("now().Truncate(duration('1h')).Format('15:04')", "05:00"),
        ("date('Mon, 02 Jan 2006 15:04:05 MST').Hour()", 15),
        ("date('02 Jan 06 15:04 UTC').Year()", 2006),
        ("date('15:04:05').Hour()", 15),
        ("duration('-1.5h').String()", "-1h30m0s"),
        ("duration('1us').String()", "1µs"),
        ("duration('1500us').String()", "1.5ms"),
        ("duration('0').String()", "0s"),
    ],
)
def test_go_time_formatting(source, expected):
    assert lang.compile(source).run({}, clock=FRACTION_CLOCK) == expected

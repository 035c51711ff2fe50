"""Syntax, precedence and typing of the expr-lang language, and located errors."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from kargo.clock import ManualClock
from kargo.errors import ExpressionError
from kargo.expressions import lang
from kargo.expressions.errors import LocatedExpressionError

ENV = {
    "n": 3,
    "f": 1.5,
    "s": "hello",
    "xs": [1, 2, 3],
    "m": {"a": 1, "b": {"c": "deep"}},
    "users": [{"name": "ann", "age": 30}, {"name": "bob", "age": 17}],
    "nothing": None,
}


def run(source: str, env: dict | None = None):
    return lang.compile(source).run(ENV if env is None else env, clock=ManualClock())


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # literals
        ("42", 42),
        ("1_000", 1000),
        ("0x1F", 31),
        ("0o17", 15),
        ("0b101", 5),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        (".5", 0.5),
        ("'single'", "single"),
        ('"dq\\n"', "dq\n"),
        ('"\\u00e9"', "é"),
        ("`raw\\n`", "raw\\n"),
        ("true", True),
        ("nil", None),
        ("[1, 'a', nil]", [1, "a", None]),
        ("[1, 2,]", [1, 2]),
        ("{a: 1, 'b': 2, 3: 4, (s): 5}", {"a": 1, "b": 2, "3": 4, "hello": 5}),
        # arithmetic typing
        ("1 + 2", 3),
        ("1 + 2.0", 3.0),
        ("7 / 2", 3.5),
        ("6 / 3", 2.0),
        ("7 % 3", 1),
        ("-7 % 3", -1),
        ("2 ** 3", 8.0),
        ("2 ^ 3", 8.0),
        ("'a' + 'b'", "ab"),
        ("9223372036854775807 + 1", -9223372036854775808),
        # precedence
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("2 ** 3 ** 2", 512.0),
        ("-2 ** 2", -4.0),
        ("10 - 2 - 3", 5),
        ("not true == false", True),
        ("true or false and false", True),
        ("1 + 2 == 3 && 2 > 1", True),
        ("1 < 2 < 3", True),
        ("3 > 2 > 1", True),
        ("1 < 3 < 2", False),
        ("1..3", [1, 2, 3]),
        ("3..1", []),
        ("1 + 1..2 + 2", [2, 3, 4]),
        # comparison & equality
        ("1 == 1.0", True),
        ("'a' < 'b'", True),
        ("[1, 2] == [1, 2]", True),
        ("{a: 1} == {a: 1}", True),
        ("1 == true", False),
        ("nil == nil", True),
        ("1 != nil", True),
        # membership & strings
        ("2 in xs", True),
        ("5 not in xs", True),
        ("'a' in m", True),
        ("'z' in m", False),
        ("s contains 'ell'", True),
        ("s startsWith 'he'", True),
        ("s endsWith 'lo'", True),
        ("s not startsWith 'x'", True),
        ("s matches '^h.*o$'", True),
        ("s not matches '[0-9]'", True),
        # member access
        ("m.a", 1),
        ("m['b'].c", "deep"),
        ("m.missing", None),
        ("xs[0]", 1),
        ("xs[-1]", 3),
        ("xs[1:]", [2, 3]),
        ("xs[:2]", [1, 2]),
        ("xs[-2:]", [2, 3]),
        ("xs[5:9]", []),
        ("s[1:3]", "el"),
        ("s[0]", "h"),
        ("users[1].name", "bob"),
        ("unknownName", None),
        ("$env['n']", 3),
        ("'s' in $env", True),
        ("'zz' in $env", False),
        # optional chaining & coalescing
        ("nothing?.a", None),
        ("nothing?.a.b.c", None),
        ("nothing?.[0]", None),
        ("m?.b?.c", "deep"),
        ("nothing ?? 'default'", "default"),
        ("m.missing ?? 'default'", "default"),
        ("nothing?.a ?? 'x'", "x"),
        ("0 ?? 1", 0),
        # conditionals, let, if
        ("n > 2 ? 'big' : 'small'", "big"),
        ("n > 5 ? 'big' : n > 2 ? 'mid' : 'small'", "mid"),
        ("let x = n * 2; x + 1", 7),
        ("let x = 1; let y = x + 1; y * 10", 20),
        ("if n > 2 { 'yes' } else { 'no' }", "yes"),
        ("if n > 5 { 1 } else if n > 2 { 2 } else { 3 }", 2),
        # pipes and closures
        ("xs | map(# * 2)", [2, 4, 6]),
        ("xs | filter(# > 1) | map(# * 10)", [20, 30]),
        ("s | upper()", "HELLO"),
        ("'a,b' | split(',')", ["a", "b"]),
        ("filter(users, .age >= 18) | map(.name)", ["ann"]),
        ("map(users, {#.name + '!'})", ["ann!", "bob!"]),
        ("map(xs, #index)", [0, 1, 2]),
        ("map([[1, 2], [3]], sum(#))", [3, 3]),
        ("reduce(xs, #acc + #)", 6),
        ("reduce(xs, #acc + #, 10)", 16),
        # comments and whitespace
        ("1 + /* two */ 2 // trailing", 3),
        ("\n  1 +\n  2\n", 3),
    ],
)
def test_expression_evaluates_as_expr_lang_does(source, expected):
    result = run(source)
    assert result == expected
    assert type(result) is type(expected)


def test_float_division_by_zero_gives_infinity_like_go():
    assert run("1 / 0") == math.inf
    assert math.isnan(run("0 / 0"))


@pytest.mark.parametrize(
    ("source", "message", "column"),
    [
        ("1 +", "unexpected end of expression", 4),
        ("(1 + 2", "unexpected end of expression", 7),
        ("1 $ 2", "unexpected token '$'", 3),
        ("a.b.c", "cannot fetch b from nil", 3),
        ("nothing.a", "cannot fetch a from nil", 9),
        ("xs[10]", "index out of range: 10 (array length is 3)", 3),
        ("1 + 'a'", "invalid operation: + (mismatched types int and string)", 3),
        ("5 % 0", "integer divide by zero", 3),
        ("5.0 % 2", "invalid operation: %", 5),
        ("'a' < 1", "invalid operation: <", 5),
        ("n ? 1 : 2", "non-bool expression (type int) used as condition", 3),
        ("1 and true", "invalid operation: and", 3),
        ("not 1", "invalid operation: not", 1),
        ("'x' matches '('", "error parsing regexp", 5),
        ("#", "cannot use pointer accessor outside predicate", 1),
        ("nope(1)", "unknown function nope()", 1),
        ("s.upper()", "type string has no method upper", 3),
        ("len(1)", "invalid argument for len", 1),
        ("'abc", "unrecognized character", 1),
        ("1 ?? 2 + 3", "cannot be mixed", 8),
        ("", "empty expression", 1),
        ("/* open", "unclosed comment", 1),
        ("99999999999999999999", "integer literal is too large", 1),
    ],
)
def test_errors_say_what_and_where(source, message, column):
    with pytest.raises(ExpressionError) as info:
        run(source)
    err = info.value
    assert message in err.message
    assert isinstance(err, LocatedExpressionError)
    assert err.column == column
    assert f"(1:{column})" in err.message
    assert err.message.splitlines()[-1] == " | " + "." * (column - 1) + "^"


def test_error_on_later_line_reports_that_line():
    with pytest.raises(LocatedExpressionError) as info:
        run("1 +\n  nothing.x")
    assert info.value.line == 2
    assert "(2:" in info.value.message


def test_compile_is_cached_by_source():
    assert lang.compile("1 + 41") is lang.compile("1 + 41")


def test_program_is_reusable_with_different_envs():
    program = lang.compile("x * 2")
    assert program.run({"x": 2}) == 4
    assert program.run({"x": 5}) == 10


def test_now_reads_the_injected_clock():
    clock = ManualClock(datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC))
    assert lang.compile("now().Year()").run({}, clock=clock) == 2030
    assert lang.compile("now().Format('2006-01-02T15:04:05Z07:00')").run({}, clock=clock) == (
        "2030-05-06T07:08:09Z"
    )


def test_env_functions_are_called_and_their_errors_are_located():
    def boom(x):
        raise ExpressionError("bad input")

    env = {"double": lambda x: x * 2, "boom": boom}
    assert lang.compile("double(21)").run(env) == 42
    with pytest.raises(LocatedExpressionError) as info:
        lang.compile("1 + boom(1)").run(env)
    assert "boom(): bad input" in info.value.message
    assert info.value.column == 5


def test_function_stored_in_a_map_can_be_called_as_a_method():
    env = {"helpers": {"inc": lambda x: x + 1}}
    assert lang.compile("helpers.inc(1)").run(env) == 2

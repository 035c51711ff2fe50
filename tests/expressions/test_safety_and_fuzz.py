"""Untrusted expressions: no Python internals, bounded work, and only ExpressionError."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from kargo.errors import ExpressionError
from kargo.expressions import lang, templates

ENV = {"s": "abc", "xs": [1, 2, 3], "m": {"a": {"b": 1}}, "f": lambda x: x}


def run(source: str, **kw):
    return lang.compile(source).run(ENV, **kw)


@pytest.mark.parametrize(
    "source",
    [
        "s.__class__",
        "s['__class__']",
        "xs.__len__()",
        "m.__class__.__mro__",
        "s.upper()",
        "'a'.join(xs)",
        "f.__globals__",
        "f.__code__",
        "m.a.keys()",
        "now().dt",
        "now().__class__",
        "now().m_Year()",
        "duration('1h').ns",
        "timezone('UTC').tz",
        "__import__('os')",
        "eval('1')",
        "getattr(s, 'upper')",
    ],
)
def test_no_access_to_python_internals(source):
    try:
        result = run(source)
    except ExpressionError:
        return
    # a missing map key or unknown name is nil, never a Python object
    assert result is None


@pytest.mark.parametrize(
    "source",
    [
        "1..100000000",
        "map(1..1000000, map(1..1000000, #))",
        "repeat('x', 1000000000)",
        "reduce(1..100, #acc + #acc, 'ab')",
        "len(join(map(1..100000, repeat('x', 1000)), ''))",
        "count(1..1000000, true) + count(1..1000000, true) + count(1..1000000, true)",
    ],
)
def test_huge_work_is_bounded(source):
    with pytest.raises(ExpressionError, match="limit|budget"):
        run(source)


def test_step_budget_is_configurable():
    assert run("len(filter(1..1000, # > 0))") == 1000
    with pytest.raises(ExpressionError, match="budget"):
        run("len(filter(1..1000, # > 0))", max_steps=100)


def test_deep_nesting_is_an_expression_error():
    with pytest.raises(ExpressionError, match="nested too deeply"):
        lang.compile("(" * 5000 + "1" + ")" * 5000)
    with pytest.raises(ExpressionError):
        lang.compile("-" * 5000 + "1")


def test_catastrophic_regex_runs_in_linear_time():
    assert run("repeat('a', 5000) + 'b' matches '^(a+)+$'") is False


TOKENS = st.sampled_from(
    [
        "1",
        "2.5",
        "'s'",
        '"x"',
        "nil",
        "true",
        "s",
        "xs",
        "m",
        "f",
        "#",
        "#acc",
        ".a",
        "a",
        "+",
        "-",
        "*",
        "/",
        "%",
        "**",
        "^",
        "==",
        "!=",
        "<",
        ">=",
        "and",
        "or",
        "not",
        "!",
        "in",
        "matches",
        "contains",
        "startsWith",
        "..",
        "??",
        "?.",
        "?",
        ":",
        "|",
        ",",
        ";",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        "let",
        "=",
        "if",
        "else",
        "len",
        "map",
        "filter",
        "reduce",
        "upper",
        "split",
        "toJSON",
        "fromJSON",
        "date",
        "duration",
        "now",
        "sum",
        "sortBy",
        "repeat",
        "int",
        "string",
        "[1:2]",
        "0x1",
        "1e400",
        "`raw`",
    ]
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TOKENS, max_size=14).map(" ".join))
def test_random_token_sequences_only_raise_expression_errors(source):
    try:
        run(source, max_steps=20_000)
    except ExpressionError as err:
        assert "internal error" not in err.message  # noqa: PT017 - the safety net must never fire


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=40))
def test_random_text_only_raises_expression_errors(source):
    try:
        run(source, max_steps=20_000)
    except ExpressionError as err:
        assert "internal error" not in err.message  # noqa: PT017 - the safety net must never fire


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("${%}' ab1\"\n")), max_size=30))
def test_random_templates_only_raise_expression_errors(template):
    try:
        templates.evaluate_template({"k": [template]}, ENV)
    except ExpressionError as err:
        assert "internal error" not in err.message  # noqa: PT017 - the safety net must never fire


# -- grammar-directed fuzzing: well-formed expressions reach deep into evaluation --------------
GRAMMAR_ENV = {
    "s": "abc",
    "xs": [1, 2.5, "a", None, [1], {"k": 1}],
    "m": {"a": {"b": 1}, "n": None},
    "i": 7,
    "f": -0.0,
}
atoms = st.sampled_from(
    [
        "1",
        "0",
        "-1",
        "2.5",
        "1e308",
        "9223372036854775807",
        "'s'",
        "''",
        "nil",
        "true",
        "s",
        "xs",
        "m",
        "i",
        "f",
        "m.a",
        "xs[0]",
        "now()",
        "duration('1h')",
        "date('2024-01-01')",
        "[]",
        "{}",
        "[1,2]",
        "{'a': 1}",
        "0x7fffffffffffffff",
        "'2024-01-02'",
        "'%'",
        "'['",
    ]
)
binops = st.sampled_from(
    [
        "+",
        "-",
        "*",
        "/",
        "%",
        "**",
        "==",
        "!=",
        "<",
        ">=",
        "and",
        "or",
        "in",
        "not in",
        "contains",
        "matches",
        "startsWith",
        "..",
        "??",
    ]
)
funcs1 = st.sampled_from(
    [
        "len",
        "upper",
        "trim",
        "int",
        "float",
        "string",
        "abs",
        "ceil",
        "round",
        "first",
        "last",
        "keys",
        "values",
        "toJSON",
        "fromJSON",
        "toBase64",
        "fromBase64",
        "sort",
        "reverse",
        "uniq",
        "flatten",
        "type",
        "max",
        "min",
        "sum",
        "mean",
        "median",
        "duration",
        "date",
        "toPairs",
        "fromPairs",
        "bitnot",
        "quote",
        "asYAML",
        "asJSON",
        "unsafeQuote",
    ]
)
funcs2 = st.sampled_from(
    [
        "split",
        "join",
        "repeat",
        "indexOf",
        "hasPrefix",
        "get",
        "take",
        "concat",
        "replace",
        "trimPrefix",
        "bitshl",
        "date",
        "max",
        "sort",
    ]
)
preds = st.sampled_from(
    [
        "filter",
        "map",
        "all",
        "any",
        "count",
        "find",
        "findIndex",
        "groupBy",
        "sortBy",
        "reduce",
        "sum",
        "one",
        "none",
    ]
)
methods = st.sampled_from(
    [
        ".Year()",
        ".Format('2006')",
        ".Hours()",
        ".String()",
        ".Add(duration('1s'))",
        ".Sub(now())",
        ".Unix()",
        "?.a",
        ".a",
        "[0]",
        "[1:]",
        "[-1]",
        "?.[0]",
    ]
)


def build(children):
    return st.one_of(
        st.tuples(children, binops, children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(funcs1, children).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(funcs2, children, children).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
        st.tuples(preds, children, children).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
        st.tuples(children, methods).map(lambda t: f"({t[0]}){t[1]}"),
        st.tuples(children, children, children).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]})"),
        children.map(lambda c: f"-({c})"),
        children.map(lambda c: f"not ({c})"),
        st.tuples(children, children).map(lambda t: f"let v = {t[0]}; [v, {t[1]}]"),
        st.tuples(children, children).map(lambda t: f"{{'k': {t[0]}, (s): {t[1]}}}"),
        children.map(lambda c: "#"),
        children.map(lambda c: "#acc + #index"),
    )


exprs = st.recursive(atoms, build, max_leaves=12)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(exprs)
def test_random_well_formed_expressions_only_raise_expression_errors(source):
    try:
        lang.compile(source).run({**GRAMMAR_ENV, **templates.HELPERS}, max_steps=20000)
    except ExpressionError as err:
        assert "internal error" not in err.message, (source, err.message)  # noqa: PT017


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(exprs)
def test_random_well_formed_templates_only_raise_expression_errors(source):
    try:
        templates.evaluate_template(
            ["x${{ " + source + " }}", "${% " + source + " %}"], GRAMMAR_ENV
        )
    except ExpressionError as err:
        assert "internal error" not in err.message, (source, err.message)  # noqa: PT017

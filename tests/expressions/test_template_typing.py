"""`${{ }}` templates and Kargo's result-typing rules (kargo-model §4.3)."""

from __future__ import annotations

import pytest

from kargo.errors import ExpressionError
from kargo.expressions import templates

ENV = {
    "vars": {"name": "api", "replicas": 3, "flag": True, "tags": ["a", "b"], "empty": ""},
    "ctx": {"stage": "prod", "project": "demo"},
}


def ev(value):
    return templates.evaluate_template(value, ENV)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("42", "42"),  # no delimiter: untouched
        ("true", "true"),
        ("${{ 1 }}", 1),
        ("${{ 1.5 }}", 1.5),
        ("${{ 3.0 }}", 3),
        ("${{ '3' }}", 3),
        ("${{ '1e3' }}", 1000),
        ("${{ '0' }}", 0),  # numbers win over bools
        ("${{ 'true' }}", True),
        ("${{ true }}", True),
        ("${{ 'T' }}", True),
        ("${{ 'FALSE' }}", False),
        ("${{ 'yes' }}", "yes"),
        ("${{ nil }}", None),
        ("${{ vars.tags }}", ["a", "b"]),
        ("${{ {'a': 1} }}", {"a": 1}),
        ("${{ '[1, 2.0]' }}", [1, 2]),
        ("${{ vars.name }}", "api"),
        ("${{ vars.replicas }}", 3),
        ("${{ quote(vars.replicas) }}", "3"),
        ("${{ quote(true) }}", "true"),
        ("${{ quote('hello') }}", "hello"),
        ("${{ quote('say \"hi\"') }}", 'say \\"hi\\"'),  # Kargo keeps %q escapes
        ("${{ unsafeQuote('x') }}", '"x"'),
        ("${{ quote(vars.tags) }}", '["a","b"]'),
        ("${{ vars.name }}:${{ vars.replicas }}", "api:3"),
        ("${{ 1 }}${{ 2 }}", 12),
        ("image-${{ vars.name }}", "image-api"),
        ("stage/${{ ctx.stage }}", "stage/prod"),
        ("${% '{{.domain}}' %}", "{{.domain}}"),
        ("${% vars.name %}-${{ ctx.stage }}", "api-prod"),
        ("${{ vars.flag }}\n", True),  # one trailing newline stripped before typing
        ("${{ vars.name }}\n", "api\n"),  # and put back on strings
        ("${{ quote('x') }}\n", "x\n"),
        ("${{ vars.empty }}", ""),
        ("${{ 'a' }} ${{ 'b' }}", "a b"),
        ("${{ ['<'] }}x", '["\\u003c"]x'),  # Go's JSON escapes HTML characters
        ("${{ asJSON({'a': 1}) }}", '{\n  "a": 1\n}\n'),
        ("${{ asYAML({'b': 1, 'a': [1, 2]}) }}", "a:\n    - 1\n    - 2\nb: 1\n"),
        ("${% asYAML({'m': {'k': 'v'}}) %}", "m:\n    k: v\n"),
        ("${{ asYAML({'s': 'line1\\nline2'}) }}", "s: |-\n    line1\n    line2\n"),
        ("${{ asYAML('x') }}", "x\n"),
        ("${{ 'inf' }}", float("inf")),
        ("${{ '0x1p-2' }}", 0.25),  # Go's ParseFloat reads hex floats
        ("${{ '1_000' }}", "1_000"),  # but no underscores without a base prefix
        ("${{ ' 1' }}", 1),  # not a Go float, but valid JSON
        ("${{ '1.' }}", 1),
    ],
)
def test_template_result_typing(template, expected):
    result = ev(template)
    assert result == expected
    assert type(result) is type(expected)


def test_recurses_through_dicts_and_lists_but_never_keys():
    config = {
        "${{ vars.name }}": "${{ vars.replicas }}",
        "list": ["${{ ctx.stage }}", {"deep": "${{ vars.flag }}"}, 7, None],
        "plain": "42",
    }
    assert ev(config) == {
        "${{ vars.name }}": 3,
        "list": ["prod", {"deep": True}, 7, None],
        "plain": "42",
    }


def test_input_is_not_modified():
    config = {"a": ["${{ 1 }}"]}
    ev(config)
    assert config == {"a": ["${{ 1 }}"]}


@pytest.mark.parametrize("template", ["${{ 1 ", "x ${% 1 }}", "${{ 1 }} ${{"])
def test_unclosed_expression_is_an_error(template):
    with pytest.raises(ExpressionError, match="unclosed expression"):
        ev(template)


def test_error_names_the_failing_value_path():
    with pytest.raises(ExpressionError) as info:
        templates.evaluate_template({"a": [{"b": "${{ nope.x }}"}]}, ENV, path="config")
    assert info.value.message.startswith("config.a[0].b: cannot fetch x from nil (1:7)")


@pytest.mark.parametrize("key", ["quote", "asYAML", "asJSON"])
def test_env_may_not_shadow_helpers(key):
    with pytest.raises(ExpressionError, match=f'"{key}" is a forbidden key'):
        templates.validate_env({key: 1})
    with pytest.raises(ExpressionError):
        templates.evaluate_template("${{ 1 }}", {key: 1})


def test_contains_expression():
    assert templates.contains_expression("a ${{ b }}")
    assert templates.contains_expression("${% b %}")
    assert not templates.contains_expression("{{ b }}")


def test_non_json_result_is_an_error():
    with pytest.raises(ExpressionError, match="unsupported value"):
        ev("${{ 0 / 0 }}x")
